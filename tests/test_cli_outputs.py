"""``bianxie`` output files: checked before anything is sent, written in the format their
name says, and kept in the history when writing fails after paying."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bianxie_core import config as configmod
from bianxie_core.cli_outputs import output_paths
from bianxie_core.history import History
from tests.test_client import assert_plain, run_cli  # noqa: F401

RAW_OS_TEXT = ("Errno", "No such file", "Is a directory", "Not a directory", "No space left",
               "Permission denied", "cannot write mode")


def assert_plain_words(err: str) -> None:
    assert_plain(err)
    for raw in RAW_OS_TEXT:
        assert raw not in err, err


def history_images():
    return sorted((configmod.home() / "history").glob("*.png"))


def format_of(path: Path) -> str:
    with Image.open(path) as im:
        return im.format


@pytest.fixture
def layout(tmp_path):
    """A folder, a file, and the output names that cannot be written."""
    (tmp_path / "outdir").mkdir()
    (tmp_path / "outdir.png").mkdir()
    (tmp_path / "file").write_text("x")
    return tmp_path


BAD_OUTPUTS = [
    ("", "empty"),
    ("/", "root"),
    ("{tmp}/outdir", "existing-folder-without-suffix"),
    ("{tmp}/outdir/", "trailing-slash"),
    ("{tmp}/outdir.png", "folder-named-like-a-file"),
    ("{tmp}/out.gif", "unknown-extension"),
    ("{tmp}/out.PNG.bak", "unknown-extension-2"),
    ("{tmp}/file/out.png", "under-a-file"),
    ("{tmp}/file/deeper/out.png", "deep-under-a-file"),
    ("/proc/nope/out.png", "where-nothing-can-be-made"),  # even for root
]


@pytest.mark.parametrize("output", [o for o, _ in BAD_OUTPUTS], ids=[i for _, i in BAD_OUTPUTS])
def test_a_bad_output_is_refused_before_sending(output, srv1, layout, capsys):
    argv = ["generate", "-p", "x", "-o", output.format(tmp=layout), "--quiet"]
    code, out, err = run_cli(argv, capsys)
    assert code == 2, err
    assert srv1.requests == [] and history_images() == []
    assert_plain_words(err)
    assert not (layout / "outdir" / ".png").exists() and not (layout / "outdir.png.png").exists()


@pytest.mark.parametrize("command", ["inpaint", "expand"])
def test_inpaint_and_expand_check_the_output_before_sending(command, srv1, photo_and_selection,
                                                           layout, capsys):
    photo, selection = photo_and_selection
    argv = [command, "--image", str(photo), "-p", "x", "-o", str(layout / "outdir"), "--quiet"]
    argv += ["--selection", str(selection)] if command == "inpaint" else ["--left", "50"]
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and srv1.requests == []
    assert_plain_words(err)
    assert not (layout / "outdir.png").is_file()


@pytest.mark.parametrize("name,fmt", [("out.jpg", "JPEG"), ("out.JPEG", "JPEG"),
                                      ("out.webp", "WEBP"), ("out.png", "PNG")])
def test_inpaint_writes_the_format_its_name_says(name, fmt, srv1, photo_and_selection,
                                                 tmp_path, capsys):
    photo, selection = photo_and_selection
    code, out, err = run_cli(["inpaint", "--image", str(photo), "--selection", str(selection),
                              "-p", "a hat", "-m", "gpt-image-1", "-q", "low",
                              "-o", str(tmp_path / name), "--quiet"], capsys)
    assert code == 0, err
    assert out.strip() == str(tmp_path / name)
    assert format_of(tmp_path / name) == fmt
    with Image.open(tmp_path / name) as im, Image.open(photo) as original:
        assert im.size == original.size
    (entry,) = History(configmod.home() / "history").entries()
    assert entry.imported


def test_expand_to_jpeg(srv1, photo_and_selection, tmp_path, capsys):
    photo, _selection = photo_and_selection
    code, out, err = run_cli(["expand", "--image", str(photo), "--left", "100", "-m",
                              "gpt-image-1", "-q", "low", "-o", str(tmp_path / "x.jpeg"),
                              "--quiet"], capsys)
    assert code == 0, err
    with Image.open(tmp_path / "x.jpeg") as im:
        assert im.format == "JPEG" and im.size == (700, 400)


def test_an_rgba_photo_is_flattened_for_jpeg(srv1, photo_and_selection, tmp_path, capsys):
    photo, selection = photo_and_selection
    rgba = Image.open(photo).convert("RGBA")
    rgba.putalpha(0)  # fully transparent: flattened onto white, not its hidden colours
    rgba.save(photo)
    code, out, err = run_cli(["inpaint", "--image", str(photo), "--selection", str(selection),
                              "-p", "x", "-m", "gpt-image-1", "-q", "low",
                              "-o", str(tmp_path / "o.jpg"), "--quiet"], capsys)
    assert code == 0, err
    pixels = np.asarray(Image.open(tmp_path / "o.jpg"))
    assert pixels[5, 5].min() > 245


def test_the_output_name_chooses_the_format_sent_for_generate(srv1, tmp_path, capsys):
    code, out, err = run_cli(["generate", "-p", "x", "-q", "low", "-m", "gpt-image-1",
                              "-o", str(tmp_path / "o.jpg"), "--quiet"], capsys)
    assert code == 0, err
    assert srv1.requests[0].json["output_format"] == "jpeg"
    assert format_of(tmp_path / "o.jpg") == "JPEG"


@pytest.mark.parametrize("command", ["generate", "inpaint"])
def test_output_format_wins_and_renames_the_output(command, srv1, photo_and_selection,
                                                   tmp_path, capsys):
    photo, selection = photo_and_selection
    argv = [command, "-p", "x", "-q", "low", "-m", "gpt-image-1", "--output-format", "webp",
            "-o", str(tmp_path / "o.png"), "--quiet"]
    if command == "inpaint":
        argv += ["--image", str(photo), "--selection", str(selection)]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    assert out.strip() == str(tmp_path / "o.webp") and "o.webp" in err  # said, not silent
    assert format_of(tmp_path / "o.webp") == "WEBP"
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("output,count,fmt,expected", [
    ("out.png", 1, "jpeg", ["out.jpg"]),
    ("out.jpeg", 1, "jpeg", ["out.jpeg"]),
    ("out.JPG", 2, None, ["out-1.JPG", "out-2.JPG"]),
    ("a.b/out", 1, None, ["a.b/out.png"]),
], ids=["format-wins", "jpeg-spelling", "upper-case", "dotted-folder"])
def test_output_names(output, count, fmt, expected):
    assert output_paths(output, count, fmt) == [Path(e) for e in expected]


def test_a_write_that_fails_after_paying_says_where_the_image_is(srv1, tmp_path, capsys,
                                                               monkeypatch):
    import tempfile

    real = tempfile.mkstemp

    def disk_full(*args, dir=None, **kw):
        if Path(dir) == tmp_path:
            raise OSError(errno.ENOSPC, "No space left on device", str(dir))
        return real(*args, dir=dir, **kw)

    monkeypatch.setattr(tempfile, "mkstemp", disk_full)
    code, out, err = run_cli(["generate", "-p", "x", "-q", "low", "-m", "gpt-image-1",
                              "-o", str(tmp_path / "o.png"), "--quiet"], capsys)
    assert code == 1
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert_plain_words(line)
    assert "bianxie history --pending" in line and "Recover Results" not in err
    (entry,) = History(configmod.home() / "history").pending()
    assert entry.image_path.read_bytes() == srv1.responses[0]
    monkeypatch.setattr(tempfile, "mkstemp", real)
    code, out, err = run_cli(["history", "--pending", "--export", str(tmp_path / "got")], capsys)
    assert code == 0 and (tmp_path / "got" / entry.image_path.name).read_bytes() == \
        srv1.responses[0]


def test_no_note_when_the_name_already_fits(srv1, tmp_path, capsys):
    code, out, err = run_cli(["generate", "-p", "x", "-q", "low", "-m", "gpt-image-1",
                              "-o", str(tmp_path / "o.JPG"), "--quiet"], capsys)
    assert code == 0 and err.count("\n") <= 1 and "--output-format" not in err
    assert format_of(tmp_path / "o.JPG") == "JPEG"


def test_missing_output_folders_are_created(srv1, tmp_path, capsys):
    target = tmp_path / "new" / "deeper" / "o.png"
    code, out, err = run_cli(["generate", "-p", "x", "-q", "low", "-m", "gpt-image-1",
                              "-o", str(target), "--quiet"], capsys)
    assert code == 0, err
    assert format_of(target) == "PNG"
