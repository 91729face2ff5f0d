"""The ``bianxie`` command line: the seed's three examples, cost, config, errors and exit codes."""

from __future__ import annotations

import io
import json
import os
import stat
import sys

import pytest
from PIL import Image

from bianxie_core import config as configmod
from bianxie_core import errors
from bianxie_core.cli import main
from bianxie_core.cli_outputs import output_paths
from tests.test_client import (  # noqa: F401
    KEY, assert_no_key, assert_plain, mask_image, product, products, run_cli,
)


def sizes_of(paths):
    out = []
    for path in paths:
        with Image.open(path) as im:
            im.load()
            out.append(im.size)
    return out


# --- the seed's three examples --------------------------------------------------------------
def test_seed_generation_n2(srv, tmp_path, capsys):
    code, out, err = run_cli(["generate", "-p", "A children's book drawing of a veterinarian "
                              "using a stethoscope to listen to the heartbeat of a baby otter.",
                              "-m", "gpt-image-1", "-n", "2", "-s", "1024x1536", "-q", "low",
                              "-o", str(tmp_path / "out.png")], capsys)
    assert code == 0, err
    paths = [tmp_path / "out-1.png", tmp_path / "out-2.png"]
    assert out.split() == [str(p) for p in paths]
    assert sizes_of(paths) == [(1024, 1536)] * 2
    assert [p.read_bytes() for p in paths] == srv.responses
    sent = srv.requests[0].json
    assert sent["n"] == 2 and sent["size"] == "1024x1536" and sent["quality"] == "low"
    assert "tokens" in err  # the used tokens and price after the call
    assert not (tmp_path / "out.png").exists()


def test_seed_four_product_gift_basket(srv, tmp_path, capsys):
    argv = ["edit"]
    for path in products(tmp_path):
        argv += ["--image", str(path)]
    argv += ["-p", "Generate a photorealistic image of a gift basket on a white background "
             "labeled 'Relax & Unwind' with a ribbon and handwriting-like font, containing all "
             "the items in the reference pictures.", "-m", "gpt-image-1", "-s", "1536x1024",
             "-q", "low", "-o", str(tmp_path / "basket.png"), "--quiet"]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    rec = srv.requests[0]
    assert [f.field for f in rec.files] == ["image[]"] * 4
    assert [f.content_type for f in rec.files] == ["image/png"] * 4
    assert [f.filename for f in rec.files] == ["product-%d.png" % i for i in range(1, 5)]
    assert sizes_of([tmp_path / "basket.png"]) == [(1536, 1024)]
    assert out.strip() == str(tmp_path / "basket.png")


def test_seed_masked_lounge(srv, tmp_path, capsys):
    image, mask = tmp_path / "sunlit_lounge.png", tmp_path / "mask.png"
    product("chelsea.png", (512, 512)).save(image)
    mask_image((512, 512)).save(mask)
    code, out, err = run_cli(["edit", "--image", str(image), "--mask", str(mask), "-p",
                              "A sunlit indoor lounge area with a pool containing a flamingo",
                              "-m", "gpt-image-1", "-q", "low", "-s", "1024x1024",
                              "-o", str(tmp_path / "lounge.png"), "--quiet"], capsys)
    assert code == 0, err
    rec = srv.requests[0]
    assert sorted(f.field for f in rec.files) == ["image", "mask"]
    assert {f.field: f.filename for f in rec.files} == {"image": "sunlit_lounge.png",
                                                       "mask": "mask.png"}
    assert sizes_of([tmp_path / "lounge.png"]) == [(1024, 1024)]


def test_stream_progress_on_stderr(srv, tmp_path, capsys):
    code, out, err = run_cli(["generate", "-p", "x", "--stream", "--partial-images", "2",
                              "-o", str(tmp_path / "s.png")], capsys)
    assert code == 0
    assert "partial image 1" in err and "partial image 2" in err
    assert srv.requests[0].json["stream"] is True


@pytest.mark.parametrize("output,count,fmt,expected", [
    ("out.png", 1, None, ["out.png"]),
    ("out.png", 3, None, ["out-1.png", "out-2.png", "out-3.png"]),
    ("out", 1, "jpeg", ["out.jpg"]),
    ("d/out.webp", 2, "webp", ["d/out-1.webp", "d/out-2.webp"]),
], ids=["one", "three", "no-suffix-jpeg", "folder"])
def test_output_paths(output, count, fmt, expected):
    from pathlib import Path

    assert output_paths(output, count, fmt) == [Path(e) for e in expected]


