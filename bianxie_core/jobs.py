"""Requests that survive the plug-in: a detached worker process per paid request.

GIMP kills a plug-in's process outright when the user cancels its progress, and a user may
close the image while waiting. So the host writes the request into a job folder under
``BIANXIE_HOME/jobs/<id>/`` and starts a worker (``python -m bianxie_core.jobs run DIR``) in
its own process session. The worker sends the request, writes every image to the history
(see service.py) and its progress to ``status.json``; the host polls the folder, shows
progress and partial images, imports the result and then removes the folder. If the host is
gone, the images stay in the history as "not imported", and Recover Results brings them back.

A region edit (``submit_region``) hands the worker the plan and the raw pixels the host read;
the worker prepares the upload and places the answers (see region_job.py), so the host never
loads numpy or Pillow.

Folder layout: ``request.json`` (kind, fields or plan and settings, meta; never the key),
``input-N.<ext>`` and ``mask.png`` or ``crop.raw``, ``coverage.raw`` and ``ref-N.raw``,
``status.json``, ``partial-K.png``, ``placed-N.raw`` and ``placed-N-mask.raw``, ``worker.log``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from bianxie_core import config as configmod
from bianxie_core import errors, standby
from bianxie_core.i18n import _
from bianxie_core.params import EditRequest, GenerateRequest, ImageFile
from bianxie_core.raw import RawPixels

STALE_AFTER = 24 * 3600  # job folders untouched this long are removed at start-up
SUBMIT_TIMEOUT = 300.0  # a started worker waits this long for its request, then gives up
REPLACE_ATTEMPTS = 100
REQUEST_POLL = 0.002  # the worker waits for its request only while the host prepares it


def jobs_root() -> Path:
    return configmod.home() / "jobs"


@dataclass
class JobStatus:
    state: str = "queued"  # queued | running | done | failed
    partials: List[str] = field(default_factory=list)  # partial image file names, in order
    results: List[dict] = field(default_factory=list)  # {"entry": id, "path": image path}
    error: str = ""
    error_type: str = ""
    may_be_billed: bool = False
    refused: bool = False  # a UsageError: the input was refused before anything was sent
    usage: dict = field(default_factory=dict)
    price: float = 0.0
    currency: str = ""
    warnings: List[str] = field(default_factory=list)
    request_ids: List[str] = field(default_factory=list)
    placements: List[dict] = field(default_factory=list)  # region jobs: see region_job.py
    pid: int = 0
    updated: float = 0.0

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    for attempt in range(REPLACE_ATTEMPTS):
        try:
            os.replace(tmp, path)
            return
        except PermissionError:  # Windows: the host has status.json open for a moment
            if attempt == REPLACE_ATTEMPTS - 1:
                raise
            time.sleep(0.01)


class Job:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._status_lock = threading.Lock()  # parallel requests save images from threads
        self._process: Optional[subprocess.Popen] = None
        self._pid = 0  # a worker this object did not start (one on standby)
        self._claimed: Optional[dict] = None  # how to start a worker if the claimed one fails

    @property
    def id(self) -> str:
        return self.folder.name

    # -- host side ----------------------------------------------------------------------

    @classmethod
    def reserve(cls, root: Optional[Path] = None) -> "Job":
        """An empty job folder: start its worker early (it loads while the host prepares),
        then ``submit`` the request, or ``cancel``."""
        folder = (root or jobs_root()) / _new_id()
        folder.mkdir(parents=True, mode=0o700)
        job = cls(folder)
        job._write_status(JobStatus())
        return job

    @classmethod
    def ready(cls, *, region: bool = False, terms: Optional[standby.Terms] = None,
              root: Optional[Path] = None) -> "Job":
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
    def create(cls, request, *, meta: Optional[dict] = None, root: Optional[Path] = None) -> "Job":
        job = cls.reserve(root)
        job.submit(request, meta=meta)
        return job

    def submit(self, request, *, meta: Optional[dict] = None) -> None:
        """Write the request; a waiting worker sends it as soon as ``request.json`` exists."""
        self._taken()
        kind = "edit" if isinstance(request, EditRequest) else "generate"
        inputs, mask = [], None
        if kind == "edit":
            for i, image in enumerate(request.images):
                name = f"input-{i}{Path(image.name).suffix}"
                (self.folder / name).write_bytes(image.data)
                inputs.append({"file": name, "name": image.name, "type": image.content_type})
            if request.mask is not None:
                (self.folder / "mask.png").write_bytes(request.mask.data)
                mask = {"file": "mask.png", "name": request.mask.name,
                        "type": request.mask.content_type}
        _write_json(self.folder / "request.json", {
            "kind": kind, "fields": request.fields(), "inputs": inputs, "mask": mask,
            "meta": meta or {},
        })

    def submit_region(self, plan, settings, pixels: RawPixels, coverage: Optional[RawPixels],
                      *, coverage_rect=None, refs=(), meta: Optional[dict] = None) -> None:
        """Hand over a planned region edit: ``pixels`` is ``plan.crop`` of the source layer,
        ``coverage`` the selection over it (or ``coverage_rect``, a rectangle in layer
        coordinates, when there is no selection to read), ``refs`` whole reference layers.
        The worker prepares, checks and sends it, and places the answers."""
        self._taken()
        spec = {"kind": "region", "plan": plan.to_json(), "settings": settings.stored(),
                "pixels": pixels.save(self.folder / "crop.raw"), "coverage": None,
                "coverage_rect": list(coverage_rect) if coverage_rect else None,
                "refs": [ref.save(self.folder / f"ref-{i}.raw") for i, ref in enumerate(refs)],
                "meta": meta or {}}
        if coverage is not None:
            spec["coverage"] = coverage.save(self.folder / "coverage.raw")
        _write_json(self.folder / "request.json", spec)

    def placed(self, placement: dict) -> Tuple[RawPixels, Optional[RawPixels]]:
        """Host side: the patch and soft mask of one of ``status.placements``."""
        mask = placement.get("mask")
        return (RawPixels.load(self.folder, placement["patch"]),
                RawPixels.load(self.folder, mask) if mask else None)

    def cancel(self) -> None:
        """Nothing will be submitted: the waiting worker exits without sending anything.
        Once the request is submitted the worker owns the folder, and this does nothing."""
        if (self.folder / "request.json").exists():
            return
        cancel = self.folder / "cancel"
        try:
            cancel.write_text("")
        except OSError:
            return  # the folder is gone already
        try:
            for item in self.folder.iterdir():
                if item != cancel:
                    _unlink(item)
            if [p.name for p in self.folder.iterdir()] == ["cancel"]:
                self.remove()
        except OSError:  # the worker removed it meanwhile
            pass
        # else (Windows) a waiting worker holds its log open: it sees "cancel" and removes
        # the folder itself

    def discard(self) -> None:
        """The host gave up on this job. Not submitted: as ``cancel``. Finished well: the
        folder goes, its images are in the history. A running worker keeps the folder, and so
        does a failed one (its log says why); the start-up clean-up removes them later."""
        if not (self.folder / "request.json").exists():
            self.cancel()
        elif self.status().state == "done":
            self.remove()

    def wait_for_request(self, timeout: float = SUBMIT_TIMEOUT) -> bool:
        """Worker side: True once ``request.json`` exists; False when cancelled or abandoned."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.folder / "request.json").exists():
                return True
            if (self.folder / "cancel").exists() or not self.folder.is_dir():
                return False
            time.sleep(REQUEST_POLL)
        return False

    def start(self, *, python: Optional[str] = None, env: Optional[dict] = None,
              region: bool = False, terms: Optional[standby.Terms] = None) -> int:
        """Start the detached worker; returns its PID. ``region``: a region edit comes, so the
        worker loads the pixel pipeline while it waits; ``terms``: after the job it waits on
        standby for the next one."""
        log = open(self.folder / "worker.log", "ab")
        try:
            self._process = _spawn(["run", str(self.folder)] + (["--region"] if region else [])
                                   + (terms.args() if terms is not None and terms.seconds > 0
                                      else []), self.folder, log, python, env)
        finally:
            log.close()
        return self._process.pid

    def worker_exited(self) -> bool:
        """Whether this job's worker has ended (False when there is none)."""
        if self._process is not None:
            return self._process.poll() is not None
        return bool(self._pid) and not standby.alive(self._pid)

    def status(self) -> JobStatus:
        try:
            data = json.loads((self.folder / "status.json").read_text("utf-8"))
        except (OSError, ValueError):
            return JobStatus()
        return JobStatus(**{k: v for k, v in data.items() if k in JobStatus.__dataclass_fields__})

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
        while True:
            status = self.status()
            if on_tick:
                on_tick(status, time.monotonic() - start)
            if status.finished:
                return status
            if timeout is not None and time.monotonic() - start > timeout:
                raise errors.TimeoutError(
                    _("The request did not finish within {seconds:g} s.").format(seconds=timeout))
            if not self.folder.is_dir():  # the worker dropped it before sending (timeout)
                raise errors.BianxieError(_("The request worker gave up on this request "
                                            "before sending it; run it again."))
            if worker_gone and worker_gone() and not self.status().finished:
                raise errors.ConnectionLostError(
                    _("The request worker stopped unexpectedly; see {log}.").format(
                        log=self.folder / "worker.log"))
            time.sleep(interval)

    def partial_path(self, name: str) -> Path:
        return self.folder / name

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- worker side --------------------------------------------------------------------

    def _write_status(self, status: JobStatus) -> None:
        with self._status_lock:
            status.updated = time.time()
            _write_json(self.folder / "status.json", status.__dict__)

    def _request(self, service):
        """The request, and the region work when the worker prepares and places it."""
        spec = json.loads((self.folder / "request.json").read_text("utf-8"))
        if spec["kind"] == "region":
            from bianxie_core.region_job import RegionWork

            work = RegionWork.load(self.folder, spec)
            for name in ("crop.raw", "coverage.raw") + tuple(r["file"] for r in spec["refs"]):
                (self.folder / name).unlink(missing_ok=True)  # in memory now; can be large
            return spec, work.request(service), work
        fields_ = dict(spec["fields"])
        if spec["kind"] == "generate":
            return spec, GenerateRequest(**fields_), None
        images = [ImageFile(data=(self.folder / i["file"]).read_bytes(), name=i["name"],
                            content_type=i["type"]) for i in spec["inputs"]]
        mask = None
        if spec.get("mask"):
            m = spec["mask"]
            mask = ImageFile(data=(self.folder / m["file"]).read_bytes(), name=m["name"],
                             content_type=m["type"])
        return spec, EditRequest(images=images, mask=mask, **fields_), None

    def run(self, service=None) -> JobStatus:
        """Send the request and record everything; never raises for API errors."""
        from bianxie_core.service import Service

        status = JobStatus(state="running", pid=os.getpid())
        self._write_status(status)
        sending = False
        try:
            service = service or Service()
            spec, request, work = self._request(service)
            placer = work.placer_in_background() if work else None

            def on_partial(index: int, data: bytes) -> None:
                name = f"partial-{len(status.partials)}.png"
                (self.folder / name).write_bytes(data)
                status.partials.append(name)
                self._write_status(status)

            def on_saved(item) -> None:
                with self._status_lock:
                    status.results.append({"entry": item.entry.id,
                                           "path": str(item.entry.image_path),
                                           "index": item.index})
                self._write_status(status)

            meta = dict(spec.get("meta") or {})
            run = service.generate if spec["kind"] == "generate" else service.edit
            sending = True
            outcome = run(request, on_partial=on_partial, on_saved=on_saved, meta=meta,
                          job_id=self.id)
            status.usage, status.price = outcome.usage, outcome.price
            status.currency = outcome.currency
            status.warnings = outcome.warnings + outcome.failures
            status.request_ids = outcome.request_ids
            if outcome.history_error:  # paid, but not kept: say so, never "done"
                raise errors.ResponseError(_(
                    "The image was paid for, but the history could not keep it: {reason}"
                ).format(reason=outcome.history_error))
            if placer is not None:  # every image is in the history already
                self._place(placer.result(), outcome.images, status)
            status.state = "done"
        except errors.BianxieError as exc:
            status.state, status.error = "failed", str(exc)
            status.error_type, status.may_be_billed = type(exc).__name__, exc.may_be_billed
            status.refused = isinstance(exc, errors.UsageError) and not sending
        except Exception as exc:  # a bug: still end with a message, never a silent hang
            status.state, status.error_type = "failed", type(exc).__name__
            status.error = _("Unexpected error in the request worker ({kind}); see {log}.").format(
                kind=type(exc).__name__, log=self.folder / "worker.log")
            import traceback

            traceback.print_exc()
        if status.state == "failed" and status.results and not status.may_be_billed:
            status.error += " " + _("The {n} image(s) already received are kept: use Recover "
                                    "Results, or `bianxie history`.").format(n=len(status.results))
        self._write_status(status)
        return status


    def _place(self, placer, images, status: JobStatus) -> None:
        from bianxie_core.region_job import write_placement

        for image in sorted(images, key=lambda item: item.index):
            placement = placer.place(image.data)
            status.placements.append(write_placement(self.folder, image.index, placement))


