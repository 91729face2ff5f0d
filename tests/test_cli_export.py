"""``bianxie history --export``: only the entry's own image, a damaged sidecar never erased,
and base64 that is merely wrapped, URL-safe or data:-prefixed recovered after all."""

from __future__ import annotations

import base64
import json

import pytest
from PIL import Image

from bianxie_core import config as configmod
from bianxie_core.history import History
from tests.test_client import png_bytes, run_cli

IMAGE = png_bytes(Image.new("RGB", (16, 16), (10, 200, 30)))


def history() -> History:
    return History(configmod.home() / "history")


def export(tmp_path, capsys, *extra):
    return run_cli(["history", "--pending", "--export", str(tmp_path / "out"), *extra], capsys)


@pytest.mark.parametrize("stray", ["{id}.png.evil", "{id}.sync-conflict-20261204-1010-ABC.png",
                                   "{id}.PNG~", "{id}..png"])
def test_a_file_sharing_only_the_stem_is_not_the_entry(stray, home, tmp_path, capsys):
    entry = history().record(IMAGE, {"prompt": "a"})
    (entry.image_path.parent / stray.format(id=entry.id)).write_bytes(b"evil bytes")
    (listed,) = history().entries()
    assert listed.image_path == entry.image_path
    code, out, err = export(tmp_path, capsys)
    assert code == 0, err
    assert [p.name for p in (tmp_path / "out").iterdir()] == [entry.image_path.name]
    assert (tmp_path / "out" / entry.image_path.name).read_bytes() == IMAGE


def test_a_stray_file_alone_never_marks_an_entry_imported(home, tmp_path, capsys):
    entry = history().record(IMAGE, {"prompt": "a"})
    entry.image_path.rename(entry.image_path.with_name(entry.image_path.name + ".evil"))
    code, out, err = export(tmp_path, capsys)
    assert code == 0 and out == ""
    assert not json.loads(entry.meta_path.read_text())["imported"]


def test_exporting_keeps_a_damaged_sidecar(home, tmp_path, capsys):
    entry = history().record(IMAGE, {"prompt": "the one prompt", "usage": {"total_tokens": 9}})
    damaged = entry.meta_path.read_text()[:60]
    entry.meta_path.write_text(damaged)
    code, out, err = export(tmp_path, capsys)
    assert code == 0, err
    assert (tmp_path / "out" / entry.image_path.name).read_bytes() == IMAGE
    kept = entry.meta_path.with_name(entry.meta_path.name + ".damaged")
    assert kept.read_text() == damaged
    assert json.loads(entry.meta_path.read_text())["damaged_note"] == kept.name
    assert history().get(entry.id).imported


def _as_received(text: str) -> bytes:
    return text.encode()


B64 = base64.b64encode(IMAGE).decode()


@pytest.mark.parametrize("received", [
    "\n".join(B64[i:i + 76] for i in range(0, len(B64), 76)),
    base64.urlsafe_b64encode(IMAGE).decode().rstrip("="),
    "data:image/png;base64," + B64,
    "  " + B64 + "\r\n",
], ids=["wrapped", "urlsafe", "data-prefix", "spaces"])
def test_base64_kept_as_damaged_that_decodes_after_all_is_exported(received, home, tmp_path,
                                                                     capsys):
    entry = history().record(_as_received(received), {"prompt": "a", "broken": "base64"})
    code, out, err = export(tmp_path, capsys)
    assert code == 0, err
    assert (tmp_path / "out" / f"{entry.id}.png").read_bytes() == IMAGE
    assert "damaged" not in err
    assert history().get(entry.id).imported


@pytest.mark.parametrize("received", [B64[: len(B64) // 8 * 4], "not base64 at all !!",
                                      base64.b64encode(b"<html>oops</html>").decode()],
                         ids=["cut-on-a-boundary", "junk", "not-an-image"])
def test_base64_damaged_indeed_is_not_exported(received, home, tmp_path, capsys):
    entry = history().record(_as_received(received), {"prompt": "a", "broken": "base64"})
    code, out, err = export(tmp_path, capsys)
    assert code == 0
    assert out == "" and "1 damaged entry" in err
    assert not history().get(entry.id).imported
