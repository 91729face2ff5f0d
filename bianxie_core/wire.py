"""The wire format: the multipart body of an edit, server-sent events, base64 and usage.

Pure functions over bytes, no network: ``ImagesClient`` (client.py) sends and reads,
this module encodes and parses.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import re
import threading
from typing import Callable, Iterable, Iterator, Optional

from urllib3 import encode_multipart_formdata

from bianxie_core import errors
from bianxie_core.i18n import _
from bianxie_core.params import EditRequest
from bianxie_core.transfer import UP, Meter, TransferSink

MAX_EVENT = 80 * 1024 * 1024  # one SSE event: a final image's base64 (see body.py) and room
# The order of the SDK's images.edit body, so the bytes are the SDK's (tests/test_wire_bytes.py)
SDK_ORDER = ("prompt", "background", "input_fidelity", "model", "n", "output_compression",
             "output_format", "partial_images", "quality", "response_format",
             "safety_identifier", "size", "stream", "user")
_DATA_URL = re.compile(rb"^\s*data:[^,]{0,100};base64,", re.I)
_WHITESPACE = b" \t\r\n\f\v"
_URLSAFE = bytes.maketrans(b"-_", b"+/")
_PLAIN = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


class _Body:
    """A request body that notices when its last byte has been handed to the socket, and that
    can be stopped before its end (``cancel``): a body the server never got whole cannot have
    been charged, however long the connection lives on. The bytes handed over go to
    ``on_transfer`` (transfer.py)."""

    def __init__(self, data: bytes, on_transfer: Optional[TransferSink] = None):
        self._data = data
        self._pos = 0
        self._lock = threading.Lock()
        self._cancelled = False
        self._meter = Meter(on_transfer, UP, len(data)) if on_transfer else None
        self.sent = False

    def __len__(self) -> int:
        return len(self._data)

    def read(self, size: int = -1) -> bytes:
        with self._lock:
            if self._meter is not None:
                self._meter.at(self._pos)  # the blocks before went through sendall()
            if self._pos >= len(self._data):
                self.sent = True
                if self._meter is not None:
                    self._meter.finish()
                return b""
            if self._cancelled:
                raise OSError("the request was given up before its body was sent")
            end = len(self._data) if size is None or size < 0 else self._pos + size
            chunk = self._data[self._pos:end]
            self._pos += len(chunk)
            return chunk

    def stopped(self) -> None:
        """The attempt is over: an upload cut off does not stay on display (transfer.py)."""
        if self._meter is not None:
            with self._lock:
                self._meter.drop()

    def cancel(self) -> bool:
        """Send no more of the body; True when part of it had not been handed over yet, so
        the server can never get it whole."""
        with self._lock:
            self._cancelled = True
            return self._pos < len(self._data)


def encode_multipart(fields_: dict, files: list, boundary: str) -> bytes:
    """multipart/form-data as the SDK writes it: text parts first, then the file parts.

    urllib3 quotes a filename the HTML5 way (``"`` → %22, CR/LF → %0D%0A), so no file name
    can break a part's headers."""
    names = sorted(fields_, key=lambda name: SDK_ORDER.index(name) if name in SDK_ORDER
                   else len(SDK_ORDER))
    parts = [(name, ("true" if value else "false") if isinstance(value, bool) else str(value))
             for name, value in ((name, fields_[name]) for name in names)]
    parts += [(name, (image.name, image.data, image.content_type)) for name, image in files]
    body, _ctype = encode_multipart_formdata(parts, boundary=boundary)
    return body


def edit_file_parts(request: EditRequest) -> list:
    images = request.images
    parts = [("image", images[0])] if len(images) == 1 else [("image[]", im) for im in images]
    if request.mask is not None:
        parts.append(("mask", request.mask))
    return parts


def decode_b64(text) -> bytes:
    """Base64 as relays really send it: with line breaks or spaces inside, in the URL-safe
    alphabet, without padding, or as a ``data:image/png;base64,`` URL. ValueError when it is
    none of these, or decodes to nothing."""
    return decode_b64_pieces([text])


def decode_b64_pieces(pieces: Iterable) -> bytes:
    """``decode_b64`` of the text the pieces make when joined, decoded piece by piece, so
    memory holds the image and one piece (a spooled answer's base64 is read in pieces)."""
    out, carry, first = io.BytesIO(), b"", True
    try:
        for text in pieces:
            if isinstance(text, str):
                text = text.encode("ascii")
            elif not isinstance(text, bytes):
                raise ValueError("not base64")
            if first:
                match = _DATA_URL.match(text[:200])
                text, first = (text[match.end():] if match else text), False
            if text.translate(None, _PLAIN):  # not plain base64: copy only then, images are large
                text = text.translate(_URLSAFE, _WHITESPACE)
            text = carry + text
            cut = len(text) - len(text) % 4
            carry, text = text[cut:], text[:cut]
            if text:
                out.write(base64.b64decode(text, validate=True))
        if len(carry) == 1:
            raise ValueError("cut inside a character group")
        if carry:
            out.write(base64.b64decode(carry + b"=" * (4 - len(carry)), validate=True))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ValueError("not base64") from None
    data = out.getvalue()  # shares the buffer: no copy
    if not data:
        raise ValueError("empty")
    return data


def clean_usage(usage) -> Optional[dict]:
    """A server's ``usage``, kept only where it is a non-negative count: ints, and one level of
    ``*_details`` objects of ints. Strings of digits count; 1e400, lists and the rest do not."""
    if not isinstance(usage, dict):
        return None
    out: dict = {}
    for key, value in usage.items():
        if not isinstance(key, str):
            continue
        if isinstance(value, dict):
            inner = {k: c for k, c in ((k, _count(v)) for k, v in value.items())
                     if isinstance(k, str) and c is not None}
            if inner:
                out[key] = inner
        else:
            count = _count(value)
            if count is not None:
                out[key] = count
    return out or None


def _count(value) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value) < 20:
        value = int(value)
    if isinstance(value, float) and math.isfinite(value):
        value = int(value)
    if isinstance(value, int) and 0 <= value < 10 ** 15:
        return value
    return None