# --- cost -----------------------------------------------------------------------------------
@pytest.mark.parametrize("argv,words", [
    (["-m", "gpt-image-1", "-s", "1024x1024", "-q", "high"], ["4,160 output tokens", "$0.1664"]),
    (["-m", "gpt-image-1", "-s", "1536x1024", "-q", "low", "-n", "3"],
     ["1,200 output tokens", "n=3", "$0.0480"]),
    (["-m", "gpt-image-2", "-s", "2160x3840", "-q", "medium"], ["estimate"]),
], ids=["high", "n3", "free-size"])
def test_cost(argv, words, home, capsys):
    code, out, err = run_cli(["cost"] + argv, capsys)
    assert code == 0, err
    for word in words:
        assert word.lower() in out.lower(), out


@pytest.mark.parametrize("argv", [["-s", "999x999", "-m", "gpt-image-1"], ["-n", "0"],
                                  ["-q", "ultra"]], ids=["size", "n", "quality"])
def test_cost_usage_errors(argv, home, capsys):
    code, out, err = run_cli(["cost"] + argv, capsys)
    assert code == 2
    assert_plain(err)


# --- config ---------------------------------------------------------------------------------
def test_config_set_key_from_stdin(home, capsys, monkeypatch):
    monkeypatch.delenv("BIANXIE_API_KEY")
    secret = "sk-STDIN-0123456789abcdefWXYZ"
    monkeypatch.setattr(sys, "stdin", io.StringIO(secret + "\n"))
    code, out, err = run_cli(["config", "set", "key", "-"], capsys)
    assert code == 0, err
    assert secret not in out + err and "WXYZ" in out
    path = configmod.config_path()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text())["api_key"] == secret
    code, out, err = run_cli(["config", "get", "key"], capsys)
    assert code == 0
    assert secret not in out and out.strip() == "api_key = sk-…WXYZ"
    code, out, err = run_cli(["config", "get"], capsys)
    assert secret not in out and "base_url = " in out


def test_config_set_base_url_is_normalised(home, capsys):
    code, out, err = run_cli(["config", "set", "base-url", "https://relay.example/"], capsys)
    assert code == 0
    assert configmod.load().base_url == "https://relay.example/v1"
    code, out, err = run_cli(["config", "set", "base-url", "http://relay.example/v1"], capsys)
    assert code == 2 and "https://relay.example/v1" in err
    assert_plain(err)


def test_config_path(home, capsys):
    code, out, _ = run_cli(["config", "path"], capsys)
    assert code == 0 and out.strip() == str(home / "config.json")


# --- errors ---------------------------------------------------------------------------------
def test_traceback_reraises(srv, tmp_path, capsys):
    srv.fault = "unauthorized"
    with pytest.raises(errors.AuthenticationError):
        main(["--traceback", "generate", "-p", "x", "-o", str(tmp_path / "o.png"), "--quiet"])
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png"), "--quiet"],
                             capsys)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err


def test_missing_key_says_how_to_set_it(home, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("BIANXIE_API_KEY")
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png")], capsys)
    assert code == 2
    assert "BIANXIE_API_KEY" in err and "config set" in err
    assert_plain(err)


def test_output_under_a_file_is_refused_before_sending(srv, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(blocker / "o.png"), "--quiet"],
                             capsys)
    assert code == 2 and err.count("\n") == 1 and srv.requests == []
    assert_plain(err)
    assert not list(configmod.home().glob("history/*.png"))  # nothing paid for


def test_argparse_usage_error_exits_2(home, capsys):
    with pytest.raises(SystemExit) as info:
        main(["generate", "-o", "x.png"])
    assert info.value.code == 2


def test_an_unexpected_bug_is_still_one_line(srv, tmp_path, capsys, monkeypatch):
    from bianxie_core import cli_paid

    def boom(*a, **kw):
        raise TypeError("internal detail " + KEY)

    monkeypatch.setattr(cli_paid, "_write_outputs", boom)
    argv = ["generate", "-p", "x", "-o", str(tmp_path / "o.png"), "--quiet"]
    code, out, err = run_cli(argv, capsys)
    assert code == 1 and err.count("\n") == 1 and "TypeError" in err
    assert_plain(err)
    assert_no_key(err)
    with pytest.raises(TypeError):
        main(["--traceback"] + argv)


def test_config_set_api_key_as_the_missing_key_message_says(home, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("sk-ALIAS-0123456789abcd\n"))
    code, out, err = run_cli(["config", "set", "api_key", "-"], capsys)
    assert code == 0 and "abcd" in out and "sk-ALIAS-0123456789abcd" not in out
    assert configmod.load(configmod.config_path(), env={}).api_key == "sk-ALIAS-0123456789abcd"
