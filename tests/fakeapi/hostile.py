"""Ordinary-but-untested and hostile server behaviour (issue 13), as FakeServer knobs.

Each knob is a plain attribute on FakeServer, reset by ``reset()``; all are off by default
except ``compress``, which is on as nginx or a CDN front is for a client that accepts it:

``compress``          "gzip" (default), "deflate" (zlib-wrapped), "deflate-raw", or None: every
                      answer (JSON, errors, HTML pages, downloads) is compressed when the
                      request's Accept-Encoding allows it; ``compress_stream`` does SSE too.
``broken_item``       a BROKEN_ITEMS name: item 0 of ``data`` (or the items in
                      ``broken_indexes``) is broken that way; the others are good.
``b64_style``         a B64_STYLES name: how every b64_json is written (as relays do).
``count_delta``       the answer holds n + count_delta items (at least 0).
``echo_key``          an ECHO_FIELDS name: the request fails with the sent key echoed there.
``sse_junk``          malformed events before the completed one (see SSE_JUNK).
``stream_error_text`` a stream's error event is this bare string (``stream_error`` fault).
``trickle``           "headers" or "body": that part is sent one byte per ``trickle_interval``.
``endless``           a 200 JSON body that never ends.
``read_rate``         bytes per second the server reads a request body at (a slow uplink: the
                      socket's receive buffer is made small, so the client's send waits).
``write_rate``        bytes per second every answer body (JSON, stream, download) is sent at.
``huge_b64_mb``       item 0 (every item with ``huge_all``) is a structurally valid PNG whose
                      base64 is this many MiB.
``download_bomb_mb``  ``url`` answers serve this many MiB of zeros, gzip-compressed.
``redirect``          every API request is answered with this 3xx status.
``error_in_200``      every API request is answered 200 with ``{"error": …}`` (quota).
``usage_raw``         the raw JSON text of ``usage`` (to send 1e400, strings, lists).
``models_data``       the ``data`` list of GET /models (items that are not objects, …).
``n_refusal_words``   the ``refuse_n`` fault answers with these words and ``param: null``
                      ("n>1 is not supported by this channel").
``interim``           bytes of 1xx answers sent before every final answer (INTERIM: a CDN's
                      103 Early Hints, a 102 Processing).
``gzip_tail``         bytes after every compressed body (nginx padding, a proxy's stray bytes).
``sse_eol``           a stream's line end: b"\n" (default), b"\r\n" or a lone b"\r".
``sse_type``          a stream's Content-Type (a relay that labels it text/plain).
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Optional

COMPRESSIONS = (None, "gzip", "deflate", "deflate-raw")
BROKEN_ITEMS = ("null", "bad_base64", "number", "url_type", "error", "bad_url", "file_url",
                "truncated", "html", "not_object")
B64_STYLES = (None, "newlines", "urlsafe", "nopad", "data_url")
ECHO_FIELDS = ("message", "param", "code", "type", "title", "header", "sse_code")
SSE_JUNK = [b"data: 42\n\n", b"data: [1, 2, 3]\n\n", b'data: "a string"\n\n',
            b"data: {broken json\n\n", b": a comment line\n\n"]
INTERIM = (b"HTTP/1.1 103 Early Hints\r\nLink: </v1/style.css>; rel=preload\r\n\r\n"
           b"HTTP/1.1 102 Processing\r\n\r\n")
HTML_ERROR = "<html><head><title>502 Bad Gateway %s</title></head><body>bad</body></html>"


def accepts(accept_encoding: str, coding: str) -> bool:
    """True when the request's Accept-Encoding allows ``coding`` (q=0 refuses it)."""
    for part in (accept_encoding or "").lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in (coding, "*"):
            q = params.strip()
            return not (q.startswith("q=") and float(q[2:] or 0) == 0)
    return False


class Compressor:
    """One body's encoder; ``flush`` after each SSE event, ``finish`` at the end."""

    def __init__(self, how: str):
        wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS,
                 "deflate-raw": -zlib.MAX_WBITS}[how]
        self.header = "gzip" if how == "gzip" else "deflate"
        self._z = zlib.compressobj(6, zlib.DEFLATED, wbits)

    def flush(self, data: bytes) -> bytes:
        return self._z.compress(data) + self._z.flush(zlib.Z_SYNC_FLUSH)

    def finish(self, data: bytes = b"") -> bytes:
        return self._z.compress(data) + self._z.flush()


def compressor_for(how: Optional[str], accept_encoding: str) -> Optional[Compressor]:
    if how is None:
        return None
    coding = "gzip" if how == "gzip" else "deflate"
    return Compressor(how) if accepts(accept_encoding, coding) else None


def b64(data: bytes, style: Optional[str]) -> str:
    text = base64.b64encode(data).decode("ascii")
    if style == "newlines":  # MIME style: 76 characters a line
        return "\n".join(text[i:i + 76] for i in range(0, len(text), 76)) + "\n"
    if style == "urlsafe":
        return base64.urlsafe_b64encode(data).decode("ascii")
    if style == "nopad":
        return text.rstrip("=")
    if style == "data_url":
        return "data:image/png;base64," + text
    return text


