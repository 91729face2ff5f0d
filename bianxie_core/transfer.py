"""Bytes on the move: how far an upload or a download has come, for the progress displays.

The wire layer counts (``wire._Body`` the bytes handed to the socket, ``body.chunks`` the
bytes read) and a ``Meter`` reports them to an ``on_transfer(direction, done, total)`` sink:
``direction`` is ``UP`` or ``DOWN``, ``done`` the bytes so far, ``total`` the size when known
(the body's length, an answer's Content-Length), else None. A transfer is reported only once it
has lasted ``AFTER`` seconds, then at most every ``EVERY`` seconds, and its last report has
``done == total`` (``0, 0`` when it stopped short: nothing moving): a fast transfer costs one
clock read per block and no report at all. The time the model works is never a transfer: an
answer's bytes are counted from the first that arrives, and a stream's from the first of each
event; whitespace a relay sends to keep the connection alive while the model works (``idle``)
starts no count.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, Optional

from bianxie_core.i18n import _

UP, DOWN = "up", "down"
_PADDING = b"\xef\xbb\xbf \t\r\n"
AFTER = 1.0  # seconds a transfer lasts before it is shown
EVERY = 0.25  # seconds between two reports of one transfer

# on_transfer(direction, done, total): see above. Called from the thread that moves the bytes.
TransferSink = Callable[[str, int, Optional[int]], None]


@dataclass(frozen=True)
class Transfer:
    """The last report of the bytes moving, as a job's status carries it."""

    direction: str  # UP | DOWN
    done: int
    total: Optional[int] = None

    @property
    def finished(self) -> bool:
        return self.total is not None and self.done >= self.total


class Meter:
    """One transfer's count, reported to ``sink`` (whose errors are dropped: ``report``)."""

    __slots__ = ("sink", "direction", "total", "done", "_clock", "_start", "_due", "_shown")

    def __init__(self, sink: Optional[TransferSink], direction: str,
                 total: Optional[int] = None, clock: Callable[[], float] = time.monotonic):
        self.sink, self.direction, self.total = sink, direction, total
        self.done, self._clock, self._start, self._due, self._shown = 0, clock, None, 0.0, None

    def at(self, done: int) -> None:
        """``done`` bytes have moved; the first call starts the clock."""
        self.done = done
        if self.sink is None:
            return
        now = self._clock()
        if self._start is None:
            self._start, self._due = now, now + AFTER
        elif now >= self._due:
            self._due = now + EVERY
            self._shown = done
            report(self.sink, self.direction, done, self.total)

    def finish(self) -> None:
        """The transfer is whole: its last report (``done == total``) when it was shown or
        took ``AFTER`` seconds."""
        if self.sink is None or self._start is None:
            return
        start, self._start = self._start, None
        if self._shown == self.done == self.total:
            return  # its last report was this one
        if self._shown is not None or self._clock() >= start + AFTER:
            report(self.sink, self.direction, self.done, self.done)


    def drop(self) -> None:
        """The transfer stopped short (a lost connection, an answer read no further): once
        shown, it reports ``(direction, 0, 0)``, nothing moving, so its last count does not
        stay on display through what comes next."""
        if self.sink is None or self._start is None:
            return
        self._start = None
        if self._shown is not None:
            report(self.sink, self.direction, 0, 0)


def report(sink: TransferSink, direction: str, done: int, total: Optional[int]) -> None:
    """Progress is only shown: a sink that fails (a full disk under the job folder) must never
    cost the answer being read."""
    try:
        sink(direction, done, total)
    except Exception:  # noqa: BLE001
        pass


class Bursts:
    """A stream's bytes, each burst a transfer of its own (an event of server-sent events, whose
    ends ``end()`` marks): the model's pauses between events are not counted as moving."""

    def __init__(self, sink: Optional[TransferSink],
                 clock: Callable[[], float] = time.monotonic):
        self.sink, self._clock = sink, clock
        self._meter: Optional[Meter] = None
        self._count = self._base = 0

    def count(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        if self.sink is None:
            yield from chunks
            return
        try:
            for chunk in chunks:
                if self._meter is None and idle(chunk):
                    self._count += len(chunk)
                    yield chunk
                    continue
                if self._meter is None:
                    self._meter, self._base = Meter(self.sink, DOWN, None, self._clock), \
                        self._count
                self._count += len(chunk)
                self._meter.at(self._count - self._base)
                yield chunk
        except BaseException:  # the stream was cut, or is read no further
            if self._meter is not None:
                self._meter.drop()
            raise

    def end(self) -> None:
        if self._meter is not None:
            self._meter.finish()
            self._meter = None


class Combined:
    """Several transfers at once (parallel variants) as one: each ``part()`` is the sink of one
    transfer, and ``sink`` hears the sums over the transfers of the same direction, at most
    every ``EVERY`` seconds but for the last report. One direction at a time: while the one
    shown moves (reported within ``AFTER`` seconds, not whole), the other waits its turn."""

    def __init__(self, sink: TransferSink, clock: Callable[[], float] = time.monotonic):
        self.sink, self._clock = sink, clock
        self._lock = threading.Lock()
        self._parts: Dict[int, tuple] = {}
        self._due = 0.0
        self._shown: Optional[str] = None  # the direction shown, last heard at ``_heard``
        self._heard = 0.0

    def _sums(self, direction: str) -> tuple:
        same = [p for p in self._parts.values() if p[0] == direction]
        known = None if any(p[2] is None for p in same) else sum(p[2] for p in same)
        return sum(p[1] for p in same), known

    def part(self) -> TransferSink:
        with self._lock:
            key = max(self._parts, default=0) + 1
            self._parts[key] = (None, 0, 0)

        def sink(direction: str, done: int, total: Optional[int]) -> None:
            with self._lock:
                self._parts[key] = (direction, done, total)
                now = self._clock()
                if direction == self._shown:
                    self._heard = now
                elif self._shown is not None and now < self._heard + AFTER:
                    shown, shown_known = self._sums(self._shown)
                    if shown != shown_known:
                        return  # the other direction is shown and moves on
                whole, known = self._sums(direction)
                if now < self._due and whole != known:
                    return
                self._due, self._shown, self._heard = now + EVERY, direction, now
            self.sink(direction, whole, known)
        return sink


def idle(data: bytes) -> bool:
    """Nothing but the whitespace (or a byte-order mark) a relay pads a slow answer with."""
    return not data.strip(_PADDING)


def describe(direction: str, done: int, total: Optional[int]) -> str:
    """"Uploading 1.2 of 3.4 MB": one line for a progress display."""
    if total:
        text = (_("Uploading {done} of {total} MB") if direction == UP
                else _("Downloading {done} of {total} MB"))
        return text.format(done=_mb(done, total), total=_mb(total, total))
    text = _("Uploading {done} MB") if direction == UP else _("Downloading {done} MB")
    return text.format(done=_mb(done, done))


def fraction(done: int, total: Optional[int]) -> Optional[float]:
    return min(done / total, 1.0) if total else None


def _mb(count: int, scale: int) -> str:
    """Megabytes (10^6 bytes) with one decimal, two below 1 MB."""
    return "{:.{}f}".format(count / 1e6, 1 if scale >= 1e6 else 2)
