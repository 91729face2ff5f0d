"""The request worker: ``python -m bianxie_core.worker run JOB_FOLDER`` (see jobs.py).

It waits for the job's ``request.json``, sends the request, records every image in the
history the moment it exists and writes its progress to ``status.json``; for a region job it
also prepares the upload and places the answers (region_job.py). With ``--standby`` it then
waits for the same GIMP's next job (standby.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import List, Optional

from bianxie_core import errors, standby
from bianxie_core.i18n import _
from bianxie_core.job_folder import (
    CANCEL, LEFT, LOG, REQUEST, STOP_SENDING, JobRecord, JobStatus, Kind, Placed, Result,
    Unkept, read_record, write_status)
from bianxie_core.jobs import Job, new_id
from bianxie_core.params import EditRequest, GenerateRequest
from bianxie_core.transfer import Transfer

SUBMIT_TIMEOUT = 300.0  # a started worker waits this long for its request, then gives up
REQUEST_POLL = 0.002  # the worker waits for its request only while the host prepares it
HOST_CHECK = 0.5  # how often a worker told its host's PID checks that the host still runs


def wait_for_request(folder: Path, timeout: float = SUBMIT_TIMEOUT, host: int = 0) -> bool:
    """True once ``request.json`` exists; False when cancelled or abandoned (``host``: the
    process that will submit it has gone)."""
    deadline = time.monotonic() + timeout
    next_check = 0.0
    while time.monotonic() < deadline:
        if (folder / REQUEST).exists():
            return True
        if (folder / CANCEL).exists() or not folder.is_dir():
            return False
        if host and time.monotonic() >= next_check:
            if not standby.alive(host):
                return (folder / REQUEST).exists()
            next_check = time.monotonic() + HOST_CHECK
        time.sleep(REQUEST_POLL)
    return False


def run(job: Job, service=None) -> JobStatus:
    """Send the job's request and record everything; never raises for API errors."""
    folder, lock = job.folder, threading.Lock()  # parallel requests save images from threads
    status = JobStatus(state="running", pid=os.getpid())

    def save_status(final: bool = False) -> None:
        """A status that cannot be written (the folder's disk full) never stops the request:
        the next one says it all. The final one first frees the previews' room."""
        with lock:
            try:
                write_status(folder, status)
            except OSError:
                if not final:
                    return
                for name in status.partials:
                    (folder / name).unlink(missing_ok=True)
                status.partials = []
                write_status(folder, status)

    save_status()
    sending = False
    watching = threading.Event()
    try:
        record = read_record(folder)
        service = _service_for(record, service)
        request, work = _request(folder, record, service)
        placer = work.placer_in_background() if work else None

        def on_partial(index: int, data: bytes) -> None:
            name = f"partial-{len(status.partials)}.png"
            try:
                (folder / name).write_bytes(data)
            except OSError:  # a full disk loses the preview, never the image
                (folder / name).unlink(missing_ok=True)
                return
            status.partials.append(name)
            save_status()

        def on_saved(item) -> None:
            with lock:
                status.results.append(Result(item.entry.id, str(item.entry.image_path),
                                             item.index))
            save_status()

        def on_transfer(direction: str, done: int, total) -> None:
            status.transfer = Transfer(direction, done, total)  # transfer.py throttles
            save_status()

        if record.host_pid:
            _watch_for_stop(folder, service, watching)
        send = service.generate if record.kind is Kind.GENERATE else service.edit
        sending = True
        outcome = send(request, on_partial=on_partial, on_saved=on_saved,
                       meta=record.history_meta(), job_id=job.id, on_transfer=on_transfer)
        status.usage, status.price = outcome.usage, outcome.price
        status.price_known = outcome.price_known
        status.currency = outcome.currency
        status.warnings, status.failures = outcome.warnings, outcome.failures
        status.request_ids = outcome.request_ids
        if outcome.history_error:  # paid, but not kept: say so, never "done"
            status.history_error = outcome.history_error
            status.unkept = [_hand_over(folder, image) for image in outcome.images
                             if image.entry is None]
            raise errors.ResponseError(_(
                "The image was paid for, but the history could not keep it: {reason}"
            ).format(reason=outcome.history_error))
        if placer is not None:  # every image is in the history already
            placer = placer.result()
            for image in sorted(outcome.images, key=lambda item: item.index):
                status.placements.append(Placed.write(folder, image.index,
                                                      placer.place(image.data)))
        status.state = "done"
    except errors.BianxieError as exc:
        status.state, status.error = "failed", str(exc)
        status.error_type, status.may_be_billed = type(exc).__name__, exc.may_be_billed
        status.error_message = exc.message
        status.error_request_id = str(getattr(exc, "request_id", None) or "")
        status.refused = isinstance(exc, errors.UsageError) and not sending
    except Exception as exc:  # a bug: still end with a message, never a silent hang
        status.state, status.error_type = "failed", type(exc).__name__
        status.error = _("Unexpected error in the request worker ({kind}); see {log}.").format(
            kind=type(exc).__name__, log=folder / LOG)
        status.error_message = status.error
        traceback.print_exc()
    watching.set()
    if status.state == "failed" and status.results and not status.may_be_billed:
        status.error += " " + _("The {n} image(s) already received are kept: use Recover "
                                "Results, or `bianxie history`.").format(n=len(status.results))
    save_status(final=True)
    return status


