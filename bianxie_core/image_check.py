"""Is a result a whole image, and which format is it? A structural check without Pillow.

The plug-in's path avoids Pillow, and a result must be checked before it counts as delivered:
a base64 text cut on a 4-character boundary still decodes, to a PNG without its end. PNG is
walked chunk by chunk to IEND with every CRC; JPEG must run from SOI to EOI; WebP's RIFF
length must fit the bytes. Each check reads the bytes once, in C (zlib.crc32, bytes.find).
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple, Optional

from bianxie_core.i18n import _

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Verdict(NamedTuple):
    format: Optional[str]  # "png", "jpeg", "webp"; None when the bytes are no image we know
    problem: Optional[str]  # None when whole; else what it is: "an incomplete PNG"


def inspect(data: bytes) -> Verdict:
    """The format of ``data`` and, when it is not a whole image, what is wrong with it."""
    head = bytes(data[:16])
    if head.startswith(PNG_SIGNATURE):
        return Verdict("png", _png_problem(data))
    if head.startswith(b"\xff\xd8\xff"):
        return Verdict("jpeg", _jpeg_problem(data))
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Verdict("webp", _webp_problem(data))
    if head.lstrip()[:1] == b"<":
        return Verdict(None, _("a web page, not an image"))
    return Verdict(None, _("not an image"))


def _png_problem(data: bytes) -> Optional[str]:
    cut = _("an incomplete PNG")
    pos, first = len(PNG_SIGNATURE), True
    view = memoryview(data)
    while True:
        if pos + 12 > len(data):
            return cut
        length, kind = struct.unpack(">I4s", view[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            return cut
        if first and kind != b"IHDR":
            return _("a PNG without its header")
        crc = struct.unpack(">I", view[end - 4:end])[0]
        if zlib.crc32(view[pos + 4:end - 4]) != crc:
            return _("a PNG chunk that fails its checksum")
        if kind == b"IEND":
            return None
        pos, first = end, False


def _jpeg_problem(data: bytes) -> Optional[str]:
    tail = bytes(data[-64:]).rstrip(b"\0")  # some encoders pad after EOI
    return None if tail.endswith(b"\xff\xd9") else _("an incomplete JPEG")


def _webp_problem(data: bytes) -> Optional[str]:
    size = struct.unpack("<I", bytes(data[4:8]))[0]
    return None if size + 8 <= len(data) and size >= 4 else _("an incomplete WebP")
