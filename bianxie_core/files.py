"""Files that must survive a crash, a full disk and a second process: atomic replacement
and an exclusive lock for read-modify-write."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Optional


def read_at_most(path: Path, limit: int) -> Optional[bytes]:
    """The file's bytes, or None when it holds more than ``limit`` (a 3 GB file or /dev/zero
    given by mistake is never read whole). OSError as reading raises it."""
    with open(path, "rb") as file:
        data = file.read(limit + 1)
    return data if len(data) <= limit else None


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` by ``data``, readable by the owner only from the start."""
    write_atomic(path, data, 0o600)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` by ``data`` so that it is either the old file or the whole new one,
    even on a full disk: a temporary file (created 0600, then given ``mode``) in the same
    folder, flushed to the disk, then renamed over ``path``. The temporary name is short, so
    a ``path`` with a 255-byte name works too."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bianxie-", suffix=".tmp")
    try:
        try:
            if mode != 0o600 and hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX; Windows cannot open a folder and needs no such step)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(path: Path):
    """Hold an exclusive lock on ``<path>.lock`` (fcntl on POSIX, msvcrt on Windows) while
    ``path`` is read, changed and written; OSError when the lock file cannot be made."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _lock(fd, True)
        try:
            yield
        finally:
            _lock(fd, False)
    finally:
        os.close(fd)


def _lock(fd: int, on: bool) -> None:
    if os.name == "nt":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        while True:
            try:  # LK_LOCK itself retries for about 10 s, then raises
                msvcrt.locking(fd, msvcrt.LK_LOCK if on else msvcrt.LK_UNLCK, 1)
                return
            except OSError:
                if not on:
                    return
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX if on else fcntl.LOCK_UN)