def warm_up(terms: Optional[standby.Terms], root: Optional[Path] = None) -> Optional[int]:
    """Start a worker that waits on standby at once, unless one with ``terms.key`` waits
    already: called before a dialog, so the edit that follows finds it ready. Its PID."""
    root = root or jobs_root()
    if terms is None or terms.seconds <= 0 or standby.waiting(terms.key, root):
        return None
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return _spawn(["standby", str(root)] + terms.args(), root, subprocess.DEVNULL).pid


def _spawn(args: List[str], cwd: Path, log, python: Optional[str] = None,
           env: Optional[dict] = None) -> subprocess.Popen:
    """``python -m bianxie_core.jobs ARGS``, detached, in its own process session."""
    # the worker imports the core and requests from where this process finds them (a GIMP
    # plug-in's vendor folder is on sys.path only, never on PYTHONPATH); looking requests
    # up does not import it
    found = importlib.util.find_spec("requests")
    paths = [str(Path(origin).resolve().parent.parent) for origin in
             (sys.modules[__package__].__file__, found.origin if found else None) if origin]
    child_env = dict(os.environ if env is None else env)
    old = child_env.get("PYTHONPATH")
    child_env["PYTHONPATH"] = os.pathsep.join(paths + ([old] if old else []))
    kwargs = dict(stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=child_env,
                  cwd=str(cwd), close_fds=True)
    if os.name == "nt":
        kwargs["creationflags"] = 0x00000008 | 0x00000200  # DETACHED, NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True
    return subprocess.Popen([python or sys.executable, "-m", "bianxie_core.jobs"] + args,
                            **kwargs)


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


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    region = "--region" in argv
    rest = [a for a in argv if a != "--region"]
    terms = None
    if len(rest) == 6 and rest[2] == "--standby":
        terms, rest = standby.Terms.parse(rest[3:]), rest[:2]
    if len(rest) != 2 or rest[0] not in ("run", "standby") or (
            rest[0] == "standby" and terms is None):
        print("usage: python -m bianxie_core.jobs run JOB_FOLDER [--region] "
              "[--standby SECONDS HOST_PID KEY]\n"
              "       python -m bianxie_core.jobs standby JOBS_FOLDER "
              "--standby SECONDS HOST_PID KEY", file=sys.stderr)
        return 2
    if rest[0] == "standby":  # no job yet: wait for one (warm_up)
        job = _on_standby(Path(rest[1]), terms)
        if job is None:
            return 0
        region = True
    else:
        job = Job(Path(rest[1]))
    service = _ready_service(region)
    while True:
        if job.wait_for_request():
            job.run(service)
        else:
            _log_to(Path(os.devnull))  # Windows removes no open file
            job.remove()  # cancelled, or the host died before submitting: nothing was sent
        if terms is None:
            return 0
        job = _on_standby(job.folder.parent, terms)
        if job is None:
            return 0
        service = _ready_service(region=True)


