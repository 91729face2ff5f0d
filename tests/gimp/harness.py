"""Run real GIMP headless inside a provisioned root (see provision.py) with ``chroot``.

Batch scripts are files inside the root, run by python-fu-eval with
``exec(open('/tmp/bx-tests/NAME.py').read())``. They report by printing lines
``MARK name value`` (use the ``mark(name, value)`` helper every script gets); tests judge by
those markers, never by GIMP's exit status.

Processes started in a chroot are ordinary host processes: ``GimpRoot.pids(...)`` finds them
in the host's /proc by their root directory and command line.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

from tests.gimp.provision import CLEAN_PATH, RootInfo

SCRIPTS_DIR = "/tmp/bx-tests"  # inside the root
BATCH_TIMEOUT = 180.0

PRELUDE = '''\
import sys as _bx_sys, traceback as _bx_tb


def mark(name, value=""):
    print("MARK", name, value, flush=True)


'''

WRAPPER = '''
_bx_code = {code!r}
try:
    exec(compile(_bx_code, {path!r}, "exec"), globals())
except BaseException as _bx_e:
    _bx_tb.print_exc()
    mark("batch-error", type(_bx_e).__name__ + ": " + str(_bx_e).replace("\\n", " "))
else:
    mark("batch-done", 1)
_bx_sys.stdout.flush()
'''


def parse_marks(stdout: str) -> List[Tuple[str, str]]:
    """``MARK name value`` lines as (name, value), in order; the value may be empty."""
    marks = []
    for line in stdout.splitlines():
        parts = line.strip().split(" ", 2)
        if len(parts) >= 2 and parts[0] == "MARK":
            marks.append((parts[1], parts[2] if len(parts) > 2 else ""))
    return marks


@dataclass
class BatchResult:
    argv: List[str]
    returncode: Optional[int]
    stdout: str
    stderr: str
    marks: List[Tuple[str, str]] = field(default_factory=list)

    @property
    def markers(self) -> Dict[str, str]:
        """Last value of each marker name."""
        return dict(self.marks)

    def values(self, name: str) -> List[str]:
        return [v for n, v in self.marks if n == name]

    def marker(self, name: str) -> str:
        """The marker's value; fails the test with GIMP's whole output when it is missing."""
        if name not in self.markers:
            raise AssertionError(f"no MARK {name} in GIMP's output\n{self.describe()}")
        return self.markers[name]

    @property
    def ok(self) -> bool:
        return "batch-done" in self.markers and "batch-error" not in self.markers

    def describe(self) -> str:
        return (f"$ {' '.join(self.argv)}\nexit {self.returncode}\n--- stdout\n{self.stdout}"
                f"\n--- stderr\n{self.stderr}")


class Background:
    """A process started inside the root that a test can watch and kill."""

    def __init__(self, root: "GimpRoot", proc: subprocess.Popen, log_dir: Path):
        self.root = root
        self.proc = proc
        self.log_dir = log_dir

    @property
    def stdout(self) -> str:
        return (self.log_dir / "stdout").read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return (self.log_dir / "stderr").read_text(errors="replace")

    def pids(self, needle: str = "") -> List[int]:
        """Processes of this run's session whose command line contains ``needle``."""
        return [p for p in self.root.pids(needle) if _session(p) == self.proc.pid]

    def wait(self, timeout: float) -> Optional[int]:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 30.0) -> None:
        """Signal GIMP and every process it started (its whole session) until all are gone."""
        deadline = time.monotonic() + timeout
        while True:
            members = self.pids()
            for pid in members:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            if self.proc.poll() is not None and not members:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"processes {members} outlived kill({sig})")
            time.sleep(0.05)  # let the kernel finish the exits, then look again

    def __enter__(self) -> "Background":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.kill()
        shutil.rmtree(self.log_dir, ignore_errors=True)


