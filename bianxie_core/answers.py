"""An answer's images: each item checked, decoded or downloaded, and handed over at once.

Every image is handed to ``on_image`` (the history) the moment its bytes exist, before the
answer is parsed further. One broken item does not cost the others: each good image is
delivered, each broken one is recorded (``broken`` in its info, when it has bytes) and
described in ``ImagesResult.failures``; only an answer without any good image raises.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Callable, List, Optional
from urllib.parse import urlsplit

import requests

from bianxie_core import body, door_chat, errors, image_check, transfer
from bianxie_core.error_table import error_envelope, error_field, error_from_response, \
    request_id, stream_error
from bianxie_core.i18n import _, join_sentences
from bianxie_core.params import MAX_N
from bianxie_core.safe_text import printable
from bianxie_core.wire import clean_usage, decode_b64, decode_b64_pieces, sse_events

_SSE_START = re.compile(rb"(?:data|event|id|retry)?:")
# base64 of a PNG, JPEG, WebP or GIF where a URL should be
_BARE_IMAGE_B64 = re.compile(r"(?:iVBORw0KGgo|/9j/|UklGR|R0lGOD)[A-Za-z0-9+/]{16}")
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9.+-]{1,40}/[A-Za-z0-9.+-]{1,60}$")


@dataclass
class ResultImage:
    data: Optional[bytes] = field(repr=False)  # None: handed to on_image only (keep_images)
    index: int = 0
    url: Optional[str] = None
    revised_prompt: Optional[str] = None
    format: Optional[str] = None  # what the bytes are: "png", "jpeg" or "webp"


@dataclass
class ImagesResult:
    images: List[ResultImage]
    usage: Optional[dict] = None  # non-negative ints only (wire.clean_usage)
    size: Optional[str] = None
    quality: Optional[str] = None
    background: Optional[str] = None
    output_format: Optional[str] = None
    created: Optional[int] = None
    request_id: Optional[str] = None
    streamed: bool = False
    failures: List[str] = field(default_factory=list)  # one sentence per broken item
    warnings: List[str] = field(default_factory=list)  # e.g. more or fewer images than asked


# on_image(index, data, info): called with each returned image's bytes before anything else.
ImageSink = Callable[[int, bytes, dict], None]
# on_partial(index, data): streamed preview images, in order.
PartialSink = Callable[[int, bytes], None]


class _Broken(Exception):
    """One item of an answer that cannot be used; ``error`` is what to raise when no item is
    good."""

    def __init__(self, sentence: str, error: Optional[errors.BianxieError] = None,
                 kept: bool = False):
        if kept:  # its bytes went to on_image: the history has them as they came
            sentence = join_sentences(sentence, _("It is kept in the history as received."))
        super().__init__(sentence)
        self.sentence = sentence
        self.error = error or errors.ResponseError(sentence)


class Answers:
    """Reads one answer of ``client`` (an ImagesClient) within ``deadline``."""

    def __init__(self, client, deadline: float, on_image, on_partial=None, on_transfer=None):
        self.client, self.deadline = client, deadline
        self.on_image, self.on_partial = on_image, on_partial
        self.bursts = transfer.Bursts(on_transfer)  # the answer's bytes, event by event
        self.on_transfer = on_transfer

    def streamed(self, response: requests.Response, n: int) -> ImagesResult:
        """The answer to a streamed request: a stream or JSON, told by its first bytes, as
        relays label streams text/plain and JSON text/event-stream; by its Content-Type when
        the first bytes say neither."""
        pieces = self.bursts.count(body.chunks(
            response, self.deadline, body.answer_limit(max(n, 4)), self.client.timeout))
        first = b""
        for first in pieces:
            if first.lstrip(b"\xef\xbb\xbf \t\r\n"):
                break
        pieces = itertools.chain([first], pieces)
        head = first.lstrip(b"\xef\xbb\xbf \t\r\n")[:7]
        if head[:1] in (b"{", b"["):
            return self.json(response, n, pieces)
        if _SSE_START.match(head) or "text/event-stream" in response.headers.get(
                "Content-Type", ""):
            return self.stream(response, pieces)
        return self.json(response, n, pieces)

    def json(self, response: requests.Response, n: int, pieces=None) -> ImagesResult:
        limit = body.answer_limit(n)
        try:
            if pieces is None:
                pieces = body.chunks(response, self.deadline, limit, self.client.timeout,
                                     self.on_transfer)
            answer = body.read_answer(pieces)
            self.bursts.end()  # a streamed request answered with JSON: its one burst
        except body.TooDeep:
            raise errors.ResponseError(_(
                "The server's answer is nested too deeply to be read (over a thousand levels); "
                "no image answer is like that.")) from None
        except ValueError:
            raise not_json(response, self.client._scrubber) from None
        try:
            payload = answer.payload
            if not isinstance(payload, dict):
                raise errors.ResponseError(
                    _("The server's answer is not in the expected format."))
            rid = self.client._scrubber.clean(request_id(response.headers))
            data = payload.get("data")
            if isinstance(data, dict) and ("b64_json" in data or "url" in data):
                data = [data]  # one image as an object rather than a list of one
            if not data and error_envelope(payload):
                raise error_from_response(200, response.headers, b"", self.client._scrubber,
                                          err=error_envelope(payload))
            if not isinstance(data, list) or not data:
                raise errors.ResponseError(
                    _("The server answered without any image (empty data); try another prompt "
                      "or model."))
            result = _result(payload, rid, "created")
            self._deliver(data, n, answer, result)
            return result
        finally:
            answer.close()

    def chat(self, response: requests.Response) -> ImagesResult:
        """A chat door's answer (door_chat.py): its one image, read like an images item."""
        try:
            pieces = body.chunks(response, self.deadline, body.answer_limit(1),
                                 self.client.timeout, self.on_transfer)
            first = b""
            for first in pieces:
                if first.lstrip(b"\xef\xbb\xbf \t\r\n"):
                    break
            pieces = itertools.chain([first], pieces)
            if _SSE_START.match(first.lstrip(b"\xef\xbb\xbf \t\r\n")[:7]):
                # a relay that streams chat answers unasked: its chunks joined into one answer
                answer = body.Answer(door_chat.joined(sse_events(pieces)))
            else:
                answer = body.read_answer(pieces)
        except ValueError:
            raise not_json(response, self.client._scrubber) from None
        try:
            if not isinstance(answer.payload, dict):
                raise errors.ResponseError(
                    _("The server's answer is not in the expected format."))
            rid = self.client._scrubber.clean(request_id(response.headers))
            data, usage = door_chat.items(self, answer.payload, answer)
            result = _result({"created": answer.payload.get("created")}, rid, "created")
            result.usage = clean_usage(usage)
            info = {"request_id": result.request_id, "usage": result.usage, "draft": True}
            for index, item in enumerate(data[:-1]):  # paid for: in the history, not placed
                try:
                    self._item(item, index + 1, answer, info)
                except _Broken:
                    pass  # a damaged draft is kept as received; the answer is the last one
            self._deliver(data[-1:], 1, answer, result)
            return result
        finally:
            answer.close()

    def _deliver(self, data: list, n: int, answer, result) -> None:
        """Each good item to ``result.images`` (and on_image); each broken one described."""
        most = max(n, MAX_N)  # more than asked may all be billed: kept, up to a limit
        if len(data) > most:
            result.warnings.append(_(
                "The server returned {got} images where {n} were asked for; only the first "
                "{most} are kept.").format(got=len(data), n=n, most=most))
            data = data[:most]
        info = {"request_id": result.request_id, "usage": result.usage}
        errors_: List[errors.BianxieError] = []
        for index, item in enumerate(data):
            try:
                result.images.append(self._item(item, index, answer, info))
            except _Broken as broken:
                sentence = broken.sentence if len(data) == 1 else _(
                    "Image {number} of {count}: {problem}").format(
                    number=index + 1, count=len(data), problem=broken.sentence)
                result.failures.append(sentence)
                errors_.append(broken.error)
        if not result.images:
            if len(errors_) == 1:
                raise errors_[0]
            first = errors_[0]
            first.message = join_sentences(*result.failures)
            raise first
        if len(data) < n:
            result.warnings.append(_(
                "The server returned {got} of the {n} images asked for.").format(
                got=len(data), n=n))

    def _item(self, item, index: int, answer, info: dict) -> ResultImage:
        if not isinstance(item, dict):
            raise _Broken(_("The server's answer is not in the expected format."))
        if error_envelope(item) and not (item.get("b64_json") or item.get("url")):
            exc = error_from_response(200, {}, b"", self.client._scrubber, err=error_envelope(item))
            raise _Broken(exc.message, exc)
        if answer.is_big(item.get("b64_json")):
            return self._decoded(item.get("b64_json"), index, info, item, answer)
        if answer.is_big(item.get("url")):  # a data: URL (or bare base64) of a big image
            return self._decoded(item.get("url"), index, info, item, answer)
        b64, url = item.get("b64_json"), item.get("url")
        if isinstance(url, str) and _BARE_IMAGE_B64.match(url):  # a relay's failed upload
            return self._decoded(url, index, info, item)
        if b64 and isinstance(b64, str):
            return self._decoded(b64, index, info, item)
        if b64 or (url and not isinstance(url, str)):
            raise _Broken(_("The server's answer is not in the expected format."))
        if url and url[:5].lower() == "data:":  # the image itself, as a data: URL
            return self._decoded(url, index, info, item)
        if url:
            return self._fetched(url, index, info, item)
        raise _Broken(_("The server's answer holds neither image data nor a URL."))

    def _decoded(self, b64: str, index: int, info: dict, item: dict,
                 answer=None) -> ResultImage:
        try:
            data = decode_b64_pieces(answer.pieces(b64)) if answer else decode_b64(b64)
        except (ValueError, RecursionError):
            if self.on_image:  # keep what was paid for, as received, for a later look
                raw = answer.text(b64) if answer else b64.encode("utf-8", "replace")
                self.on_image(index, raw, dict(info, broken="base64"))
            raise _Broken(_("The image data from the server is cut off or damaged (invalid "
                            "base64)."), kept=bool(self.on_image)) from None
        return self._checked(data, index, info, item, None)

    def _fetched(self, url: str, index: int, info: dict, item: dict) -> ResultImage:
        shown = self.client._scrub(printable(url, 80))
        try:
            parts = urlsplit(url)
            usable = parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and \
                parts.port != 0  # .port: ValueError when out of range or not a number
        except ValueError:
            usable = False
        if not usable:
            raise _Broken(_("The server answered with a link that cannot be downloaded "
                            "({url}).").format(url=shown))
        try:
            data = self.client.download(url, self.deadline, self.on_transfer)
        except errors.BianxieError as exc:
            raise _Broken(exc.message, exc) from None
        return self._checked(data, index, dict(info, source="url"), item, url)

    def _checked(self, data: bytes, index: int, info: dict, item: dict, url) -> ResultImage:
        verdict = image_check.inspect(data)
        if verdict.problem:
            if self.on_image:
                self.on_image(index, data, dict(info, broken="image", format=verdict.format))
            what = verdict.problem if url else _("base64 of {what}").format(what=verdict.problem)
            raise _Broken(_("The image data from the server is cut off or damaged "
                            "({problem}).").format(problem=what), kept=bool(self.on_image))
        if self.on_image:
            self.on_image(index, data, dict(info, format=verdict.format))
        revised = item.get("revised_prompt")
        if self.on_image and not getattr(self.client, "keep_images", True):
            data = None
        return ResultImage(data=data, index=index, url=url, format=verdict.format,
                           revised_prompt=revised if isinstance(revised, str) else None)

    def stream(self, response: requests.Response, pieces=None) -> ImagesResult:
        rid = self.client._scrubber.clean(request_id(response.headers))
        if pieces is None:
            pieces = body.chunks(response, self.deadline, body.answer_limit(4),
                                 self.client.timeout)
        partials = 0
        for event, payload in sse_events(pieces, self.bursts.end):
            if event == "error" and not isinstance(payload, dict):
                raise stream_error(payload if isinstance(payload, str) else "",
                                   self.client._scrubber, rid)
            if not isinstance(payload, dict):
                continue  # a number, a list, a string or broken JSON: not an event we know
            if error_field(payload) or event == "error" or payload.get("type") == "error":
                raise stream_error(error_field(payload) or payload, self.client._scrubber, rid)
            kind = payload.get("type") if isinstance(payload.get("type"), str) else event
            if kind.endswith("partial_image"):
                partials += 1
                self._partial(payload, partials - 1)
            elif kind.endswith("completed"):
                result = _result(payload, rid, "created_at", streamed=True)
                self._deliver([payload], 1, body.Answer(None), result)
                return result
        raise errors.ConnectionLostError(
            _("The stream ended before the final image arrived."))

    def _partial(self, payload: dict, count: int) -> None:
        on_partial = self.on_partial
        if not on_partial or not payload.get("b64_json"):
            return
        index = payload.get("partial_image_index")
        index = index if isinstance(index, int) and not isinstance(index, bool) else count
        try:
            on_partial(index, decode_b64(payload["b64_json"]))
        except ValueError:
            pass  # a broken preview is no reason to lose the final image


def _result(payload: dict, rid: Optional[str], created: str, streamed=False) -> ImagesResult:
    """An empty result with the answer's own fields, each of the type it should be."""
    return ImagesResult(
        images=[], usage=clean_usage(payload.get("usage")), size=_text(payload.get("size")),
        quality=_text(payload.get("quality")), background=_text(payload.get("background")),
        output_format=_text(payload.get("output_format")), created=_int(payload.get(created)),
        request_id=rid, streamed=streamed)


def _text(value) -> Optional[str]:
    return printable(value, 40) if isinstance(value, str) else None


def _int(value) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def not_json(response: requests.Response, scrub=None) -> errors.ResponseError:
    if getattr(response, "cut_compressed", False):
        return errors.ResponseError(_(
            "The server's compressed answer was cut off before its end."))
    ctype = response.headers.get("Content-Type", "?").split(";")[0]
    ctype = ctype.strip() if _MEDIA_TYPE.match(ctype.strip()) else "?"
    return errors.ResponseError(
        _("The server sent something that is not JSON (HTTP {status}, {ctype}): the "
          "base URL may point to a web page rather than the API.").format(
            status=response.status_code,
            ctype=(scrub.clean(ctype, 60) if scrub else None) or "?"))
