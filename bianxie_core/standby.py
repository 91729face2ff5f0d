"""A finished request worker waiting for the plug-in's next edit, so that edit starts warm.

A fresh worker spends 0.2–0.3 s loading Python, numpy, Pillow and ``requests`` before it can
prepare a region edit. After its job, a plug-in's worker instead reserves a new job folder,
puts a ``standby-<key>`` marker in it and waits (``serve``) until:

- a host claims it: the host renames the marker to ``claimed`` (``claim``), the worker
  renames that to ``taken`` and waits for the request as a fresh worker does. A host that
  sees no ``taken`` within ``TAKE_TIMEOUT`` renames ``claimed`` to ``abandoned`` and starts a
  fresh worker on the folder; the rename that comes first wins, so exactly one worker sends.
- the GIMP that started it has exited, ``idle`` seconds passed, or another worker of the
  same key waits too: it renames the marker to ``retired``, removes the folder and exits.

The key stands for everything the worker's behaviour depends on besides the config file
(read again for every job): the core's files, the Python, the environment and the GIMP
process. A host only claims a worker with its own key.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Mapping, Optional

POLL = 0.01  # how often a waiting worker looks for a claim
HOST_CHECK = 1.0  # how often it checks that its GIMP still runs
TAKE_TIMEOUT = 1.0  # how long a host waits for a claimed worker to take the job
MARKER = "standby-"


@dataclass(frozen=True)
class Terms:
    """How a worker waits after its job: ``seconds`` at most, while ``host_pid`` runs."""

    seconds: float
    host_pid: int
    key: str

    @classmethod
    def for_host(cls, seconds: float, host_pid: int,
                 env: Mapping[str, str] = os.environ) -> Terms:
        return cls(float(seconds), host_pid, key(host_pid, env))

    def args(self) -> list:
        return ["--standby", repr(self.seconds), str(self.host_pid), self.key]

    @classmethod
    def parse(cls, args: list) -> Terms:
        seconds, host_pid, key_ = args
        return cls(float(seconds), int(host_pid), key_)


def key(host_pid: int, env: Mapping[str, str]) -> str:
    """What a waiting worker must match: the core's files, the Python, ``env``, the host."""
    digest = hashlib.sha256()
    core = Path(__file__).resolve().parent
    for path in sorted(core.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            stat = path.stat()
            digest.update(f"{path.relative_to(core)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    digest.update(repr((sys.executable, sys.version, host_pid, sorted(env.items()))).encode())
    return digest.hexdigest()[:20]


def _markers(root: Path, key_: str) -> List[Path]:
    """The markers of workers waiting with ``key_`` in ``root``, oldest folder first (a
    folder named ``.<id>`` is still being made)."""
    try:
        found = root.glob(f"*/{MARKER}{key_}")
        return sorted(m for m in found if not m.parent.name.startswith("."))
    except OSError:
        return []


def claim(key_: str, root: Path) -> Optional[Path]:
    """Host side: the folder of a worker waiting with ``key_``, now claimed; None if none."""
    for marker in _markers(root, key_):
        try:
            os.rename(marker, marker.parent / "claimed")
        except OSError:  # retired or claimed by another host meanwhile
            continue
        return marker.parent
    return None


def taken(folder: Path, timeout: float = TAKE_TIMEOUT) -> bool:
    """Host side, after ``claim``: True once the worker took the job; False when it did not
    in time, and the host took the folder back (no worker will act on it)."""
    deadline = time.monotonic() + timeout
    while True:
        if (folder / "taken").exists():
            return True
        if time.monotonic() >= deadline:
            break
        time.sleep(0.002)
    try:
        os.rename(folder / "claimed", folder / "abandoned")
    except OSError:  # taken just now
        return True
    return False


def waiting(key_: str, root: Path) -> bool:
    """Whether a worker with ``key_`` waits in ``root``."""
    return bool(_markers(root, key_))


def _another_waits(folder: Path, key_: str) -> bool:
    """Whether a worker with ``key_`` waits in a folder named before ``folder`` (when two
    finish at once, both see each other and the later one goes)."""
    return any(m.parent.name < folder.name for m in _markers(folder.parent, key_))


def mark(folder: Path, key_: str) -> None:
    """Worker side: put the marker that says a worker with ``key_`` waits in ``folder``."""
    (folder / f"{MARKER}{key_}").touch()


def serve(folder: Path, key_: str, host_pid: int, idle: float) -> bool:
    """Worker side: wait in ``folder`` (a job folder with this worker's marker) for a claim.
    True when this worker took a job there; False when it retired (a ``retired`` file says
    so: the folder is the worker's to remove) or the host gave the folder to another
    worker."""
    marker = folder / f"{MARKER}{key_}"
    deadline = time.monotonic() + idle
    next_check = 0.0
    while True:
        if not marker.exists():
            return _take(folder)
        now = time.monotonic()
        if now >= deadline or (now >= next_check and (
                not alive(host_pid) or _another_waits(folder, key_))):
            try:
                os.rename(marker, folder / "retired")
            except OSError:  # claimed meanwhile
                continue
            return False
        if now >= next_check:
            next_check = now + HOST_CHECK
        time.sleep(POLL)


def _take(folder: Path) -> bool:
    try:
        os.rename(folder / "claimed", folder / "taken")
    except OSError:  # the host gave up on this worker, or removed the folder
        return False
    return True


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    if pid <= 0:
        return False
    if os.name == "nt":
        return _alive_on_windows(pid)
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # a child of ours that ended: reaped now
            return False
    except ChildProcessError:  # not our child
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: another process's child may be a zombie (macOS has no /proc)
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _alive_on_windows(pid: int) -> bool:
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.WaitForSingleObject.restype = wintypes.DWORD
    kernel32.WaitForSingleObject.argtypes = (wintypes.HANDLE, wintypes.DWORD)
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    handle = kernel32.OpenProcess(0x1000 | 0x00100000, False, pid)  # query, synchronize
    if not handle:
        return False
    try:
        return kernel32.WaitForSingleObject(handle, 0) == 0x102  # WAIT_TIMEOUT: running
    finally:
        kernel32.CloseHandle(handle)
