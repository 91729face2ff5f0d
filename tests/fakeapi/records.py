"""What the fake server records, and the multipart parser it uses (cgi is gone in 3.13)."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, List, NamedTuple, Optional, Tuple

from requests.structures import CaseInsensitiveDict


class FilePart(NamedTuple):
    field: str
    filename: Optional[str]
    content_type: Optional[str]  # the part's own header, as sent (None when absent)
    data: bytes


@dataclass
class Recorded:
    method: str
    path: str
    headers: CaseInsensitiveDict
    time: float  # time.time() when the request line arrived
    body: bytes = b""
    fields: List[Tuple[str, str]] = field(default_factory=list)
    files: List[FilePart] = field(default_factory=list)
    json: Any = None
    fault: Optional[str] = None  # the fault applied to this request, if any

    def field(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The last text part called ``name``."""
        values = [v for k, v in self.fields if k == name]
        return values[-1] if values else default


class MultipartError(ValueError):
    pass


def _param(value: str, name: str, header: str = "content-disposition") -> Optional[str]:
    msg = Message()
    msg[header] = value
    got = msg.get_param(name, header=header)
    if got is None:
        return None
    return email.utils.collapse_rfc2231_value(got)


def boundary_of(content_type: str) -> Optional[str]:
    return _param(content_type, "boundary", "content-type")


def parse_multipart(body: bytes, boundary: str) -> Tuple[list, list]:
    """``(fields, files)`` of a multipart/form-data body; raises MultipartError."""
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise MultipartError("the multipart body has no closing boundary")
    fields, files = [], []
    for chunk in chunks[1:-1]:
        if not chunk.startswith(b"\r\n") or not chunk.endswith(b"\r\n"):
            raise MultipartError("a multipart part is not framed by CRLF")
        head, sep, data = chunk[2:-2].partition(b"\r\n\r\n")
        if not sep:
            if chunk[2:].startswith(b"\r\n"):  # no headers at all
                head, data = b"", chunk[4:-2]
            else:
                raise MultipartError("a multipart part has no blank line after its headers")
        headers = CaseInsensitiveDict()
        for line in head.decode("utf-8", "replace").split("\r\n") if head else []:
            name, colon, value = line.partition(":")
            if not colon:
                raise MultipartError("bad multipart header line %r" % line)
            headers[name.strip()] = value.strip()
        disposition = headers.get("Content-Disposition", "")
        name = _param(disposition, "name")
        if not disposition.lower().startswith("form-data") or name is None:
            raise MultipartError("a multipart part has no form-data name")
        filename = _param(disposition, "filename")
        if filename is None:
            fields.append((name, data.decode("utf-8", "replace")))
        else:
            files.append(FilePart(name, filename, headers.get("Content-Type"), data))
    return fields, files