def left_behind(job: Job, status: JobStatus) -> bool:
    """Whether the job's host has gone (a CLI killed, or one that stopped waiting) and nothing
    in the folder is still needed: its images wait in the history, nobody reads the rest."""
    try:
        record = read_record(job.folder)
    except (OSError, ValueError, TypeError):
        return False
    return bool(record.host_pid) and not any(item.file for item in status.unkept) and (
        (job.folder / LEFT).exists() or not standby.alive(record.host_pid))


def _service_for(record: JobRecord, service):
    """The service to send ``record`` with: ``service`` (made while waiting), or one with the
    host's overrides of the config."""
    from bianxie_core import config as configmod
    from bianxie_core.service import Service

    if not record.overrides:
        return service or Service()
    overrides = dict(record.overrides)
    retries = int(overrides.pop("retries", 0) or 0)
    config = configmod.load()
    for name, value in overrides.items():
        if name in ("base_url", "timeout", "ca_bundle"):
            setattr(config, name, value)
    return Service(config, retries=retries)


def _watch_for_stop(folder: Path, service, done: threading.Event) -> None:
    """The host's first interruption (a ``stop-sending`` file): parallel single requests not
    yet sent are not sent."""
    def watch() -> None:
        while not done.wait(0.05):
            if (folder / STOP_SENDING).exists():
                service.stop_sending.set()
                return

    threading.Thread(target=watch, daemon=True, name="bianxie-stop-watch").start()


def _hand_over(folder: Path, image) -> Unkept:
    """A paid image the history could not keep, written into the job folder for the host."""
    from bianxie_core.files import write_private
    from bianxie_core.history import image_ext

    name = f"unkept-{image.index}.{image_ext(image.data)}"
    try:
        write_private(folder / name, image.data)
    except OSError as exc:
        return Unkept(image.index, "", errors.os_reason(exc))
    return Unkept(image.index, name)


def _request(folder: Path, record: JobRecord, service):
    """The request, and the region work when the worker prepares and places it."""
    if record.kind is Kind.REGION:
        from bianxie_core.region_job import RegionWork

        work = RegionWork.load(folder, record, service.model(record.settings.model))
        for raw in [record.pixels, record.coverage, *record.refs]:
            if raw is not None:
                (folder / raw.file).unlink(missing_ok=True)  # in memory now; can be large
        return work.request(service), work
    if record.kind is Kind.GENERATE:
        return GenerateRequest(**record.fields), None
    request = EditRequest(images=[i.read(folder) for i in record.inputs],
                          mask=record.mask.read(folder) if record.mask else None,
                          **record.fields)
    for sent in [*record.inputs, record.mask]:
        if sent is not None:  # in memory now: no copy of the user's photo stays behind
            (folder / sent.file).unlink(missing_ok=True)
    return request, None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bianxie_core.worker",
                                description="The request worker of a job folder.")
    p.add_argument("command", choices=("run", "standby"),
                   help="run: the job in FOLDER; standby: wait in FOLDER (the jobs folder) "
                        "for the next job")
    p.add_argument("folder", type=Path)
    p.add_argument("--region", action="store_true",
                   help="a region edit comes: load the pixel pipeline while waiting")
    p.add_argument("--standby", nargs=3, metavar=("SECONDS", "HOST_PID", "KEY"),
                   help="afterwards, wait this long for the host's next job")
    p.add_argument("--host", type=int, default=0, metavar="PID",
                   help="the process that submits the request: stop waiting when it is gone")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = parser().parse_args(argv)
        terms = standby.Terms.parse(args.standby) if args.standby else None
    except SystemExit as exc:  # argparse printed the usage
        return int(exc.code or 0)
    except ValueError as exc:
        print(f"python -m bianxie_core.worker: --standby: {exc}", file=sys.stderr)
        return 2
    region = args.region
    if args.command == "standby":  # no job yet: wait for one (jobs.warm_up)
        if terms is None:
            parser().print_usage(sys.stderr)
            return 2
        job = _on_standby(args.folder, terms)
        if job is None:
            return 0
        region = True
    else:
        job = Job(args.folder)
    service = _ready_service(region)
    host = args.host
    while True:
        if wait_for_request(job.folder, host=host):
            if left_behind(job, run(job, service)):
                _log_to(Path(os.devnull))  # Windows removes no open file
                job.remove()
        else:
            _log_to(Path(os.devnull))  # Windows removes no open file
            job.remove()  # cancelled, or the host died before submitting: nothing was sent
        if terms is None:
            return 0
        job = _on_standby(job.folder.parent, terms)
        if job is None:
            return 0
        host = 0  # a claimed worker's host is another process: standby.py watches it
        service = _ready_service(region=True)


def _on_standby(root: Path, terms: standby.Terms) -> Optional[Job]:
    """Wait for the host's next job in a new folder; that job, or None once retired. The
    folder appears whole, with this worker's PID and the marker: it is made under a hidden
    name and renamed."""
    import bianxie_core.region_job  # noqa: F401 - loaded while nobody waits

    job_id = new_id()
    making = root / f".{job_id}"
    making.mkdir(parents=True, mode=0o700)
    write_status(making, JobStatus(pid=os.getpid()))
    standby.mark(making, terms.key)
    os.rename(making, root / job_id)
    job = Job(root / job_id)
    os.chdir(root)  # the folder of the last job can go (Windows keeps a working directory)
    _log_to(job.folder / LOG)

    if standby.serve(job.folder, terms.key, terms.host_pid, terms.seconds):
        return job
    if (job.folder / "retired").exists():  # else the host took the folder back
        _log_to(Path(os.devnull))
        job.remove()
    return None


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
    fails (``run`` then reports why)."""
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
