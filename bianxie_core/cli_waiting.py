"""Waiting for a paid answer on a terminal: the request goes to the detached request worker
(worker.py, as the plug-in's do), and the CLI waits on its job folder, with progress on
stderr and interruptions that do not lose a billed image.

Once a request is sent, the server finishes and charges it whether or not anybody still
listens. The worker, in its own process session, records each image in the history whatever
happens to the CLI. The CLI keeps waiting after the first Ctrl-C or SIGTERM (so the image
still reaches the output) and says why; a second one stops the wait, and the image goes to
the history only (`bianxie history --pending`). A closed terminal (SIGHUP) does not stop the
wait, nor the writing of the results. See docs/architecture.md.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, Optional

from bianxie_core import errors, transfer
from bianxie_core.i18n import _, join_sentences
from bianxie_core.job_folder import REQUEST

# What the first interruption keeps waiting through; SIGHUP never stops the wait.
_STOPPING = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))


class Progress:
    """Elapsed time, bytes moving and partial images on stderr while a request runs."""

    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.quiet = quiet or self.stream is None  # a closed stderr (``2>&-``) is None
        self.partials = 0
        self.moving = False  # a transfer is under way: its line, not "waiting…"
        self._moved = None  # the last status.transfer shown
        self._moving_line = ""
        self._next_line = 0.0
        self._since = 0.0  # when the transfer shown began
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self):
        if not self.quiet:
            self._say(_("Waiting for the model…"))
            if self._tty:
                self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._tty and not self.quiet:
            self._write("\n")

    def say(self, text: str) -> None:
        """A line of its own, even when quiet (what the user must know)."""
        self._write(("\n" if self._tty else "") + text + "\n")

    def _write(self, text: str) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def partial(self, index: int, data: Optional[bytes] = None) -> None:
        self.partials += 1
        self._say(_("partial image {n} received").format(n=index + 1))

    def transfer(self, direction: str, done: int, total) -> None:
        """The bytes of an upload or a download (transfer.py: shown once it lasts a second),
        from the request's ``on_transfer`` or a job's ``status.transfer``. Without a terminal,
        a line a second at first, rarer as it lasts, and the last."""
        finished = total is not None and done >= total
        if total == 0:  # a transfer stopped short: nothing moving, nothing to say
            self.moving = False
            return
        now = time.monotonic()
        if not self.moving:
            self._since = now  # a new transfer
        self.moving = not finished
        if not (self._tty or finished) and now < self._next_line:
            return
        # a log file keeps every line: they thin out as a transfer lasts (about 10·ln seconds)
        self._next_line = now + max(1.0, 0.1 * (now - self._since))
        self._moving_line = transfer.describe(direction, done, total)
        self._say(self._moving_line)

    def update(self, status, elapsed: float = 0.0) -> None:
        """What the worker's ``status`` (job_folder.JobStatus) says that is new."""
        while self.partials < len(status.partials):
            self.partial(self.partials)
        moved = status.transfer
        if moved is not None and moved != self._moved:
            self._moved = moved
            self.transfer(moved.direction, moved.done, moved.total)

    def _say(self, text: str) -> None:
        if self.quiet:
            return
        elapsed = time.monotonic() - self._start
        line = f"[{elapsed:5.1f} s] {text}"
        try:
            self.stream.write(("\r" + line + "\033[K") if self._tty else line + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # the terminal is gone (SIGHUP): keep waiting quietly
            self.quiet = True

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self.tick()

    def tick(self) -> None:
        """A terminal's line each second: the time goes on, even through a transfer stalled
        without a byte for minutes."""
        if self.moving:
            self._say(self._moving_line)
        else:
            self._say(_("waiting… ({partials} partial images)").format(partials=self.partials))


class KeepWaiting:
    """While a paid request runs: the first SIGINT/SIGTERM says why the CLI goes on waiting,
    the second raises KeyboardInterrupt (the caller says what is lost). Only the main thread
    can own signals; elsewhere this does nothing."""

    def __init__(self, progress: Progress, on_first=None):
        """``on_first()``: called at the first interruption (to send nothing more)."""
        self.progress = progress
        self.on_first = on_first
        self.interrupted = 0
        self._saved: dict = {}

    def __enter__(self) -> "KeepWaiting":
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in _STOPPING:
            self._saved[signum] = signal.signal(signum, self._stop)
        if hasattr(signal, "SIGHUP"):
            self._saved[signal.SIGHUP] = signal.signal(signal.SIGHUP, signal.SIG_IGN)
        return self

    def __exit__(self, kind, exc, tb) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        if kind is KeyboardInterrupt and self.interrupted > 1:
            raise errors.Cancelled(_(
                "Stopped waiting: the request was sent and may have been charged. Its images "
                "still go to the history when they arrive: `bianxie history --pending` lists "
                "them.")) from None

    def _stop(self, signum, frame) -> None:
        self.interrupted += 1
        if self.interrupted > 1:
            raise KeyboardInterrupt
        if self.on_first:
            self.on_first()
        self.progress.say(_(
            "Still waiting: the request was sent and may be charged. Press Ctrl-C again to stop "
            "waiting anyway; its image then goes to the history only, not to the output."))


# --- the request worker ---------------------------------------------------------------------
POLL = 0.02  # how often the CLI reads the job's status


def start_worker(job) -> None:
    """Start the job's detached worker (tests run it on a thread instead: see
    tests/core_fixtures.py). It stops waiting should the CLI die before handing the request
    over."""
    job.start(host=os.getpid())


@contextlib.contextmanager
def early_worker() -> Iterator:
    """A job whose worker starts loading now, while the CLI checks and plans; when the run
    stops before the request is handed over, it is cancelled and nothing is sent."""
    from bianxie_core.jobs import Job

    job = _started(Job.private)
    try:
        yield job
    except BaseException:
        if not (job.folder / REQUEST).exists():
            job.cancel()
            job.remove()
        raise


@contextlib.contextmanager
def through_worker(args, job, request, *, meta: Optional[dict] = None,
                   overrides: Optional[dict] = None, deadline: Optional[float] = None
                   ) -> Iterator:
    """Hand ``request`` to ``job``'s worker (see early_worker) and wait for it; yields its
    ``service.Outcome`` (the images read from the history when needed), then removes the
    job folder. Sets ``args.sent`` once the request is handed over. ``deadline``: the
    longest wait."""
    job = _handed_over(args, job, request, meta, overrides)
    try:
        with Progress(quiet=args.quiet) as progress, \
                KeepWaiting(progress, on_first=job.stop_sending):
            status = job.wait(on_tick=progress.update, interval=POLL, timeout=deadline,
                              worker_gone=job.worker_exited)
    except BaseException:
        job.leave()
        raise
    with _no_hangup():  # nor while the paid images are read and written
        outcome = outcome_of(job, status)  # raises the worker's error
        try:
            yield outcome
        finally:
            job.remove()


@contextlib.contextmanager
def _no_hangup() -> Iterator[None]:
    """A closed terminal (SIGHUP) does not stop what runs inside."""
    if not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, saved)


