"""``bianxie config test``: each step of the connection on its own line, the failing step named."""

from __future__ import annotations

import socket

from tests.fakeapi import FakeServer
from tests.test_client import KEY, assert_plain, run_cli


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_config_test_walks_every_step_and_lists_the_models(home, capsys, monkeypatch):
    with FakeServer(key=KEY) as fake:
        monkeypatch.setenv("BIANXIE_BASE_URL", fake.base_url)
        code, out, err = run_cli(["config", "test"], capsys)
    assert code == 0, err
    labels = [line.split(":")[0] for line in out.splitlines()]
    assert labels[:2] == ["DNS", "TCP"] and "HTTP" in labels
    assert "gpt-image-1" in out.splitlines()[-1]
    assert KEY not in out + err


def test_config_test_names_the_step_that_fails(home, capsys, monkeypatch):
    monkeypatch.setenv("BIANXIE_BASE_URL", f"http://127.0.0.1:{_closed_port()}/v1")
    code, out, err = run_cli(["config", "test"], capsys)
    assert code == 1
    assert out.splitlines()[-1].startswith("TCP:")
    assert_plain(err.replace("error: ", "", 1))
    assert "HTTP:" not in out


def test_config_test_speaks_chinese(home, capsys, monkeypatch):
    monkeypatch.setenv("LANGUAGE", "zh_CN")
    monkeypatch.setenv("BIANXIE_BASE_URL", f"http://127.0.0.1:{_closed_port()}/v1")
    code, out, err = run_cli(["config", "test"], capsys)
    assert code == 1
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err), err
