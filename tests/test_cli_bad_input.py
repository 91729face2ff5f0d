"""Bad input exits 2 with one line, and the fake sees no request: undecodable text, file names
that are not UTF-8, infinite or absurd context and aspect, and Pillow's raw warnings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bianxie_core import config as configmod
from tests.test_client import KEY, assert_plain, run_cli

ROOT = Path(__file__).resolve().parent.parent


def refused(code, err, srv) -> str:
    assert code == 2, err
    assert srv.requests == []
    assert not list((configmod.home() / "history").glob("*.json"))
    assert err.count("\n") == 1, err
    assert_plain(err)
    return err


def test_a_prompt_that_is_not_utf8_is_refused(srv1, tmp_path, capsys):
    argv = ["generate", "-p", "caf\udce9", "-o", str(tmp_path / "o.png")]  # b"caf\xe9", latin-1
    code, out, err = run_cli(argv, capsys)
    assert "UTF-8" in refused(code, err, srv1)


def test_a_prompt_that_is_not_utf8_from_a_real_command_line(srv1, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), BIANXIE_BASE_URL=srv1.base_url,
               BIANXIE_API_KEY=KEY, LANGUAGE="en", LC_ALL="C.UTF-8")
    done = subprocess.run([sys.executable, "-m", "bianxie_core.cli", "generate", "-p",
                           b"caf\xe9", "-o", str(tmp_path / "o.png")], env=env, cwd=str(ROOT),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and srv1.requests == [] and "UTF-8" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_an_input_file_named_in_another_encoding_is_refused(srv1, tmp_path, capsys):
    name = os.fsdecode(b"caf\xe9.png")
    Image.new("RGB", (64, 64), (9, 9, 9)).save(tmp_path / name)
    code, out, err = run_cli(["edit", "--image", str(tmp_path / name), "-p", "x", "-o",
                              str(tmp_path / "o.png")], capsys)
    assert "UTF-8" in refused(code, err, srv1)


@pytest.mark.parametrize("context", ["inf%", "nan%", "1e400%", "999999999",
                                     "lots"])
def test_context_out_of_bounds_is_refused(context, srv1, photo_and_selection, tmp_path, capsys):
    photo, selection = photo_and_selection
    code, out, err = run_cli(["inpaint", "--image", str(photo), "--selection", str(selection),
                              "-p", "x", "--context", context, "-o", str(tmp_path / "o.png")],
                             capsys)
    assert "--context" in refused(code, err, srv1)


@pytest.mark.parametrize("aspect", ["inf:1", "1e-300:1", "1e308:1", "nan:1", "1:0", "20:1"])
def test_aspect_out_of_bounds_is_refused(aspect, srv1, photo_and_selection, tmp_path, capsys):
    photo, _selection = photo_and_selection
    code, out, err = run_cli(["expand", "--image", str(photo), "--aspect", aspect, "-o",
                              str(tmp_path / "o.png")], capsys)
    assert "aspect" in refused(code, err, srv1)


def test_a_huge_input_gives_no_raw_pillow_warning(srv1, tmp_path):
    """Pillow warns above MAX_IMAGE_PIXELS (89 Mpx); lowered here so a small file stands in."""
    Image.new("RGB", (40, 40), (9, 9, 9)).save(tmp_path / "big.png")
    code = ("import sys; from PIL import Image; Image.MAX_IMAGE_PIXELS = 1000\n"
            "from bianxie_core.cli import main\n"
            f"sys.exit(main(['edit', '--image', {str(tmp_path / 'big.png')!r}, '-p', 'x', "
            f"'--quiet', '-o', {str(tmp_path / 'o.png')!r}]))")
    env = dict(os.environ, PYTHONPATH=str(ROOT), BIANXIE_BASE_URL=srv1.base_url,
               BIANXIE_API_KEY=KEY, LANGUAGE="en")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(ROOT),
                          capture_output=True, text=True, timeout=60)
    assert "DecompressionBomb" not in done.stderr and "Warning" not in done.stderr
    assert done.returncode == 0, done.stderr
