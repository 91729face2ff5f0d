"""``bianxie`` under a Chinese locale: argparse's own texts translated, and sentences joined
with Chinese punctuation."""

from __future__ import annotations

import argparse
import errno
import gettext
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bianxie_core import cli, cli_parser, errors, i18n
from tests.test_client import assert_plain, run_cli  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u4e00-\u9fff]")
ARGPARSE_ENGLISH = ("usage:", "options:", "positional arguments", "show this help message",
                    "the following arguments are required", "invalid int value",
                    "invalid choice", "argument --", "unrecognized arguments", "error:")


@pytest.fixture
def zh(home, monkeypatch):
    """A Chinese locale the way a user sets it: LANG only."""
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    i18n._cache.clear()
    yield
    i18n._cache.clear()


@pytest.mark.parametrize("var", ["LANG", "LC_ALL"])
def test_help_is_chinese(var, tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    env.update({var: "zh_CN.UTF-8", "BIANXIE_HOME": str(tmp_path)})
    for argv in (["--help"], ["inpaint", "--help"]):
        done = subprocess.run([sys.executable, "-m", "bianxie_core", *argv], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        for english in ARGPARSE_ENGLISH[:4]:
            assert english not in done.stdout, (english, done.stdout)
        assert CJK.search(done.stdout.splitlines()[0])  # "usage:" itself


@pytest.mark.parametrize("argv", [
    ["generate"],
    ["cost", "-n", "many"],
    ["config", "frob"],
    ["models", "--bogus"],
    ["generate", "-p", "x", "-o", "o.png", "--timeout", "-5"],
    ["nonsense"],
], ids=["required", "int", "choice", "unrecognized", "timeout", "command"])
def test_argparse_errors_are_chinese(argv, zh, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2
    last = err.strip().splitlines()[-1]
    assert CJK.search(last), last
    for english in ARGPARSE_ENGLISH:
        assert english not in err, (english, err)


def test_argparse_is_left_as_it_was(zh, capsys):
    with pytest.raises(SystemExit):
        cli.main(["generate"])
    assert argparse._ is gettext.gettext and argparse.ngettext is gettext.ngettext


@pytest.mark.parametrize("parts,expected", [
    (("A.", "B."), "A. B."),
    (("甲。", "乙。"), "甲。乙。"),
    (("甲。", "", "（请求 ID：x）"), "甲。（请求 ID：x）"),
    (("甲", "乙。"), "甲 乙。"),
], ids=["english", "chinese", "empty-part", "no-stop"])
def test_sentences_join_as_the_language_writes(parts, expected):
    assert i18n.join_sentences(*parts) == expected


def test_a_billed_error_is_chinese_and_points_to_the_cli(srv, zh, tmp_path, capsys):
    srv.fault = "server_error"
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png"), "--quiet"],
                             capsys)
    assert code == 1
    assert_plain(err)
    assert "。 " not in err and "。。" not in err
    assert "bianxie history --pending" in err
    assert "Recover Results" not in err and "恢复结果" not in err


def test_error_text_has_the_request_id_once():
    exc = errors.ServerError("The server failed.", request_id="req_123")
    text = cli.error_text(exc)
    assert text.count("req_123") == 1 and "Recover Results" not in text


def test_cost_notes_are_not_joined_with_english_punctuation(zh, capsys):
    code, out, err = run_cli(["cost", "-m", "gpt-image-2", "-s", "2160x3840", "-q", "auto"],
                             capsys)
    assert code == 0, err
    first, *notes = out.splitlines()
    assert "; " not in out and "(" not in first
    assert notes and all(CJK.search(note) for note in notes)


def test_os_errors_are_chinese(zh, capsys, monkeypatch):
    def fail(args, out):
        raise OSError(errno.ENOSPC, "No space left on device", "/x/y")

    monkeypatch.setattr(cli_parser, "cmd_cost", fail)
    code, out, err = run_cli(["cost"], capsys)
    assert code == 1 and CJK.search(err) and "No space" not in err