def sse_events(chunks: Iterator[bytes], event_end: Optional[Callable[[], None]] = None):
    """(event name, parsed JSON or None) for each server-sent event (the WHATWG rules: a BOM at
    the start is dropped, a line ends at CRLF, LF or a lone CR, one leading space of a value is
    dropped, comment lines are skipped). An event cut off by the end of the stream, without its
    blank line, is still given: it may be the paid final image. ``event_end()`` is called as
    each event's blank line arrives, and at a comment line before an event's data."""
    event, data, size = "", [], 0
    for line in _lines(chunks):
        if not line:
            if event_end is not None:
                event_end()
            if data:
                text = b"\n".join(data)
                if text.strip() == b"[DONE]":
                    return
                yield event, _json(text)
            event, data, size = "", [], 0
            continue
        name, _colon, value = line.partition(b":")
        if not name:  # a comment, a relay's keep-alive while the model works: not moving
            if not data and event_end is not None:
                event_end()
            continue
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
            size += len(value)
            if size > MAX_EVENT:
                raise _too_large()
        elif name == b"event":
            event = value.decode("utf-8", "replace")
    if data and b"\n".join(data).strip() != b"[DONE]":
        yield event, _json(b"\n".join(data))


_EOL = re.compile(rb"\r\n?|\n")


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The stream's lines, without their ends. A CR ends its line at once (a server may send
    nothing more), and an LF that starts the next chunk is then the rest of a CRLF. Each byte
    is scanned once."""
    buffer, pos, first, skip_lf = bytearray(), 0, True, False
    for chunk in chunks:
        if skip_lf and chunk:
            skip_lf, chunk = False, chunk[1:] if chunk[:1] == b"\n" else chunk
        buffer += chunk
        start = 0
        while True:
            match = _EOL.search(buffer, pos)
            if not match:
                break
            line = bytes(buffer[start:match.start()])
            if first:
                line, first = (line[3:] if line.startswith(b"\xef\xbb\xbf") else line), False
            yield line
            start = pos = match.end()
            skip_lf = match.end() == len(buffer) and buffer[-1] == 13
        del buffer[:start]  # CPython drops a bytearray's head without copying the rest
        pos = len(buffer)
        if len(buffer) > MAX_EVENT:
            raise _too_large()
    if buffer:
        yield buffer[3:] if first and buffer.startswith(b"\xef\xbb\xbf") else bytes(buffer)


def _too_large() -> errors.ResponseError:
    return errors.ResponseError(_(
        "An event in the server's stream is larger than any image could be; the stream was "
        "stopped."))


def _json(text: bytes):
    try:
        return json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
