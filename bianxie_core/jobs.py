"""Requests that survive the plug-in: the host's side of a job folder and its worker.

GIMP kills a plug-in's process outright when the user cancels its progress, and a user may
close the image while waiting. So the host writes the job (job_folder.py) into a folder under
``BIANXIE_HOME/jobs/<id>/`` and starts a worker (worker.py) in its own process session. The
worker sends the request, writes every image to the history (see service.py) and its progress
to ``status.json``; the host polls the folder, shows progress and partial images, imports the
result and then removes the folder. If the host is gone, the images stay in the history as
"not imported", and Recover Results brings them back.

A region edit (``submit_region``) hands the worker the plan and the raw pixels the host read;
the worker prepares the upload and places the answers (see region_job.py), so the host never
loads numpy or Pillow. The CLI is a host too (cli_waiting.py), with a private folder in the
temporary folder (``Job.private``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from bianxie_core import config as configmod
from bianxie_core import errors, standby
from bianxie_core.i18n import _
from bianxie_core.job_folder import (
    CANCEL, LEFT, LOG, REQUEST, STOP_SENDING, JobRecord, JobStatus, Kind, Placed, RawFile,
    SentFile, read_status, write_record, write_status)
from bianxie_core.params import EditRequest
from bianxie_core.raw import RawPixels

STALE_AFTER = 24 * 3600  # job folders untouched this long are removed at start-up
PRIVATE_PREFIX = "bianxie-job-"  # the CLI's job folders, in the temporary folder


def jobs_root() -> Path:
    return configmod.home() / "jobs"


def longest_wait(config: configmod.Config, n: int, retries: int = 0) -> float:
    """How long a host waits for its worker before it calls the worker hung (the worker keeps
    its own deadlines). Each single request, up to ``max_parallel`` at a time after a relay
    refused n > 1 (one more request), has its own deadline, renewed for each retry, and a
    refused stream is sent again without streaming."""
    n = n or 1
    waves = 1 if n == 1 else 1 + math.ceil(n / max(1, int(config.max_parallel or 1)))
    return float(config.timeout) * waves * 2 * (retries + 1) + 60


class Job:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._process: Optional[subprocess.Popen] = None
        self._pid = 0  # a worker this object did not start (one on standby)
        self.record: Optional[JobRecord] = None  # what was submitted
        self._claimed: Optional[dict] = None  # how to start a worker if the claimed one fails

    @property
    def id(self) -> str:
        return self.folder.name

    @classmethod
    def reserve(cls, root: Optional[Path] = None) -> Job:
        """An empty job folder: start its worker early (it loads while the host prepares),
        then ``submit`` the request, or ``cancel``."""
        folder = (root or jobs_root()) / new_id()
        folder.mkdir(parents=True, mode=0o700)
        write_status(folder, JobStatus())
        return cls(folder)

    @classmethod
    def private(cls) -> Job:
        """An empty job folder of its own in the temporary folder: the CLI's. Not under
        BIANXIE_HOME, so that an image the history's full disk cannot keep still reaches the
        CLI (``JobStatus.unkept``)."""
        folder = Path(tempfile.mkdtemp(prefix=PRIVATE_PREFIX))
        try:
            write_status(folder, JobStatus())
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return cls(folder)

    @classmethod
    def ready(cls, *, region: bool = False, terms: Optional[standby.Terms] = None,
              root: Optional[Path] = None) -> Job:
        """A job whose worker waits for its request: a worker on standby with the same
        ``terms.key`` when there is one (see standby.py), else one started now, which waits
        on standby after its job when ``terms`` allow."""
        root = root or jobs_root()
        if terms is not None and terms.seconds > 0:
            folder = standby.claim(terms.key, root)
            if folder is not None:
                job = cls(folder)
                job._pid = job.status().pid
                job._claimed = {"region": region, "terms": terms}
                return job
        job = cls.reserve(root)
        job.start(region=region, terms=terms)
        return job

    @property
    def warm(self) -> bool:
        """Whether a worker on standby took this job."""
        return self._claimed is not None and self._process is None

    def _taken(self) -> None:
        """A claimed worker must have taken the job before the request is written; when it
        has not, a new worker is started on the folder instead."""
        if self._claimed is None or self._process is not None:
            return
        if not standby.taken(self.folder):
            self._pid = 0
            self.start(**self._claimed)

    @classmethod
    def create(cls, request, *, root: Optional[Path] = None, **record) -> Job:
        job = cls.reserve(root)
        job.submit(request, **record)
        return job

    def submit(self, request, *, procedure: str = "", meta: Optional[dict] = None,
               settings=None, host_pid: int = 0,
               overrides: Optional[dict] = None) -> JobRecord:
        """Write the request; a waiting worker sends it as soon as ``request.json`` exists.
        ``settings``: what the user chose, kept with each image; ``host_pid``,
        ``overrides``: see JobRecord."""
        self._taken()
        record = JobRecord(Kind.GENERATE, procedure=procedure, meta=dict(meta or {}),
                           settings=settings, fields=request.fields(), host_pid=host_pid,
                           overrides=dict(overrides or {}))
        if isinstance(request, EditRequest):
            record.kind = Kind.EDIT
            record.inputs = [SentFile.write(self.folder, f"input-{i}{Path(image.name).suffix}",
                                            image) for i, image in enumerate(request.images)]
            if request.mask is not None:
                record.mask = SentFile.write(self.folder, "mask.png", request.mask)
        write_record(self.folder, record)
        self.record = record
        return record

    def submit_region(self, record: JobRecord, pixels: RawPixels,
                      coverage: Optional[RawPixels] = None,
                      refs: Sequence[RawPixels] = ()) -> JobRecord:
        """Hand over a planned region edit: ``pixels`` is ``record.plan.crop`` of the source
        layer, ``coverage`` the selection over it (without it, ``record.selection`` is the
        mask), ``refs`` whole reference layers. The worker prepares, checks and sends it, and
        places the answers."""
        self._taken()
        record = replace(
            record, pixels=RawFile.write(self.folder, "crop.raw", pixels),
            coverage=RawFile.write(self.folder, "coverage.raw", coverage) if coverage else None,
            refs=[RawFile.write(self.folder, f"ref-{i}.raw", ref) for i, ref in enumerate(refs)])
        write_record(self.folder, record)
        self.record = record
        return record

    def placed(self, placed: Placed) -> Tuple[RawPixels, Optional[RawPixels]]:
        """The patch and soft mask of one of ``status.placements``."""
        return (placed.patch.read(self.folder),
                placed.mask.read(self.folder) if placed.mask else None)

    def cancel(self) -> None:
        """Nothing will be submitted: the waiting worker exits without sending anything.
        Once the request is submitted the worker owns the folder, and this does nothing."""
        if (self.folder / REQUEST).exists():
            return
        cancel = self.folder / CANCEL
        try:
            cancel.write_text("")
        except OSError:
            return  # the folder is gone already
        try:
            for item in self.folder.iterdir():
                if item != cancel:
                    _unlink(item)
            if [p.name for p in self.folder.iterdir()] == [CANCEL]:
                self.remove()
        except OSError:  # the worker removed it meanwhile
            pass
        # else (Windows) a waiting worker holds its log open: it sees "cancel" and removes
        # the folder itself

    def discard(self) -> None:
        """The host gave up on this job. Not submitted: as ``cancel``. Finished well: the
        folder goes, its images are in the history. A running worker keeps the folder, and so
        does a failed one (its log says why); the start-up clean-up removes them later."""
        if not (self.folder / REQUEST).exists():
            self.cancel()
        elif self.status().state == "done":
            self.remove()

    def start(self, *, python: Optional[str] = None, env: Optional[dict] = None,
              region: bool = False, terms: Optional[standby.Terms] = None,
              host: int = 0) -> int:
        """Start the detached worker; returns its PID. ``region``: a region edit comes, so the
        worker loads the pixel pipeline while it waits; ``terms``: after the job it waits on
        standby for the next one; ``host``: the PID that will submit the request (the worker
        stops waiting for it when that process is gone)."""
        log = open(self.folder / LOG, "ab")
        try:
            args = ["run", str(self.folder.absolute())] + (["--region"] if region else [])
            if terms is not None and terms.seconds > 0:
                args += terms.args()
            if host:  # the worker gives up when this host goes before submitting
                args += ["--host", str(host)]
            self._process = _spawn(args, self.folder, log, python, env)
        finally:
            log.close()
        return self._process.pid

    def stop_sending(self) -> None:
        """Parallel single requests not yet sent are not sent (those in flight, which may be
        billed, still are waited for)."""
        with contextlib.suppress(OSError):
            (self.folder / STOP_SENDING).touch()

    def leave(self) -> None:
        """The host stops waiting (the CLI's second Ctrl-C): the worker goes on, its images
        reach the history, and the folder goes once nobody needs it."""
        with contextlib.suppress(OSError):
            (self.folder / LEFT).touch()
        status = self.status()
        if status.finished and not any(u.file for u in status.unkept):
            self.remove()

    def worker_exited(self) -> bool:
        """Whether this job's worker has ended (False when there is none)."""
        if self._process is not None:
            return self._process.poll() is not None
        return bool(self._pid) and not standby.alive(self._pid)

    def status(self) -> JobStatus:
        return read_status(self.folder)

    def wait(
        self,
        *,
        on_tick: Optional[Callable[[JobStatus, float], None]] = None,
        interval: float = 0.1,
        timeout: Optional[float] = None,
        worker_gone: Optional[Callable[[], bool]] = None,
    ) -> JobStatus:
        """Poll until the worker has finished; ``on_tick`` sees each status and elapsed time."""
        start = time.monotonic()
        taken = False  # the worker has taken the request: it may be sending
        while True:
            status = self.status()
            taken = taken or status.state != "queued"
            if on_tick:
                on_tick(status, time.monotonic() - start)
            if status.finished:
                return status
            if timeout is not None and time.monotonic() - start > timeout:
                raise errors.TimeoutError(
                    _("The request did not finish within {seconds:g} s.").format(seconds=timeout))
            if not self.folder.is_dir():
                if taken or (worker_gone is not None and not worker_gone()):
                    # removed under a running worker (a temporary-folder cleaner): it goes on
                    raise errors.ConnectionLostError(_(
                        "The job folder {folder} was removed while the request ran.").format(
                            folder=self.folder))
                # the worker dropped it before sending (no request came in time)
                raise errors.BianxieError(_("The request worker gave up on this request "
                                            "before sending it; run it again."))
            if worker_gone and worker_gone() and not self.status().finished:
                raise self._gone(self.status())
            time.sleep(interval)

    def _gone(self, status: JobStatus) -> errors.BianxieError:
        """The error of a worker that ended without finishing (killed, a broken Python)."""
        log = self.folder / LOG
        if status.state == "queued":  # it never took the request
            return errors.UsageError(_("The request worker stopped before sending anything "
                                       "(see {log}): nothing was sent.").format(log=log))
        error = errors.ConnectionLostError(_(
            "The request worker stopped unexpectedly (see {log}). The request may have been "
            "charged: images that arrived before are in the history, one that arrives now is "
            "lost.").format(log=log))
        error.may_be_billed = False  # said above: no host's note that a late image is kept
        return error

    def partial_path(self, name: str) -> Path:
        return self.folder / name

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def warm_up(terms: Optional[standby.Terms], root: Optional[Path] = None) -> Optional[int]:
    """Start a worker that waits on standby at once, unless one with ``terms.key`` waits
    already: called before a dialog, so the edit that follows finds it ready. Its PID."""
    root = root or jobs_root()
    if terms is None or terms.seconds <= 0 or standby.waiting(terms.key, root):
        return None
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return _spawn(["standby", str(root.absolute())] + terms.args(), root,
                  subprocess.DEVNULL).pid


def _spawn(args: List[str], cwd: Path, log, python: Optional[str] = None,
           env: Optional[dict] = None) -> subprocess.Popen:
    """``python -m bianxie_core.worker ARGS``, detached, in its own process session."""
    # the worker imports the core and requests from where this process finds them (a GIMP
    # plug-in's vendor folder is on sys.path only, never on PYTHONPATH); looking requests
    # up does not import it
    found = importlib.util.find_spec("requests")
    paths = [str(Path(origin).resolve().parent.parent) for origin in
             (sys.modules[__package__].__file__, found.origin if found else None) if origin]
    child_env = _absolute_paths(dict(os.environ if env is None else env))
    old = child_env.get("PYTHONPATH")
    child_env["PYTHONPATH"] = os.pathsep.join(paths + ([old] if old else []))
    kwargs = dict(stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=child_env,
                  cwd=str(cwd), close_fds=True)
    if os.name == "nt":
        kwargs["creationflags"] = 0x00000008 | 0x00000200  # DETACHED, NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True
    return subprocess.Popen([python or sys.executable, "-m", "bianxie_core.worker"] + args,
                            **kwargs)


# Variables naming a file or folder: the worker runs in its job folder, so a relative one is
# made absolute from the host's working folder, where the user meant it.
PATH_VARS = ("BIANXIE_HOME", "HOME", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE",
             "SSL_CERT_DIR")


def _absolute_paths(env: dict) -> dict:
    for name in PATH_VARS:
        value = env.get(name, "")
        if value.strip() and not os.path.isabs(os.path.expanduser(value.strip())):
            env[name] = os.path.abspath(value.strip())
    return env


def unkept_left() -> List[Path]:
    """Paid images the history could not keep, left in the job folders of CLIs that are gone
    (killed, or stopped waiting) before they could write them out (JobStatus.unkept)."""
    from bianxie_core.job_folder import read_record

    found = []
    for folder in sorted(Path(tempfile.gettempdir()).glob(PRIVATE_PREFIX + "*")):
        status = read_status(folder)
        files = [folder / u.file for u in status.unkept if u.file]
        if not (status.finished and files):
            continue
        try:
            host = read_record(folder).host_pid
        except (OSError, ValueError, TypeError):
            continue
        if not standby.alive(host):
            found += [path for path in files if path.is_file()]
    return found


def clean_stale(root: Optional[Path] = None, older_than: float = STALE_AFTER) -> List[str]:
    """Remove job folders nothing has touched for ``older_than`` seconds: finished ones, and
    those of workers that died without a final status (no request runs that long). Their
    images stay in the history."""
    root = root or jobs_root()
    removed = []
    if not root.is_dir():
        return removed
    now = time.time()
    for folder in root.iterdir():
        try:
            stale = folder.is_dir() and now - _last_touched(folder) > older_than
        except OSError:  # a retiring worker removed it meanwhile
            continue
        if stale:
            Job(folder).remove()
            removed.append(folder.name)
    return removed


def _last_touched(folder: Path) -> float:
    times = [folder.stat().st_mtime]
    for item in folder.iterdir():
        try:
            times.append(item.stat().st_mtime)
        except OSError:  # removed meanwhile
            pass
    return max(times)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def new_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:8]
