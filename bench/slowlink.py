"""A throttled link for benches: a TCP relay on 127.0.0.1 that forwards to a target with a
rate limit each way and half the round trip added to each direction, counting the bytes.

    with SlowLink(("127.0.0.1", 8443), up_mbit=2, down_mbit=10, rtt_ms=150) as link:
        ... connect to ("127.0.0.1", link.port) ...
        link.bytes_up, link.bytes_down, link.connections

Each direction is a queue: a chunk leaves when the link is free (its bits at the rate, after
the chunks before it) and arrives ``rtt/2`` later; the relay reads ahead without limit, as a
sender's kernel buffer would.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Optional, Tuple

CHUNK = 16384


class SlowLink:
    def __init__(self, target: Tuple[str, int], up_mbit: float = 2.0, down_mbit: float = 10.0,
                 rtt_ms: float = 150.0):
        self.target = target
        self.up_bps = up_mbit * 1e6
        self.down_bps = down_mbit * 1e6
        self.delay = rtt_ms / 2000.0
        self.bytes_up = self.bytes_down = self.connections = 0
        self.port = 0
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self._server = None

    def reset_counts(self) -> None:
        self.bytes_up = self.bytes_down = self.connections = 0

    def start(self) -> "SlowLink":
        self._thread = threading.Thread(target=self._run, name="slowlink", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
        self._loop = None

    async def _shutdown(self) -> None:
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> "SlowLink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _client(self, reader, writer) -> None:
        self.connections += 1
        await asyncio.sleep(self.delay)  # the SYN's way there ...
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        await asyncio.sleep(self.delay)  # ... and the SYN-ACK's way back
        try:
            await asyncio.gather(self._pipe(reader, up_writer, self.up_bps, "bytes_up"),
                                 self._pipe(up_reader, writer, self.down_bps, "bytes_down"))
        except asyncio.CancelledError:  # stop(): the relay goes away with its connections
            writer.close()
            up_writer.close()

    async def _pipe(self, reader, writer, bps: float, counter: str) -> None:
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver() -> None:
            while True:
                arrival, data = await queue.get()
                wait = arrival - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    break
                writer.write(data)
                await writer.drain()
            try:
                writer.write_eof()
            except (OSError, RuntimeError):
                pass

        task = asyncio.ensure_future(deliver())
        free_at = 0.0
        try:
            while True:
                data = await reader.read(CHUNK)
                now = time.monotonic()
                free_at = max(free_at, now) + (len(data) * 8 / bps if data else 0.0)
                await queue.put((free_at + self.delay, data or None))
                if not data:
                    break
                setattr(self, counter, getattr(self, counter) + len(data))
        except (OSError, asyncio.IncompleteReadError):
            await queue.put((0.0, None))
        try:
            await task
        except (OSError, ConnectionError):
            pass
