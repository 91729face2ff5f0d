"""``bianxie config set``: never an empty key, plain words at the prompt, secrets masked, and
a warning when an environment variable still wins."""

from __future__ import annotations

import getpass
import io
import sys

import pytest

from bianxie_core import config as configmod
from tests.test_client import assert_plain, run_cli  # noqa: F401

STORED = "sk-STORED-0123456789abcdefWXYZ"


@pytest.fixture
def stored_key(home, monkeypatch):
    monkeypatch.delenv("BIANXIE_API_KEY")
    configmod.update(api_key=STORED)


def stored():
    return configmod.load(configmod.config_path(), env={}).api_key


class Terminal(io.StringIO):
    def isatty(self):
        return True


def at_the_prompt(monkeypatch, answer):
    """The hidden prompt answers ``answer`` (a string, or an exception to raise)."""
    def prompt(text=""):
        if isinstance(answer, BaseException):
            raise answer
        return answer

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(getpass, "getpass", prompt)


@pytest.mark.parametrize("how", ["enter", "spaces", "stdin-empty", "stdin-newline", "argument"])
def test_an_empty_key_is_refused_and_the_stored_one_kept(how, stored_key, capsys, monkeypatch):
    argv = ["config", "set", "key"]
    if how in ("enter", "spaces"):
        at_the_prompt(monkeypatch, "" if how == "enter" else "   ")
    elif how.startswith("stdin"):
        monkeypatch.setattr(sys, "stdin", io.StringIO("" if how == "stdin-empty" else "\n"))
        argv.append("-")
    else:
        argv.append("")
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and out == ""
    assert_plain(err)
    assert stored() == STORED


def test_ctrl_d_at_the_prompt_is_a_plain_sentence(stored_key, capsys, monkeypatch):
    at_the_prompt(monkeypatch, EOFError())
    code, out, err = run_cli(["config", "set", "key"], capsys)
    assert code == 2 and "EOFError" not in err and "unexpected" not in err
    assert_plain(err)
    assert stored() == STORED


def test_ctrl_c_at_the_prompt_does_not_talk_about_images(stored_key, capsys, monkeypatch):
    at_the_prompt(monkeypatch, KeyboardInterrupt())
    code, out, err = run_cli(["config", "set", "key"], capsys)
    assert code == 130
    assert "image" not in err.lower() and "history" not in err.lower()
    assert_plain(err)
    assert stored() == STORED


def test_a_typed_key_is_stored(stored_key, capsys, monkeypatch):
    at_the_prompt(monkeypatch, "sk-TYPED-0123456789abcdefQRST")
    code, out, err = run_cli(["config", "set", "key"], capsys)
    assert code == 0 and "QRST" in out and "TYPED" not in out and err == ""
    assert stored() == "sk-TYPED-0123456789abcdefQRST"


def test_a_proxy_password_is_not_echoed(home, capsys):
    code, out, err = run_cli(["config", "set", "proxy", "http://bob:secret@host:3128"], capsys)
    assert code == 0 and "secret" not in out + err and "bob:***@host:3128" in out
    assert configmod.load().proxy == "http://bob:secret@host:3128"
    code, got, err = run_cli(["config", "get", "proxy"], capsys)
    assert "secret" not in got


@pytest.mark.parametrize("env_set", [True, False], ids=["env-set", "env-unset"])
def test_setting_the_key_warns_when_the_environment_wins(env_set, home, capsys, monkeypatch):
    if not env_set:
        monkeypatch.delenv("BIANXIE_API_KEY")
    monkeypatch.setattr(sys, "stdin", io.StringIO("sk-NEW-0123456789abcdefGHIJ\n"))
    code, out, err = run_cli(["config", "set", "key", "-"], capsys)
    assert code == 0
    assert ("BIANXIE_API_KEY" in err) is env_set
    if env_set:
        assert_plain(err)


def test_interrupting_a_command_that_sends_nothing_says_nothing_of_images(home, capsys,
                                                                         monkeypatch):
    from bianxie_core import cli_parser

    def interrupted(args, out):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_parser, "cmd_models", interrupted)
    code, out, err = run_cli(["models"], capsys)
    assert code == 130 and "history" not in err


def test_the_waiting_worker_can_be_turned_off(home, capsys):
    assert run_cli(["config", "get", "worker-standby"], capsys)[1].strip() == "worker_standby = 600"
    code, out, err = run_cli(["config", "set", "worker-standby", "0"], capsys)
    assert code == 0 and configmod.load().worker_standby == 0
    code, out, err = run_cli(["config", "set", "worker-standby", "-5"], capsys)
    assert code == 2 and "whole number" in err and configmod.load().worker_standby == 0
