"""Every image the server returns, on disk before the caller gets it: nothing paid for is lost.

Each entry is two files in the history folder: ``<id>.<ext>`` (the bytes exactly as received)
and ``<id>.json`` (prompt, parameters, model, host, usage, request id, time, index, job id and
the ``imported`` flag). Ids sort by creation time. Only imported entries are ever pruned.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import json
import os
import re
import secrets as _random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional
from urllib.parse import urlsplit

from bianxie_core.config import home
from bianxie_core.files import write_private
from bianxie_core.errors import ConfigError, UsageError, os_reason
from bianxie_core.i18n import _

DEFAULT_CAP_BYTES = 500 * 2**20
REDACTED = "[redacted]"
DAMAGED_SUFFIX = ".damaged"  # a damaged sidecar, kept beside the one written in its place

_ID = re.compile(r"^\d{8}-\d{6}-\d{6}-[0-9a-f]{4}$")
# <id>.<ext> exactly: "<id>.png.evil" or a sync tool's "<id>.sync-conflict-….png" is no image
_IMAGE_NAME = re.compile(r"^(\d{8}-\d{6}-\d{6}-[0-9a-f]{4})\.([a-z0-9]{1,8})$")
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"))
_clock_lock = threading.Lock()
_last_time: list = [None]


def image_ext(data: bytes) -> str:
    """ "png", "jpeg" or "webp" from the bytes' signature, else "bin"."""
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "bin"


def host_of(base_url: str) -> str:
    """``https://user:pw@relay.example:8443/v1?t=x`` → ``relay.example:8443``."""
    try:
        parts = urlsplit(base_url or "")
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return ""
    return f"{host}:{port}" if host and port else host


def _now() -> _dt.datetime:
    """UTC now, strictly later than the previous call (coarse clocks give equal readings)."""
    with _clock_lock:
        now = _dt.datetime.now(_dt.timezone.utc)
        last = _last_time[0]
        if last is not None and now <= last:
            now = last + _dt.timedelta(microseconds=1)
        _last_time[0] = now
        return now


def _new_id(when: _dt.datetime) -> str:
    return when.strftime("%Y%m%d-%H%M%S-%f") + "-" + _random.token_hex(2)


@dataclass(frozen=True)
class Entry:
    id: str
    image_path: Path
    meta_path: Path
    meta: dict

    @property
    def imported(self) -> bool:
        return bool(self.meta.get("imported", False))

    @property
    def corrupt(self) -> bool:
        return bool(self.meta.get("corrupt", False))

    @property
    def created(self) -> _dt.datetime:
        """When it was recorded (from the sidecar; from the id if the sidecar is damaged)."""
        try:
            return _dt.datetime.fromisoformat(self.meta["created"])
        except (KeyError, TypeError, ValueError):
            stamp = _dt.datetime.strptime(self.id[:22], "%Y%m%d-%H%M%S-%f")
            return stamp.replace(tzinfo=_dt.timezone.utc)

    @property
    def prompt(self) -> str:
        return str(self.meta.get("prompt") or "")

    @property
    def ext(self) -> str:
        return self.image_path.suffix.lstrip(".")


def _scrub(value, secrets: tuple):
    """``value`` with every secret replaced, and whether any was found."""
    if isinstance(value, str):
        found = False
        for secret in secrets:
            if secret in value:
                value, found = value.replace(secret, REDACTED), True
        return value, found
    if isinstance(value, dict):
        out, found = {}, False
        for key, item in value.items():
            key, f1 = _scrub(str(key), secrets)
            out[key], f2 = _scrub(item, secrets)
            found = found or f1 or f2
        return out, found
    if isinstance(value, (list, tuple)):
        pairs = [_scrub(item, secrets) for item in value]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    return value, False