@dataclass(frozen=True)
class GimpRoot:
    name: str  # "3.0" / "3.2": the GIMP series and profile folder name
    suite: str
    path: Path
    gimp_console: str  # inside the root
    gimp_version: str
    python_version: str

    @classmethod
    def from_info(cls, info: RootInfo) -> "GimpRoot":
        return cls(info.name, info.suite, info.path, info.gimp_console, info.gimp_version,
                   info.python_version)

    @property
    def label(self) -> str:
        return f"GIMP {self.gimp_version} / Python {self.python_version}"

    def host_path(self, inner: Union[str, Path]) -> Path:
        """The host path of a path inside the root."""
        return self.path / str(inner).lstrip("/")

    def inner_path(self, host: Union[str, Path]) -> str:
        return "/" + str(Path(host).relative_to(self.path))

    def environ(self, env: Optional[Mapping[str, str]] = None, home: str = "/root"
                ) -> Dict[str, str]:
        """A clean environment: nothing from the host (no VIRTUAL_ENV, no host PATH)."""
        base = {"PATH": CLEAN_PATH, "HOME": home, "LANG": "C.UTF-8", "TMPDIR": "/tmp"}
        return {**base, **(env or {})}

    def run(self, argv: Sequence[str], env: Optional[Mapping[str, str]] = None,
            timeout: float = 120.0, home: str = "/root", input: Optional[str] = None
            ) -> subprocess.CompletedProcess:
        """Run ``argv`` inside the root; kills the whole process group on timeout."""
        full = ["chroot", str(self.path), *argv]
        proc = subprocess.Popen(full, env=self.environ(env, home), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.PIPE if input else
                                subprocess.DEVNULL, text=True, errors="replace",
                                start_new_session=True, cwd="/")
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise AssertionError(f"timed out after {timeout:.0f} s: {' '.join(argv)}\n"
                                 f"--- stdout\n{out}\n--- stderr\n{err}") from None
        return subprocess.CompletedProcess(full, proc.returncode, out, err)

    def start(self, argv: Sequence[str], env: Optional[Mapping[str, str]] = None,
              home: str = "/root") -> Background:
        """Start ``argv`` inside the root in the background, in its own process group."""
        log_dir = Path(tempfile.mkdtemp(prefix="bx-bg-"))
        with open(log_dir / "stdout", "w") as out, open(log_dir / "stderr", "w") as err:
            proc = subprocess.Popen(["chroot", str(self.path), *argv],
                                    env=self.environ(env, home), stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, start_new_session=True, cwd="/")
        return Background(self, proc, log_dir)

    def write_script(self, code: str, name: Optional[str] = None) -> str:
        """Write a batch script (prelude + ``code``) into the root; returns its inner path."""
        inner = f"{SCRIPTS_DIR}/{name or uuid.uuid4().hex[:12]}.py"
        host = self.host_path(inner)
        host.parent.mkdir(parents=True, exist_ok=True)
        host.write_text(PRELUDE + WRAPPER.format(code=code, path=inner))
        return inner

    def batch_argv(self, inner_script: str) -> List[str]:
        return [self.gimp_console, "-i", "-n", "--quit", "--batch-interpreter=python-fu-eval",
                "-b", f"exec(open({inner_script!r}).read())"]

    def run_batch(self, code_or_script: Union[str, Path], env: Optional[Mapping[str, str]] = None,
                  timeout: float = BATCH_TIMEOUT, home: str = "/root") -> BatchResult:
        """Run Python code (a string, or a host ``Path`` to a script) in GIMP's python-fu-eval.

        The code runs with Gimp, Gegl, Gio, GLib, GObject and ``mark`` in its globals.
        """
        code = code_or_script.read_text() if isinstance(code_or_script, Path) else code_or_script
        inner = self.write_script(code)
        argv = self.batch_argv(inner)
        try:
            proc = self.run(argv, env=env, timeout=timeout, home=home)
        finally:
            self.host_path(inner).unlink(missing_ok=True)
        return BatchResult(argv, proc.returncode, proc.stdout, proc.stderr,
                           parse_marks(proc.stdout))

    def pids(self, needle: str = "") -> List[int]:
        """Host PIDs of processes running inside this root whose command line has ``needle``."""
        root = os.path.realpath(self.path)
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{entry}/root") != root:
                    continue
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue  # the process ended meanwhile
            if needle in cmdline:
                found.append(int(entry))
        return sorted(found)


def _session(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[3])  # after ")": state ppid pgrp session
    except (OSError, IndexError, ValueError):
        return None