def _started(make_job):
    """A job from ``make_job()`` with its worker started; nothing is sent when this fails."""
    job = None
    try:
        job = make_job()
        start_worker(job)
    except OSError as exc:
        if job is not None:
            job.remove()
        raise errors.UsageError(_("The request worker could not be started ({reason}); "
                                  "nothing was sent.").format(
                                      reason=errors.os_reason(exc))) from None
    return job


def _handed_over(args, job, request, meta, overrides):
    """``job`` with ``request`` written for its worker; a worker that gave up waiting (a
    cost question left unanswered for minutes) is replaced. Nothing is sent when this fails.
    Sets ``args.sent`` once the request is handed over: from then on an interruption may leave
    a billed image behind, and the worker owns the folder."""
    from bianxie_core.jobs import Job

    if job.worker_exited() or not job.folder.is_dir():
        job.remove()
        job = _started(Job.private)
    try:
        job.submit(request, meta=meta, host_pid=os.getpid(), overrides=overrides)
        args.sent = True
    except BaseException as exc:
        if (job.folder / REQUEST).exists():  # the worker has it: it may be sending
            args.sent = True
            job.leave()
            raise
        job.cancel()
        job.remove()
        if isinstance(exc, OSError):
            raise errors.UsageError(_("The request could not be handed to the request worker "
                                      "({reason}); nothing was sent.").format(
                                          reason=errors.os_reason(exc))) from None
        raise
    return job


def outcome_of(job, status):
    """The worker's finished ``status`` as a ``service.Outcome``; its error, raised, when it
    failed (the job folder is then kept only when its log tells of a bug)."""
    from bianxie_core.cli_history import open_history
    from bianxie_core.service import Outcome, SavedImage

    if status.state != "done" and not status.history_error:
        error = _error_of(status)
        if type(error) is not errors.BianxieError:  # not a bug: no log to keep
            job.remove()
        raise error
    history = open_history()
    images = [SavedImage(_entry(history, r), r.index) for r in status.results]
    images += [SavedImage(None, u.index, kept=job.folder / u.file)
               for u in status.unkept if u.file]
    lost = [_("Image {number} was paid for, but neither the history nor the request worker "
              "could keep it ({reason}), so it is lost.").format(number=u.index + 1,
                                                                 reason=u.reason)
            for u in status.unkept if not u.file]
    return Outcome(images=sorted(images, key=lambda image: image.index), usage=status.usage,
                   price=status.price, price_known=status.price_known,
                   currency=status.currency,
                   request_ids=status.request_ids, warnings=status.warnings, job_id=job.id,
                   failures=status.failures + lost, history_error=status.history_error)


def _entry(history, result):
    """The history entry the worker kept ``result`` in; one removed since (another run's
    pruning, a user) stands as the file it was, which reading then says is gone."""
    from bianxie_core.history import Entry

    try:
        return history.get(result.entry)
    except errors.UsageError:
        path = Path(result.path)
        return Entry(result.entry, path, path.with_suffix(".json"), {})


def _error_of(status) -> errors.BianxieError:
    """The worker's error, as the class it had (its exit code, and whether it may have been
    billed); a bug in the worker is a plain BianxieError naming its log."""
    kind = getattr(errors, status.error_type, None)
    message = status.error_message or status.error or _("The request failed.")
    if not (isinstance(kind, type) and issubclass(kind, errors.BianxieError)):
        error = errors.BianxieError(join_sentences(message, _(
            "Any image already returned is in the history (`bianxie history --pending`).")))
        error.may_be_billed = status.may_be_billed
        return error
    if issubclass(kind, errors.APIError):
        return kind(message, request_id=status.error_request_id or None)
    return kind(message)
