"""A tiny raw-socket HTTP server for answers the fake cannot give: bytes exactly as written.

``RawServer(handler)`` accepts connections on 127.0.0.1 and runs ``handler(conn, request)``
for each, in its own thread; ``request`` is the request's head and as much of its body as the
handler asks ``read_body`` for. Every request head is kept in ``heads``.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
from typing import Callable, List


class Request:
    def __init__(self, conn: socket.socket):
        self.conn = conn
        self.head = b""
        self.rest = b""

    def read_head(self) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            piece = self.conn.recv(65536)
            if not piece:
                break
            data += piece
        self.head, _, self.rest = data.partition(b"\r\n\r\n")
        return self.head

    def header(self, name: str) -> str:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode():
                return value.strip().decode("latin-1")
        return ""

    def read_body(self) -> bytes:
        length = int(self.header("Content-Length") or 0)
        body = self.rest
        while len(body) < length:
            piece = self.conn.recv(min(1 << 20, length - len(body)))
            if not piece:
                break
            body += piece
        return body


class RawServer:
    def __init__(self, handler: Callable[[socket.socket, Request], None]):
        self.handler = handler
        self.heads: List[bytes] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._stop = threading.Event()
        self._conns: List[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        request = Request(conn)
        try:
            request.read_head()
            self.heads.append(request.head)
            self.handler(conn, request)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    @property
    def requests(self) -> int:
        return len(self.heads)

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        for conn in self._conns:
            try:
                conn.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def response(status: str, body: bytes = b"", headers=(), length: bool = True) -> bytes:
    """A response's bytes: ``status`` like "200 OK", ``headers`` (name, value) pairs."""
    lines = [b"HTTP/1.1 " + status.encode()]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in headers]
    if length:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def answer_json(png: bytes) -> bytes:
    import base64

    return json.dumps({"created": 1, "data": [
        {"b64_json": base64.b64encode(png).decode()}]}).encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data)
