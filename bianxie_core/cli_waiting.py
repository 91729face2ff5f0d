"""Waiting for a paid answer on a terminal: progress on stderr, and interruptions that do not
lose a billed image.

Once a request is sent, the server finishes and charges it whether or not anybody still
listens, so the CLI keeps waiting after the first Ctrl-C or SIGTERM and says why; a second one
stops the wait, saying that an image arriving later is lost. A closed terminal (SIGHUP) does
not stop the wait: the image still reaches the history and the output file. See
docs/architecture.md for why the CLI waits itself instead of handing the request to a worker.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from bianxie_core import errors, transfer
from bianxie_core.i18n import _

# What the first interruption keeps waiting through; SIGHUP never stops the wait.
_STOPPING = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))


class Progress:
    """Elapsed time, bytes moving and partial images on stderr while a request runs."""

    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.quiet = quiet or self.stream is None  # a closed stderr (``2>&-``) is None
        self.partials = 0
        self.moving = False  # a transfer is under way: its line, not "waiting…"
        self._next_line = 0.0
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

    def partial(self, index: int, data: bytes) -> None:
        self.partials += 1
        self._say(_("partial image {n} received").format(n=index + 1))

    def transfer(self, direction: str, done: int, total) -> None:
        """The bytes of an upload or a download (transfer.py: shown once it lasts a second),
        from the request's ``on_transfer`` or a job's ``status.transfer``. Without a terminal,
        a line a second and the last."""
        finished = total is not None and done >= total
        self.moving = not finished
        now = time.monotonic()
        if not (self._tty or finished) and now < self._next_line:
            return
        self._next_line = now + 1.0
        self._say(transfer.describe(direction, done, total))

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
            if self.moving:
                continue
            self._say(_("waiting… ({partials} partial images)").format(partials=self.partials))


class KeepWaiting:
    """While a paid request runs: the first SIGINT/SIGTERM says why the CLI goes on waiting,
    the second raises KeyboardInterrupt (the caller says what is lost). Only the main thread
    can own signals; elsewhere this does nothing."""

    def __init__(self, progress: Progress, on_first=None, recording=None):
        """``on_first()``: called at the first interruption (to send nothing more).
        ``recording`` (service.Recording): a stop that comes while an arrived image is being
        written to the history waits for the write."""
        self.progress = progress
        self.on_first = on_first
        self.recording = recording
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
                "Stopped waiting: the request was sent and may have been charged, and an image "
                "the server finishes now is lost. Images that arrived before are in the history "
                "(`bianxie history --pending`).")) from None

    def _stop(self, signum, frame) -> None:
        self.interrupted += 1
        if self.interrupted > 1:
            if self.recording is not None and self.recording.active:
                self.recording.defer()
                return
            raise KeyboardInterrupt
        if self.on_first:
            self.on_first()
        self.progress.say(_(
            "Still waiting: the request was sent and may be charged, so stopping now would "
            "lose its image. Press Ctrl-C again to stop waiting anyway."))
