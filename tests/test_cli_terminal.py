"""Text from a server or a file reaches the terminal without escape sequences, on one line
per message, cut when huge: errors, model ids, history listings, settings."""

from __future__ import annotations

import json

import pytest

from bianxie_core import catalog, errors
from bianxie_core import client as clientmod
from bianxie_core import config as configmod
from bianxie_core.history import History
from tests.test_client import run_cli

HOSTILE = ("\x1b]52;c;ZXZpbA==\x07\x1b]8;;https://evil.example\x07link\x1b]8;;\x07"
           "\x1b[31mred\x1b[0m\r\nerror: all images were deleted\x9b2J")


def clean(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert "\r" not in text


@pytest.mark.parametrize("make", [
    lambda: errors.BadRequestError("Invalid value: " + HOSTILE, param="quality"),
    lambda: errors.ServerError("Upstream said " + HOSTILE + "x" * 100_000),
], ids=["bad-request", "huge-server-error"])
def test_a_server_message_is_one_clean_line(make, srv1, tmp_path, capsys, monkeypatch):
    def fail(self, request, **kw):
        raise make()

    monkeypatch.setattr(clientmod.ImagesClient, "generate", fail)
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png"), "--quiet"],
                             capsys)
    assert code == 1
    clean(err)
    assert err.count("\n") == 1 and err.startswith("error:") and len(err) < 1200


def test_model_ids_from_the_server_are_clean(home, capsys, monkeypatch):
    evil = catalog.ModelInfo("gpt-image-1" + HOSTILE, ("1024x1024", "auto"), False, True,
                             "server", False)
    monkeypatch.setattr(catalog, "catalog", lambda *a, **kw: [evil])
    code, out, err = run_cli(["models"], capsys)
    assert code == 0 and out.count("\n") == 1
    clean(out)


def test_a_failed_model_listing_is_one_clean_line(home, capsys, monkeypatch):
    def listing(cfg, *, on_error, **kw):
        on_error(errors.ServerError("down " + HOSTILE))
        return []

    monkeypatch.setattr(catalog, "catalog", listing)
    code, out, err = run_cli(["models", "--remote"], capsys)
    assert code == 0 and err.count("\n") == 1
    clean(err)


def test_history_listing_is_clean(home, capsys):
    History(configmod.home() / "history").record(b"\x89PNG\r\n\x1a\nxx", {"prompt": HOSTILE})
    code, out, err = run_cli(["history"], capsys)
    assert code == 0 and out.count("\n") == 1
    clean(out)


def test_config_values_are_clean(home, capsys):
    configmod.config_path().parent.mkdir(parents=True, exist_ok=True)
    configmod.config_path().write_text(json.dumps({"currency": HOSTILE}))
    code, out, err = run_cli(["config", "get", "currency"], capsys)
    assert code == 0 and out.count("\n") == 1
    clean(out)