def broken_entry(kind: str, data: bytes, base_url: str) -> object:
    """A broken data[] item made from the good image ``data``."""
    text = base64.b64encode(data).decode("ascii")
    if kind == "null":
        return {"b64_json": None}
    if kind == "bad_base64":
        return {"b64_json": "!!not*base64!!" + text[:40]}
    if kind == "number":
        return {"b64_json": 12345}
    if kind == "url_type":
        return {"url": ["http://example.invalid/a.png"]}
    if kind == "error":  # Seedream-style relays put a per-image error in data[]
        return {"error": {"code": "OutputImageSensitiveContentDetected",
                          "message": "The generated image may contain sensitive content."}}
    if kind == "bad_url":
        return {"url": "http://[::1"}
    if kind == "file_url":
        return {"url": "file:///etc/passwd"}
    if kind == "truncated":  # cut on a 4-character boundary: still valid base64
        cut = (len(text) // 2) // 4 * 4
        return {"b64_json": text[:cut]}
    if kind == "html":
        page = b"<!DOCTYPE html><html><head><title>Error</title></head><body>oops</body></html>"
        return {"b64_json": base64.b64encode(page).decode("ascii")}
    if kind == "not_object":
        return "image-0"
    raise ValueError("unknown broken item %r" % kind)


def big_png(mib: int) -> bytes:
    """A structurally whole PNG (IHDR, IDAT, IEND, right CRCs) of about ``mib`` MiB."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(body, zlib.crc32(kind)))
    header = struct.pack(">IIBBBBB", 3840, 2160, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", bytes(mib * 1024 * 1024)) + chunk(b"IEND", b""))


def echo_error(field: str, key: str) -> tuple:
    """(status, content type, body, extra headers) of an error answer echoing ``key``."""
    if field == "title":
        return 502, "text/html", (HTML_ERROR % key).encode(), {}
    err = {"message": "Invalid request.", "type": "invalid_request_error", "param": None,
           "code": None}
    headers = {}
    if field == "header":
        headers["X-Request-Id"] = "req_" + key
    elif field in ("message", "param", "code", "type"):
        err[field] = ("Incorrect API key provided: %s." % key) if field == "message" else key
    return 400, "application/json", json.dumps({"error": err}).encode(), headers


def gzip_bomb(mib: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    return b"".join(z.compress(block) for _ in range(mib)) + z.flush()


class HostileMixin:
    """Methods of the request handler (tests/fakeapi/server.py) for the whole-answer knobs."""

    def _hostile_answer(self, route: str, params: dict, sent_key: Optional[str]) -> bool:
        """Answer with a redirect, an error inside a 200 or an echoed key; True when done."""
        fake = self.fake
        if fake.redirect:
            location = fake.root_url + "/moved/v1" + self.path[len("/v1"):]
            self._send(fake.redirect, b"<html><body>Moved</body></html>", "text/html",
                       {"Location": location})
            return True
        if fake.error_in_200 and route != "models":
            self._send_json(200, {"error": {
                "message": "You exceeded your current quota, please check your plan and "
                "billing details.", "type": "insufficient_quota", "param": None,
                "code": "insufficient_quota"}})
            return True
        streamed = params.get("stream") in (True, "true")
        if fake.echo_key and not (fake.echo_key == "sse_code" and streamed):
            status, ctype, body, headers = echo_error(fake.echo_key, sent_key or "")
            self._send(status, body, ctype, headers)
            return True
        return False

    def send_response(self, code: int, message=None) -> None:
        """Every final answer, after the ``interim`` 1xx answers when that knob is set."""
        if self.fake.interim and code >= 200:
            self.wfile.write(self.fake.interim)
        super().send_response(code, message)

    def _dribble(self, data: bytes) -> None:
        """Send ``data`` one byte per ``trickle_interval`` until done, stopped or hung up."""
        self.close_connection = True
        for i in range(len(data)):
            self.wfile.write(data[i:i + 1])
            self.wfile.flush()
            if self.fake._wait(self.fake.trickle_interval):
                return

    def _read_slowly(self, length: int) -> bytes:
        """``length`` bytes of the request body at ``read_rate`` bytes a second."""
        parts, left, block = [], length, max(int(self.fake.read_rate / 20), 1)
        while left > 0:
            part = self.rfile.read(min(block, left))
            if not part:
                break
            parts.append(part)
            left -= len(part)
            if left and self.fake._wait(len(part) / self.fake.read_rate):
                break
        return b"".join(parts)

    def _write_slowly(self, data: bytes) -> None:
        """``data`` at ``write_rate`` bytes a second, in twentieths of a second."""
        block = max(int(self.fake.write_rate / 20), 1)
        for start in range(0, len(data), block):
            self.wfile.write(data[start:start + block])
            self.wfile.flush()
            if self.fake._wait(block / self.fake.write_rate):
                return

    def _endless(self) -> None:
        """A 200 JSON answer whose base64 never ends (until the client hangs up)."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._chunk(b'{"created": 1, "data": [{"b64_json": "')
        block = b"A" * 65536
        while not self.fake._stopping.is_set():
            self._chunk(block)
