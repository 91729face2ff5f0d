"""``bianxie`` input checks: bad files, empty selections, bad numbers and options a command
would drop are refused before anything is sent, each in one plain sentence."""

from __future__ import annotations

import argparse
import errno

import numpy as np
import pytest
from PIL import Image

from bianxie_core import cli, cli_paid, cli_parser, errors
from bianxie_core import config as configmod
from tests.test_cli_outputs import assert_plain_words
from tests.test_client import run_cli  # noqa: F401


def inpaint_argv(photo, selection, tmp_path, *extra):
    return ["inpaint", "--image", str(photo), "--selection", str(selection), "-p", "x",
            "-m", "gpt-image-1", "-o", str(tmp_path / "out.png"), *extra]


def refused(code, err, srv):
    assert code == 2, err
    assert srv.requests == []
    assert not list((configmod.home() / "history").glob("*.json"))
    assert_plain_words(err)


# --- empty selection (2) --------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_an_empty_selection_is_refused(mode, srv1, photo_and_selection, tmp_path, capsys):
    photo, _selection = photo_and_selection
    empty = tmp_path / "black.png"
    Image.new(mode, (600, 400), 0).save(empty)
    code, out, err = run_cli(inpaint_argv(photo, empty, tmp_path), capsys)
    refused(code, err, srv1)
    assert "empty" in err and str(empty) in err
    assert "Waiting" not in err  # checked before the progress starts


# --- unreadable input files (4) -------------------------------------------------------------
def _truncated(path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (400, 600, 3), np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:5000])


@pytest.mark.parametrize("which", ["image", "selection"])
@pytest.mark.parametrize("make", [
    lambda p: None,
    lambda p: p.write_text("not an image"),
    _truncated,
    lambda p: p.mkdir(),
], ids=["missing", "not-an-image", "truncated", "folder"])
def test_unreadable_inputs_are_one_plain_sentence(make, which, srv1, photo_and_selection,
                                                  tmp_path, capsys):
    photo, selection = photo_and_selection
    bad = tmp_path / "bad.png"
    make(bad)
    argv = inpaint_argv(bad if which == "image" else photo,
                        bad if which == "selection" else selection, tmp_path)
    code, out, err = run_cli(argv, capsys)
    refused(code, err, srv1)
    assert str(bad) in err
    for raw in ("cannot identify", "truncated", "Cannot read the image"):
        assert raw not in err


def test_the_three_file_problems_say_different_things(srv1, photo_and_selection, tmp_path,
                                                      capsys):
    photo, selection = photo_and_selection
    messages = set()
    for make in (lambda p: None, lambda p: p.write_text("text"), _truncated):
        bad = tmp_path / "bad.png"
        if bad.exists():
            bad.unlink()
        make(bad)
        messages.add(run_cli(inpaint_argv(bad, selection, tmp_path), capsys)[2])
    assert len(messages) == 3


def test_expand_reads_its_image_plainly(srv1, tmp_path, capsys):
    code, out, err = run_cli(["expand", "--image", str(tmp_path / "nope.png"), "--left", "10",
                              "-o", str(tmp_path / "o.png")], capsys)
    refused(code, err, srv1)


def test_edit_input_that_is_missing_has_no_system_text(srv1, tmp_path, capsys):
    code, out, err = run_cli(["edit", "--image", str(tmp_path / "nope.png"), "-p", "x",
                              "-o", str(tmp_path / "o.png")], capsys)
    refused(code, err, srv1)
    assert str(tmp_path / "nope.png") in err


@pytest.mark.parametrize("flag", ["--image", "--mask"])
def test_edit_refuses_a_damaged_image_or_mask_before_sending(flag, srv1, tmp_path, capsys):
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    Image.new("RGBA", (600, 400), (10, 20, 30, 0)).save(good)
    _truncated(bad)
    files = {"--image": good, "--mask": good, flag: bad}
    code, out, err = run_cli(["edit", "--image", str(files["--image"]), "--mask",
                              str(files["--mask"]), "-p", "x", "-o", str(tmp_path / "o.png")],
                             capsys)
    refused(code, err, srv1)
    assert "damaged" in err and str(bad) in err


def test_a_selection_of_another_size_is_said_once(srv1, photo_and_selection, tmp_path, capsys):
    photo, _selection = photo_and_selection
    small = tmp_path / "small.png"
    Image.new("L", (10, 10), 255).save(small)
    code, out, err = run_cli(inpaint_argv(photo, small, tmp_path), capsys)
    refused(code, err, srv1)
    assert err.count(str(small)) == 1 and err.count("10x10") == 1


@pytest.mark.parametrize("error", [errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR,
                                   errno.ENOTDIR, errno.EEXIST, errno.ENOSPC, errno.EROFS,
                                   errno.EIO])
def test_os_errors_reaching_main_are_plain(error, home, capsys, monkeypatch):
    def fail(args, out):
        raise OSError(error, "English system text", "/some/file")

    monkeypatch.setattr(cli_parser, "cmd_cost", fail)
    code, out, err = run_cli(["cost"], capsys)
    assert code == 1 and "/some/file" in err and "English system text" not in err
    assert_plain_words(err)


