"""The test suite's fake server, plus when each request arrived, was read and was answered.

The bench subtracts the server's own work (from the end of the request body to the last byte
of the answer) from the plug-in's wall time; what is left is the plug-in's own work.
"""

from __future__ import annotations

import threading
import time
from typing import List, NamedTuple

from tests.fakeapi import FakeServer
from tests.fakeapi.server import _Handler


class Timing(NamedTuple):
    path: str
    arrived: float  # time.time(): the request line was read
    body_read: float  # the whole upload was received
    answered: float  # the answer was handed to the socket

    @property
    def server_seconds(self) -> float:
        return self.answered - self.body_read


class _TimedHandler(_Handler):
    def _read_body(self) -> bytes:
        body = super()._read_body()
        self._bx_body_read = time.time()
        return body

    def _dispatch(self) -> None:
        arrived = time.time()
        self._bx_body_read = arrived
        try:
            super()._dispatch()
        finally:
            self.fake._record(Timing(self.path, arrived, self._bx_body_read, time.time()))


class TimedFakeServer(FakeServer):
    def __init__(self, *args, **kwargs):
        self.timings: List[Timing] = []
        self._timing_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def start(self) -> "TimedFakeServer":
        super().start()
        self._httpd.RequestHandlerClass = _TimedHandler
        return self

    def _record(self, timing: Timing) -> None:
        with self._timing_lock:
            self.timings.append(timing)

    def between(self, start: float, end: float) -> List[Timing]:
        """API requests that arrived within [start, end] (time.time())."""
        with self._timing_lock:
            return [t for t in self.timings if start <= t.arrived <= end and "/v1/" in t.path]