class History:
    def __init__(
        self,
        root: Path,
        cap_bytes: Optional[int] = DEFAULT_CAP_BYTES,
        *,
        secrets: Iterable[str] = (),
    ):
        """``cap_bytes`` None: never prune. ``secrets``: strings (the API key) that must never
        reach the disk; they are replaced by "[redacted]" in the metadata, which is flagged."""
        self.root = Path(root)
        self.cap_bytes = cap_bytes
        self.secrets = tuple(s for s in secrets if s)

    def _cannot_write(self, exc: OSError) -> ConfigError:
        return ConfigError(
            _(
                "The history folder {folder} cannot be written ({reason}). Fix its permissions "
                "or set BIANXIE_HOME to another folder."
            ).format(folder=self.root, reason=os_reason(exc))
        )

    def _mkdir(self) -> None:
        if self.root.exists() and not self.root.is_dir():  # mkdir would say "it exists"
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(self.root))
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def check_writable(self) -> None:
        """Create the folder and write a probe file; call it before paying for anything."""
        probe = self.root / f".probe-{os.getpid()}-{threading.get_ident()}"
        try:
            self._mkdir()
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, b"probe")
                os.fsync(fd)
            finally:
                os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            with contextlib.suppress(OSError):
                probe.unlink()
            raise self._cannot_write(exc) from None

    def record(self, data: bytes, meta: dict, ext: Optional[str] = None) -> Entry:
        """Write ``data`` and its sidecar durably; return the entry.

        ``meta`` holds what the caller knows (prompt, params, model, usage, request_id, index,
        job_id...). A ``base_url`` in it is reduced to its host. Raises ConfigError when the
        folder cannot be written.
        """
        created = _now()
        entry_id = _new_id(created)
        ext = re.sub(r"[^a-z0-9]", "", (ext or "").lower()) or image_ext(data)
        meta = dict(meta)
        if "base_url" in meta:
            meta["host"] = host_of(str(meta.pop("base_url")))
        meta.update(
            id=entry_id,
            created=created.isoformat(),
            image=f"{entry_id}.{ext}",
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            imported=False,
        )
        meta, found = _scrub(meta, self.secrets)
        if found:
            meta["secrets_redacted"] = True
        text = json.dumps(meta, ensure_ascii=False, indent=1, sort_keys=True, default=str)
        image_path = self.root / f"{entry_id}.{ext}"
        meta_path = self.root / f"{entry_id}.json"
        try:
            self._mkdir()
            write_private(image_path, bytes(data))
            write_private(meta_path, text.encode("utf-8"))
        except OSError as exc:
            raise self._cannot_write(exc) from None
        return Entry(entry_id, image_path, meta_path, json.loads(text))

    def _read_meta(self, meta_path: Path) -> dict:
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
        except (OSError, ValueError):
            return {"corrupt": True}
        return meta if isinstance(meta, dict) else {"corrupt": True}

    def _images(self) -> dict:
        """Entry id -> image path, from the folder listing alone (no sidecar is read)."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return {}
        images = {}
        for name in names:
            match = _IMAGE_NAME.match(name)
            if match and match.group(2) != "json":
                images[match.group(1)] = self.root / name
        return images

    def _entry(self, entry_id: str, image_path: Path) -> Entry:
        meta_path = self.root / f"{entry_id}.json"
        return Entry(entry_id, image_path, meta_path, self._read_meta(meta_path))

    def entries(self) -> list:
        """All entries, newest first; a missing or damaged sidecar gives meta {"corrupt": True}."""
        images = self._images()
        return [self._entry(entry_id, images[entry_id])
                for entry_id in sorted(images, reverse=True)]

    def pending(self) -> list:
        """Entries not yet imported into an image, newest first."""
        return [e for e in self.entries() if not e.imported]

    def recoverable(self) -> list:
        """Pending entries that can be imported: a readable sidecar and an intact image."""
        return [e for e in self.pending() if not e.corrupt and not e.meta.get("broken")]

    def get(self, entry_id: str) -> Entry:
        entry_id = (entry_id or "").strip()
        if _ID.match(entry_id):
            image = self._images().get(entry_id)
            if image is not None:
                return self._entry(entry_id, image)
        raise UsageError(
            _("There is no history entry {id}: `bianxie history` lists them.").format(id=entry_id)
        )

    def mark_imported(self, entry_id: str, where: str = "") -> None:
        """Flag an entry as imported (``where``: e.g. the image and layer it went to). A
        damaged sidecar is first moved aside to ``<id>.json.damaged`` (named in the new one),
        so what is left of its prompt and usage is never overwritten."""
        entry = self.get(entry_id)
        meta = dict(entry.meta)
        if entry.corrupt and entry.meta_path.exists():
            kept = entry.meta_path.with_name(entry.meta_path.name + DAMAGED_SUFFIX)
            try:
                os.replace(entry.meta_path, kept)
            except OSError as exc:
                raise self._cannot_write(exc) from None
            meta["damaged_note"] = kept.name
        meta.update(
            imported=True,
            imported_at=_dt.datetime.now(_dt.timezone.utc).isoformat(),
            imported_to=where,
        )
        meta, found = _scrub(meta, self.secrets)
        if found:
            meta["secrets_redacted"] = True
        text = json.dumps(meta, ensure_ascii=False, indent=1, sort_keys=True, default=str)
        try:
            write_private(entry.meta_path, text.encode("utf-8"))
        except OSError as exc:
            raise self._cannot_write(exc) from None

    def _sizes(self, images: dict) -> dict:
        """Entry id -> bytes of its image and sidecar."""
        sizes = {}
        for entry_id, image_path in images.items():
            sizes[entry_id] = 0
            for path in (image_path, self.root / f"{entry_id}.json"):
                try:
                    sizes[entry_id] += path.stat().st_size
                except OSError:
                    pass
        return sizes

    def size(self) -> int:
        """Bytes used by all entries' files."""
        return sum(self._sizes(self._images()).values())

    def prune(self) -> list:
        """Delete the oldest imported entries until under the cap; return their ids.

        Pending entries (not imported, or with a damaged sidecar) are never deleted, even when
        they alone exceed the cap. Under the cap, no sidecar is read.
        """
        if self.cap_bytes is None:
            return []
        images = self._images()
        sizes = self._sizes(images)
        total = sum(sizes.values())
        deleted = []
        for entry_id in sorted(images):  # oldest first
            if total <= self.cap_bytes:
                break
            entry = self._entry(entry_id, images[entry_id])
            if not entry.imported:
                continue
            try:
                damaged = entry.meta_path.with_name(entry.meta_path.name + DAMAGED_SUFFIX)
                for path in (entry.image_path, entry.meta_path, damaged):
                    if path.exists():
                        path.unlink()
            except OSError:
                continue  # left for the next prune
            total -= sizes[entry_id]
            deleted.append(entry_id)
        return deleted


def default_history(
    env=os.environ, cap_mb: Optional[int] = 500, secrets: Iterable[str] = ()
) -> History:
    """The history under ``home()/history`` with the config's cap (``history_cap_mb``)."""
    cap = None if cap_mb is None else int(cap_mb) * 2**20
    return History(home(env) / "history", cap, secrets=secrets)