def _on_standby(root: Path, terms: standby.Terms) -> Optional[Job]:
    """Wait for the host's next job in a new folder; that job, or None once retired. The
    folder appears whole, with this worker's PID and the marker: it is made under a hidden
    name and renamed."""
    import bianxie_core.region_job  # noqa: F401 - loaded while nobody waits

    job_id = _new_id()
    making = root / f".{job_id}"
    making.mkdir(parents=True, mode=0o700)
    Job(making)._write_status(JobStatus(pid=os.getpid()))
    standby.mark(making, terms.key)
    os.rename(making, root / job_id)
    job = Job(root / job_id)
    os.chdir(root)  # the folder of the last job can go (Windows keeps a working directory)
    _log_to(job.folder / "worker.log")

    if standby.serve(job.folder, terms.key, terms.host_pid, terms.seconds):
        return job
    if (job.folder / "retired").exists():  # else the host took the folder back
        _log_to(Path(os.devnull))
        job.remove()
    return None


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _new_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:8]


def _log_to(path: Path) -> None:
    """Send this process's stdout and stderr (tracebacks) to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _ready_service(region: bool = False):
    """A Service with requests loaded, the config read and the HTTP session made (and the
    pixel pipeline, for a region edit), while the host prepares the request; None when that
    fails (``Job.run`` then reports why)."""
    from bianxie_core.service import Service

    try:
        if region:
            import bianxie_core.region_job  # noqa: F401 - loaded now, used by run()
        service = Service()
        service.client  # noqa: B018 - made on first use
    except Exception:  # noqa: BLE001 - a head start only: run() builds it again and reports
        return None
    return service


if __name__ == "__main__":
    sys.exit(main())
