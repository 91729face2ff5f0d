from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from bianxie_core import history as hist
from bianxie_core.errors import ConfigError, UsageError

DATA = Path(__file__).parent / "data"
KEY = "sk-Xy3WuCpTTvYabcdefghijk9876"
META = {
    "prompt": "a red fox in snow",
    "params": {"size": "1024x1024", "quality": "low", "n": 2},
    "model": "gpt-image-1",
    "base_url": "https://user:pw@relay.example:8443/v1?token=abc",
    "usage": {"input_tokens": 10, "output_tokens": 272},
    "request_id": "req_123",
    "index": 1,
    "job_id": "job-7",
}


@pytest.fixture
def history(tmp_path):
    return hist.History(tmp_path / "history", secrets=[KEY])


@pytest.mark.parametrize(
    "name, ext",
    [("astronaut.png", "png"), ("rocket.jpg", "jpeg")],
    ids=["png", "jpeg"],
)
def test_record_keeps_bytes_exactly(history, name, ext):
    data = (DATA / name).read_bytes()
    entry = history.record(data, META)
    assert entry.image_path.read_bytes() == data
    assert entry.ext == ext
    assert entry.image_path.name == f"{entry.id}.{ext}"
    assert entry.meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry.meta["bytes"] == len(data)


@pytest.mark.parametrize(
    "data, ext",
    [
        (b"\x89PNG\r\n\x1a\n rest", "png"),
        (b"\xff\xd8\xff\xe0 rest", "jpeg"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", "bin"),
        (b"<html>bad gateway</html>", "bin"),
        (b"", "bin"),
    ],
    ids=["png", "jpeg", "webp", "riff-not-webp", "html", "empty"],
)
def test_image_ext(data, ext):
    assert hist.image_ext(data) == ext


def test_explicit_ext_wins(history):
    assert history.record(b"whatever", {}, ext=".WebP").ext == "webp"


def test_sidecar_content(history):
    entry = history.record(b"\x89PNG\r\n\x1a\nxx", META)
    saved = json.loads(entry.meta_path.read_text("utf-8"))
    assert saved == entry.meta
    for name in ("prompt", "params", "model", "usage", "request_id", "index", "job_id"):
        assert saved[name] == META[name]
    assert saved["host"] == "relay.example:8443"
    assert "base_url" not in saved
    text = entry.meta_path.read_text("utf-8")
    assert "token=abc" not in text and "pw" not in text and "/v1" not in text
    assert saved["imported"] is False
    assert saved["id"] == entry.id and saved["image"] == entry.image_path.name
    assert entry.created.tzinfo is not None
    assert entry.prompt == "a red fox in snow"


@pytest.mark.parametrize(
    "base_url, host",
    [
        ("https://api.bianxie.ai/v1", "api.bianxie.ai"),
        ("http://127.0.0.1:8080/v1", "127.0.0.1:8080"),
        ("https://a:b@h.example/x?k=sk-1", "h.example"),
        ("not a url", ""),
    ],
    ids=["plain", "port", "credentials-and-query", "garbage"],
)
def test_host_of(base_url, host):
    assert hist.host_of(base_url) == host


def test_files_are_private(history):
    entry = history.record(b"\x89PNG\r\n\x1a\n", META)
    for path in (entry.image_path, entry.meta_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(history.root).st_mode) == 0o700
    assert sorted(os.listdir(history.root)) == sorted(
        [entry.image_path.name, entry.meta_path.name]
    )  # no temp files left


def test_newest_first_and_ids_sort_by_time(history):
    ids = [history.record(b"img%d" % i, {"index": i}).id for i in range(5)]
    assert len(set(ids)) == 5
    assert ids == sorted(ids)
    listed = history.entries()
    assert [e.id for e in listed] == ids[::-1]
    assert [e.meta["index"] for e in listed] == [4, 3, 2, 1, 0]
    assert listed[0].created > listed[-1].created


def test_empty_or_missing_folder(tmp_path):
    assert hist.History(tmp_path / "none").entries() == []


def test_pending_and_mark_imported(history):
    first = history.record(b"a", {"prompt": "one"})
    second = history.record(b"b", {"prompt": "two"})
    assert [e.id for e in history.pending()] == [second.id, first.id]
    history.mark_imported(first.id, where="photo.xcf / layer 3")
    assert [e.id for e in history.pending()] == [second.id]
    got = history.get(first.id)
    assert got.imported
    assert got.meta["imported_to"] == "photo.xcf / layer 3"
    assert got.meta["prompt"] == "one"  # the rest of the sidecar is kept
    assert got.image_path.read_bytes() == b"a"


@pytest.mark.parametrize(
    "entry_id",
    ["20200101-000000-000000-abcd", "../config", "", "nonsense"],
    ids=["unknown", "traversal", "empty", "nonsense"],
)
def test_get_unknown(history, entry_id):
    history.record(b"a", {})
    with pytest.raises(UsageError, match="bianxie history"):
        history.get(entry_id)


@pytest.mark.parametrize(
    "damage",
    ["truncate", "delete", "list"],
    ids=["truncated-json", "missing-sidecar", "not-an-object"],
)
def test_corrupt_sidecar_tolerated(history, damage):
    older = history.record(b"old", {"prompt": "fine"})
    entry = history.record(b"\x89PNG\r\n\x1a\npaid", {"prompt": "lost"})
    if damage == "truncate":
        entry.meta_path.write_text('{"prompt": "lo')
    elif damage == "delete":
        entry.meta_path.unlink()
    else:
        entry.meta_path.write_text("[1, 2]")
    listed = history.entries()
    assert [e.id for e in listed] == [entry.id, older.id]
    assert listed[0].meta == {"corrupt": True} and listed[0].corrupt
    assert not listed[0].imported and listed[0] in history.pending()
    assert listed[0].created.year >= 2024  # from the id
    assert listed[0].image_path.read_bytes() == b"\x89PNG\r\n\x1a\npaid"
    history.mark_imported(entry.id)
    assert history.get(entry.id).imported


def test_temp_and_foreign_files_ignored(history):
    entry = history.record(b"a", {})
    (history.root / ".20261126-194801-123456-abcd.png.123.tmp").write_bytes(b"x")
    (history.root / "notes.txt").write_text("mine")
    assert [e.id for e in history.entries()] == [entry.id]


def _unwritable_root(tmp_path: Path) -> Path:
    """A folder that cannot be created even by root: its parent is a regular file."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    return blocker / "history"


def test_check_writable_ok(history):
    history.check_writable()
    assert history.root.is_dir()
    assert os.listdir(history.root) == []  # the probe is removed


def test_check_writable_fails(tmp_path):
    root = _unwritable_root(tmp_path)
    with pytest.raises(ConfigError) as info:
        hist.History(root).check_writable()
    message = str(info.value)
    assert str(root) in message and "BIANXIE_HOME" in message


def test_record_into_unwritable_folder(tmp_path):
    with pytest.raises(ConfigError, match="cannot be written"):
        hist.History(_unwritable_root(tmp_path)).record(b"a", {})


def test_secrets_never_written(history):
    meta = {
        "prompt": "fine",
        "headers": {"Authorization": "Bearer " + KEY},
        "params": {"note": ["x", KEY]},
        KEY: "as a key",
    }
    entry = history.record(b"a", meta)
    history.mark_imported(entry.id, where="leaked " + KEY)
    for path in history.root.iterdir():
        assert KEY.encode() not in path.read_bytes()
    saved = history.get(entry.id).meta
    assert saved["secrets_redacted"] is True
    assert saved["headers"]["Authorization"] == "Bearer " + hist.REDACTED
    assert saved["params"]["note"] == ["x", hist.REDACTED]
    assert saved["prompt"] == "fine"
    assert entry.image_path.read_bytes() == b"a"  # the paid image is still kept


def test_no_secrets_no_flag(history):
    assert "secrets_redacted" not in history.record(b"a", {"prompt": "p"}).meta


def _fill(history, count, size=1000):
    return [history.record(bytes(size), {"i": i}) for i in range(count)]


@pytest.mark.parametrize(
    "imported, cap, deleted",
    [
        ({0, 1, 2, 3}, None, []),
        ({0, 1, 2, 3}, 10**9, []),
        ({0, 1, 2, 3}, 0, [0, 1, 2, 3]),
        ({0, 1, 2, 3}, "two", [0, 1]),
        ({1, 3}, "two", [1, 3]),
        ({1, 3}, "one", [1, 3]),
        (set(), 0, []),
        ({3}, "three", [3]),
    ],
    ids=[
        "no-cap",
        "under-cap",
        "cap-zero",
        "oldest-first",
        "skips-pending",
        "pending-over-cap-kept",
        "nothing-imported",
        "newest-if-only-one",
    ],
)
def test_prune(tmp_path, imported, cap, deleted):
    history = hist.History(tmp_path / "h", cap_bytes=None)
    entries = _fill(history, 4)
    for i in imported:
        history.mark_imported(entries[i].id)
    per_entry = history.size() // 4
    history.cap_bytes = {
        "one": per_entry,
        "two": 2 * per_entry + 1,
        "three": 3 * per_entry + 1,
    }.get(cap, cap)
    assert history.prune() == [entries[i].id for i in deleted]
    left = {e.id for e in history.entries()}
    assert left == {e.id for i, e in enumerate(entries) if i not in deleted}
    for i in deleted:
        assert not entries[i].image_path.exists() and not entries[i].meta_path.exists()


def test_default_history(tmp_path):
    history = hist.default_history({"BIANXIE_HOME": str(tmp_path)}, cap_mb=3)
    assert history.root == tmp_path / "history"
    assert history.cap_bytes == 3 * 2**20


def test_lookups_and_an_under_cap_prune_read_no_other_sidecar(tmp_path, monkeypatch):
    history = hist.History(tmp_path / "h", cap_bytes=10**9)
    ids = [history.record(b"\x89PNG-%d" % i, {"index": i}).id for i in range(20)]
    reads = []
    real = hist.History._read_meta
    monkeypatch.setattr(hist.History, "_read_meta",
                        lambda self, path: reads.append(path.name) or real(self, path))
    assert history.get(ids[7]).meta["index"] == 7
    history.mark_imported(ids[7])
    assert reads == [f"{ids[7]}.json"] * 2
    reads.clear()
    assert history.prune() == [] and reads == []


def test_recoverable_leaves_out_what_cannot_be_imported(tmp_path):
    history = hist.History(tmp_path / "h")
    good = history.record(b"\x89PNG-good", {})
    broken = history.record(b"raw text", {"broken": "truncated base64"})
    damaged = history.record(b"\x89PNG-damaged", {})
    damaged.meta_path.write_text("{not json")
    imported = history.record(b"\x89PNG-done", {})
    history.mark_imported(imported.id)
    assert {e.id for e in history.pending()} == {good.id, broken.id, damaged.id}
    assert [e.id for e in history.recoverable()] == [good.id]
