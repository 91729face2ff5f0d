"""Reading an answer's body: decoded, capped, within a deadline, and spooled when large.

requests advertises ``Accept-Encoding: gzip, deflate``, and nginx or a CDN in front of an API
compresses JSON for such a client, so the body is decoded here (gzip; deflate zlib-wrapped or
raw, as servers send both) with ``zlib``'s ``max_length``, which bounds what one read can
inflate to: a gzip bomb stops at the cap, not in memory.

Limits (docs/reliability.md quotes them). The largest legitimate answer is n = 10 images of
gpt-image-2 at 3840x2160 as PNG, about 35 MB of base64 each:

- one image's base64: ``MAX_ITEM_B64`` = 64 MiB (48 MiB of image);
- a JSON answer: ``ENVELOPE`` + n × ``MAX_ITEM_B64``, both on the wire and decoded;
- a download (``url`` answers): ``MAX_DOWNLOAD`` = 64 MiB;
- an error page: ``MAX_ERROR`` = 1 MiB (only its message is used);
- the model list: ``MAX_MODELS`` = 8 MiB.

Deadlines: the whole body arrives within the caller's deadline, however slowly it trickles
(a watchdog closes the socket). JSON answers over ``IN_MEMORY`` are spooled to a temporary
file and only their structure is parsed in memory: each image's base64 is read from the file
when its turn comes, so memory holds one image's base64 at a time.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import tempfile
import threading
import time
import zlib
from typing import Iterator, Optional

import requests

from bianxie_core import errors
from bianxie_core.i18n import _
from bianxie_core.transfer import DOWN, Meter, TransferSink, idle

MiB = 1024 * 1024
MAX_ITEM_B64 = 64 * MiB
ENVELOPE = 8 * MiB
MAX_DOWNLOAD = 64 * MiB
MAX_ERROR = 1 * MiB
MAX_MODELS = 8 * MiB
IN_MEMORY = 16 * MiB
BIG_STRING = 64 * 1024  # strings longer than this stay in the spool file
READ = 65536
_STRING_STOP = re.compile(rb'["\\]')


def answer_limit(n: int) -> int:
    return ENVELOPE + max(int(n or 1), 1) * MAX_ITEM_B64


class TooLarge(errors.ResponseError):
    pass


class _Inflater:
    """Content-Encoding gzip or deflate, inflated in bounded steps.

    As curl and urllib3 do: gzip members one after another are one body, and bytes after the
    last member that start no new one (nginx padding, a proxy's stray bytes) are ignored, so a
    whole answer with junk after it is not lost. ``complete`` is False while a member is open:
    the answer was cut."""

    def __init__(self, encoding: str):
        self.encoding = encoding
        self.complete = False
        self._z = None
        self._head = b""  # the first bytes, until deflate's wrapping can be told
        self._ignoring = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._ignoring:
            return
        if self._z is None and self.encoding == "deflate" and len(self._head + data) < 2:
            self._head += data
            return
        data, self._head = self._head + data, b""
        while data:
            if self._z is None:
                if self.complete and not (self.encoding != "deflate"
                                          and data[:2] == b"\x1f\x8b"[:len(data[:2])]):
                    self._ignoring = True  # trailing bytes, not a new member
                    return
                self._z = zlib.decompressobj(self._wbits(data))
                self.complete = False
            try:
                out = self._z.decompress(data, READ)
            except zlib.error:
                raise errors.ResponseError(_(
                    "The server's compressed answer is damaged ({encoding}).").format(
                    encoding=self.encoding)) from None
            if out:
                yield out
            if self._z.eof:  # gzip may hold several members, one after another
                data, self._z, self.complete = self._z.unused_data, None, True
            else:
                data = self._z.unconsumed_tail

    def _wbits(self, first: bytes) -> int:
        if self.encoding in ("gzip", "x-gzip"):
            return 16 + zlib.MAX_WBITS
        zlib_wrapped = len(first) >= 2 and first[0] & 0x0F == 8 and \
            (first[0] << 8 | first[1]) % 31 == 0
        return zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS


class _Chain:
    """Several codings (``Content-Encoding: gzip, gzip``): the last applied is undone first."""

    def __init__(self, inflaters: list):
        self.inflaters = inflaters

    @property
    def complete(self) -> bool:
        return all(inflater.complete for inflater in self.inflaters)

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._through(self.inflaters, data)

    def _through(self, inflaters: list, data: bytes) -> Iterator[bytes]:
        if not inflaters:
            yield data
            return
        for out in inflaters[0].feed(data):
            yield from self._through(inflaters[1:], out)


def _inflater(response: requests.Response):
    header = response.headers.get("Content-Encoding") or ""
    codings = [c.strip().lower() for c in header.split(",")]
    codings = [c for c in codings if c not in ("", "identity")]
    if not codings:
        return None
    unknown = [c for c in codings if c not in ("gzip", "x-gzip", "deflate")]
    if unknown or len(codings) > 3:
        raise errors.ResponseError(_(
            "The server compressed its answer with {encoding}, which this client did not ask "
            "for and cannot read.").format(encoding=(unknown or codings)[0][:20]))
    inflaters = [_Inflater(c) for c in reversed(codings)]
    return inflaters[0] if len(inflaters) == 1 else _Chain(inflaters)


def chunks(response: requests.Response, deadline: float, limit: int, timeout: float,
           on_transfer: Optional[TransferSink] = None) -> Iterator[bytes]:
    """The decoded body as it arrives; at most ``limit`` bytes on the wire and decoded, and
    over by ``deadline`` however slowly it trickles. The bytes on the wire, of the
    Content-Length when there is one, go to ``on_transfer`` (transfer.py)."""
    inflater = _inflater(response)
    host = response_host(response)
    meter = Meter(on_transfer, DOWN, _length(response)) if on_transfer else None
    wire = decoded = 0
    begun = False  # a relay's padding while the model works is not counted as moving
    try:
        for piece in _raw_chunks(response, deadline, host, timeout):
            wire += len(piece)
            if begun:
                meter.at(wire)
            for out in (inflater.feed(piece) if inflater else (piece,)):
                decoded += len(out)
                if wire > limit or decoded > limit:
                    _close_socket(response)
                    raise TooLarge(_(
                        "The answer from {host} is larger than {mb} MB, more than any image "
                        "answer could be; it was stopped.").format(host=host, mb=limit // MiB))
                if meter is not None and not begun and not idle(out):
                    begun = True
                    meter.at(wire)
                yield out
    except BaseException:  # cut off, or read no further: its count is not left on display
        if meter is not None:
            meter.drop()
        raise
    if meter is not None:
        meter.finish()
    if inflater is not None and not inflater.complete:
        response.cut_compressed = True  # not_json (answers.py) says so, not "not JSON"


def read(response: requests.Response, deadline: float, limit: int, timeout: float,
         on_transfer: Optional[TransferSink] = None) -> bytes:
    return b"".join(chunks(response, deadline, limit, timeout, on_transfer))


def _length(response: requests.Response) -> Optional[int]:
    """The Content-Length, when it is one number and the body is not chunked."""
    if "chunked" in response.headers.get("Transfer-Encoding", "").lower():
        return None
    text = response.headers.get("Content-Length", "").strip()
    return int(text) if text.isdigit() and len(text) < 16 else None


def response_host(response) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(response.url or "").hostname or "?"
    except ValueError:
        return "?"


def _raw_chunks(response, deadline: float, host: str, timeout: float) -> Iterator[bytes]:
    watchdog = threading.Timer(max(deadline - time.monotonic(), 0), _close_socket, [response])
    watchdog.daemon = True
    watchdog.start()
    try:
        raw = response.raw
        read1 = getattr(raw, "read1", None)
        while True:
            try:
                chunk = (read1(READ, decode_content=False) if read1
                         else raw.read(READ, decode_content=False))
            except requests.exceptions.ReadTimeout:
                raise _stopped(host, timeout) from None
            except Exception as exc:  # urllib3 and socket errors differ between versions
                if time.monotonic() >= deadline:
                    break
                if "timed out" in str(exc).lower():
                    raise _stopped(host, timeout) from None
                raise errors.ConnectionLostError(
                    _("The connection to {host} was lost while the answer arrived.").format(
                        host=host)) from None
            if not chunk:
                break
            yield chunk
            if time.monotonic() >= deadline:
                break
    finally:
        watchdog.cancel()
    if time.monotonic() >= deadline:
        raise errors.TimeoutError(
            _("The answer from {host} took longer than the {seconds:g} s deadline.").format(
                host=host, seconds=timeout))


def _stopped(host: str, timeout: float) -> errors.TimeoutError:
    return errors.TimeoutError(_("{host} stopped sending within {seconds:g} s.").format(
        host=host, seconds=timeout))


def _close_socket(response: requests.Response) -> None:
    try:
        sock = response.raw._fp.fp.raw._sock  # http.client → socket.SocketIO → socket
        sock.shutdown(socket.SHUT_RDWR)
    except Exception:
        try:
            response.close()
        except Exception:
            pass


# -- large JSON answers ------------------------------------------------------------------------

class Answer:
    """A JSON answer's structure in memory; strings over ``BIG_STRING`` stay in ``spool`` and
    are read back one at a time with ``text``."""

    def __init__(self, payload, spool=None, spans=(), marker: str = ""):
        self.payload = payload
        self._spool, self._spans, self._marker = spool, list(spans), marker

    def text(self, value) -> object:
        """``value``, or the big string it stands for (as ASCII bytes)."""
        if not (self._marker and isinstance(value, str) and value.startswith(self._marker)):
            return value
        start, end = self._spans[int(value[len(self._marker):])]
        self._spool.seek(start)
        raw = self._spool.read(end - start)
        if b"\\" in raw:
            raw = json.loads(b'"' + raw + b'"').encode("utf-8", "replace")
        return raw

    def pieces(self, value, size: int = 4 * MiB) -> Iterator[bytes]:
        """The big string ``value`` stands for, unescaped, in pieces of about ``size``."""
        start, end = self._spans[int(value[len(self._marker):])]
        self._spool.seek(start)
        carry, left, want = b"", end - start, max(size, 256)  # a data: URL's prefix whole
        while left:
            piece = self._spool.read(min(want, left))
            want = size
            left -= len(piece)
            piece = carry + piece
            cut = piece.rfind(b"\\", max(len(piece) - 6, 0)) if left else -1
            carry, piece = (piece[cut:], piece[:cut]) if cut >= 0 else (b"", piece)
            if b"\\" in piece:  # JSON escapes: \n, \/, \u002b …
                piece = json.loads(b'"' + piece + b'"').encode("utf-8", "replace")
            yield piece
        if carry:
            yield json.loads(b'"' + carry + b'"').encode("utf-8", "replace")

    def is_big(self, value) -> bool:
        return bool(self._marker) and isinstance(value, str) and value.startswith(self._marker)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()


class TooDeep(ValueError):
    """JSON nested deeper than Python's parser goes (about a thousand levels): no image
    answer is, so it is not read further."""


def read_answer(pieces: Iterator[bytes]) -> Answer:
    """Parse a JSON answer; ValueError when it is not JSON (TooDeep: nested too deeply)."""
    spool = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY)
    try:
        for piece in pieces:
            spool.write(piece)
        if spool.tell() <= IN_MEMORY:
            spool.seek(0)
            payload = loads(spool.read())
            spool.close()
            return Answer(payload)
        spool.seek(0)
        marker = "\0" + secrets.token_hex(4) + ":"
        skeleton, spans = _skeleton(spool, marker)
        payload = loads(skeleton)
        return Answer(payload, spool, spans, marker)
    except TooDeep:
        spool.close()
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        spool.close()
        raise ValueError("not JSON") from None
    except BaseException:
        spool.close()
        raise


def loads(data: bytes):
    """JSON as servers send it: after a UTF-8 BOM, or in UTF-16/32 (json tells them by their
    bytes); an integer too long for Python (over 4300 digits) in a field nobody reads becomes
    inf rather than costing the answer. ValueError when it is not JSON; TooDeep when it is
    nested deeper than the parser goes."""
    try:
        return json.loads(bytes(data), parse_int=_int)
    except RecursionError:
        deep = True
    except (UnicodeDecodeError, ValueError):
        deep = False
    if deep:
        raise TooDeep("nested too deeply")
    # raised here, outside the handler: json's error would carry the whole answer (``doc``,
    # ``object``) as its context, echoed key and all, for as long as the exception lives
    raise ValueError("not JSON")


def _int(text: str):
    return int(text) if len(text) < 4000 else float("inf")


def _skeleton(spool, marker: str) -> tuple:
    """The JSON text with every string over BIG_STRING replaced by ``marker`` + its number,
    and the (start, end) file offsets of those strings' contents."""
    out, spans = bytearray(), []
    placeholder = json.dumps(marker).encode()[:-1]  # '"\u0000abcd1234:' without its end
    in_string = escaped = big = False
    current, start, offset = bytearray(), 0, 0
    while True:
        block = spool.read(MiB)
        if not block:
            break
        i = 0
        while i < len(block):
            if not in_string:
                j = block.find(b'"', i)
                out += block[i:] if j < 0 else block[i:j]
                if j < 0:
                    break
                in_string, big, current, start, i = True, False, bytearray(), offset + j + 1, j + 1
                continue
            if escaped:
                piece, escaped, i = block[i:i + 1], False, i + 1
            else:
                match = _STRING_STOP.search(block, i)
                j = match.start() if match else len(block)
                piece, i = block[i:j], j
                if match and block[j:j + 1] == b"\\":
                    piece, escaped, i = piece + b"\\", True, j + 1
                elif match:
                    if big or len(current) + len(piece) > BIG_STRING:
                        out += placeholder + str(len(spans)).encode() + b'"'
                        spans.append((start, offset + j))
                    else:
                        out += b'"' + current + piece + b'"'
                    in_string, i = False, j + 1
                    continue
            if not big:
                current += piece
                if len(current) > BIG_STRING:
                    big, current = True, bytearray()
        offset += len(block)
        if len(out) > IN_MEMORY:
            raise ValueError("too much structure")
    return bytes(out), spans
