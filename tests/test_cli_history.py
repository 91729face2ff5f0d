"""``bianxie history``: exporting recovers (marks imported), damaged entries stand apart,
--limit is honoured, and an empty answer is one line."""

from __future__ import annotations

import pytest

from bianxie_core import config as configmod
from bianxie_core.history import History
from tests.test_client import assert_plain, png_bytes, product, run_cli  # noqa: F401

PNG = png_bytes(product("coffee.png", (8, 8)))


def history() -> History:
    return History(configmod.home() / "history")


@pytest.fixture
def entries(home):
    """Two intact pending entries, one imported, one damaged (base64 that did not decode)."""
    h = history()
    old = h.record(PNG, {"prompt": "old"})
    done = h.record(PNG, {"prompt": "done"})
    h.mark_imported(done.id, where="somewhere.png")
    broken = h.record(b"not base64 at all", {"prompt": "broken", "broken": "base64"})
    new = h.record(PNG, {"prompt": "new"})
    return {"old": old, "done": done, "broken": broken, "new": new}


def lines(out: str) -> list:
    return [line.split("\t") for line in out.strip().splitlines()]


def test_pending_marks_damaged_entries(entries, capsys):
    code, out, err = run_cli(["history", "--pending"], capsys)
    assert code == 0, err
    states = {row[0]: row[1] for row in lines(out)}
    assert set(states) == {entries[k].id for k in ("old", "broken", "new")}
    assert states[entries["broken"].id] != states[entries["new"].id]
    assert states[entries["old"].id] == states[entries["new"].id]


def test_export_recovers_the_intact_pending_images(entries, tmp_path, capsys):
    target = tmp_path / "recovered"
    code, out, err = run_cli(["history", "--pending", "--export", str(target)], capsys)
    assert code == 0, err
    exported = sorted(p.name for p in target.iterdir())
    assert exported == sorted(entries[k].image_path.name for k in ("old", "new"))
    assert (target / entries["new"].image_path.name).read_bytes() == PNG
    assert "1" in err and err.count("\n") == 1  # the damaged one is said, not exported
    assert [e.id for e in history().recoverable()] == []  # no longer pending
    code, out, err = run_cli(["history", "--pending"], capsys)
    assert [row[0] for row in lines(out)] == [entries["broken"].id]
    assert history().get(entries["done"].id).meta["imported_to"] == "somewhere.png"


def test_export_honours_limit(entries, tmp_path, capsys):
    target = tmp_path / "one"
    code, out, err = run_cli(["history", "--pending", "--export", str(target), "--limit", "1"],
                             capsys)
    assert code == 0, err
    assert [p.name for p in target.iterdir()] == [entries["new"].image_path.name]
    assert [e.id for e in history().recoverable()] == [entries["old"].id]


def test_list_honours_limit(entries, capsys):
    code, out, err = run_cli(["history", "--limit", "2"], capsys)
    assert code == 0 and len(lines(out)) == 2


def test_export_into_a_file_is_refused(entries, tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    code, out, err = run_cli(["history", "--export", str(target)], capsys)
    assert code == 2 and target.read_text() == "x"
    assert_plain(err)
    assert "Errno" not in err


@pytest.mark.parametrize("argv", [["history"], ["history", "--pending"],
                                  ["history", "--pending", "--export", "{tmp}/x"]],
                         ids=["empty", "nothing-pending", "nothing-to-export"])
def test_nothing_there_is_one_line(argv, home, tmp_path, capsys):
    h = history()
    if argv != ["history"]:
        h.mark_imported(h.record(PNG, {"prompt": "x"}).id)
    code, out, err = run_cli([a.format(tmp=tmp_path) for a in argv], capsys)
    assert code == 0 and out == ""
    assert err.count("\n") == 1
    assert_plain(err)


def test_help_says_export_marks_imported():
    from bianxie_core.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["history"]
    export = next(a for a in sub._actions if a.dest == "export")
    assert "imported" in export.help


def test_an_image_whose_note_is_unreadable_is_still_exported(entries, tmp_path, capsys):
    entries["old"].meta_path.write_text("{garbage")
    target = tmp_path / "recovered"
    code, out, err = run_cli(["history", "--pending", "--export", str(target)], capsys)
    assert code == 0, err
    assert (target / entries["old"].image_path.name).read_bytes() == PNG