def test_os_error_reasons_differ():
    reasons = {errors.os_reason(OSError(e, "x")) for e in (
        errno.ENOENT, errno.EACCES, errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.ENOSPC,
        errno.EROFS)}
    assert len(reasons) == 7


# --- numbers checked while parsing (5) ------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["generate", "-p", "x", "-o", "o.png", "--timeout", "-5"],
    ["generate", "-p", "x", "-o", "o.png", "--timeout", "0"],
    ["generate", "-p", "x", "-o", "o.png", "--timeout", "nan"],
    ["generate", "-p", "x", "-o", "o.png", "--timeout", "soon"],
    ["generate", "-p", "x", "-o", "o.png", "--retries", "-1"],
    ["generate", "-p", "x", "-o", "o.png", "--retries", "1.5"],
    ["history", "--limit", "0"],
], ids=["negative", "zero", "nan", "text", "retries-negative", "retries-fraction", "limit"])
def test_bad_numbers_are_refused_while_parsing(argv, srv1, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and srv1.requests == []
    last = err.strip().splitlines()[-1]
    assert_plain_words(last)
    assert "ValueError" not in err and "invalid" not in last  # our sentence, not argparse's


def test_the_timeout_given_is_used(home):
    args = argparse.Namespace(base_url=None, timeout=0.5, retries=0)
    assert cli_paid._service(args).config.timeout == 0.5


# --- options that would be dropped (7) ------------------------------------------------------
def test_expand_refuses_n(srv1, photo_and_selection, tmp_path, capsys):
    photo, _selection = photo_and_selection
    code, out, err = run_cli(["expand", "--image", str(photo), "--left", "10", "-n", "3",
                              "-o", str(tmp_path / "o.png")], capsys)
    refused(code, err, srv1)
    assert "-n" in err


def test_inpaint_refuses_input_fidelity_as_edit_does(srv1, photo_and_selection, tmp_path,
                                                      capsys):
    photo, selection = photo_and_selection
    mini = ["-m", "gpt-image-1-mini", "--input-fidelity", "high"]
    code, out, inpaint_err = run_cli(inpaint_argv(photo, selection, tmp_path)[:-2] + mini
                                     + ["-o", str(tmp_path / "o.png")], capsys)
    refused(code, inpaint_err, srv1)
    code, out, edit_err = run_cli(["edit", "--image", str(photo), "-p", "x", *mini,
                                   "-o", str(tmp_path / "o.png")], capsys)
    assert code == 2 and inpaint_err == edit_err


def test_expand_sends_input_fidelity(srv1, photo_and_selection, tmp_path, capsys):
    photo, _selection = photo_and_selection
    code, out, err = run_cli(["expand", "--image", str(photo), "--left", "50", "-m",
                              "gpt-image-1", "-q", "low", "--input-fidelity", "high",
                              "-o", str(tmp_path / "o.png"), "--quiet"], capsys)
    assert code == 0, err
    assert srv1.requests[0].field("input_fidelity") == "high"


@pytest.mark.parametrize("option", [["--background", "transparent"],
                                    ["--output-compression", "50"]])
def test_inpaint_does_not_offer_options_it_cannot_use(option, srv1, photo_and_selection,
                                                      tmp_path, capsys):
    photo, selection = photo_and_selection
    with pytest.raises(SystemExit) as info:
        cli.main(inpaint_argv(photo, selection, tmp_path, *option))
    assert info.value.code == 2 and srv1.requests == []


# --- order and help (8) ---------------------------------------------------------------------
def test_cost_notes_are_printed_once(home, capsys):
    code, out, err = run_cli(["cost", "-m", "gpt-image-2", "-s", "2160x3840", "-q", "auto"],
                             capsys)
    assert code == 0, err
    notes = [line.strip() for line in out.splitlines()[1:]]
    assert len(notes) >= 2
    for note in notes:
        assert out.count(note.split(": ", 1)[1]) == 1, out


def test_version(capsys):
    from bianxie_core import __version__

    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0 and __version__ in capsys.readouterr().out


def _all_parsers(parser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def test_every_option_has_help():
    missing = [f"{parser.prog} {action.dest}"
               for parser in _all_parsers(cli.build_parser()) for action in parser._actions
               if not action.help]
    assert not missing, missing


def test_sixteen_bit_grey_files_are_scaled_not_clipped(tmp_path):
    """A 16-bit selection whose background is 300/65535 (black to the eye) selected everything."""
    from bianxie_core import inpaint

    values = np.full((40, 60), 300, np.uint16)
    values[10:20, 10:30] = 65535
    path = tmp_path / "sel16.png"
    Image.fromarray(values).save(path)
    coverage = inpaint._load_selection(path, (60, 40))
    assert coverage[0, 0] == 1 and coverage[15, 15] == 255
    photo = inpaint._load_rgba(path)
    assert tuple(photo[15, 15]) == (255, 255, 255, 255) and tuple(photo[0, 0]) == (1, 1, 1, 255)
