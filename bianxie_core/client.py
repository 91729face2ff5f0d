"""HTTP client for ``POST {base}/images/generations`` and ``POST {base}/images/edits``.

One ``requests.Session`` per client. The wire format is what the official OpenAI Python SDK
sends: JSON for generations; multipart for edits with one image as ``image``, several as
repeated ``image[]``, the mask as ``mask``, every file part with a filename and an image
Content-Type. Only the fields the caller set are sent; ``response_format`` never is.

Every image is handed to ``on_image`` (the history) the moment its bytes exist, before the
response is parsed further, so nothing paid for is lost when a later step fails.

Retries — what is retried automatically, and why
-------------------------------------------------

=============================================  ===================  ==========================
failure                                        reached the model?   automatic retry
=============================================  ===================  ==========================
connection failed before the body was sent     no                   yes, up to 2 times
429 ``rate_limit_exceeded``                    no                   yes, up to 3 times, waiting
                                                                    Retry-After (at most 60 s)
429/403 ``insufficient_quota``, quota errors   no                   never
400, 401, 403, 404, 501                        no                   never: the input must change
read timeout or overall deadline               maybe (billed)       never silently (``retries``)
connection reset after the body was sent       maybe (billed)       never silently (``retries``)
5xx, 524, HTML error pages                     maybe (billed)       never silently (``retries``)
200 with bad JSON, bad base64 or empty data    yes (billed)         never
stream cut before ``completed``, error event   maybe (billed)       never silently (``retries``)
=============================================  ===================  ==========================

``retries`` (the CLI's ``--retries N``) lets a user who accepts the risk of paying twice
retry the "maybe billed" rows as well.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional
from urllib.parse import quote, quote_plus, urlsplit

import requests

from bianxie_core import __version__, errors, network
from bianxie_core.config import redact_url_password
from bianxie_core.i18n import _, join_sentences
from bianxie_core.params import EditRequest, GenerateRequest

CONNECT_RETRIES = 2
RATE_LIMIT_RETRIES = 3
RETRY_AFTER_CAP = 60.0
_REQUEST_ID_SUFFIX = re.compile(r"\s*\(request id: ([^)]+)\)\s*$")


@dataclass
class ResultImage:
    data: bytes = field(repr=False)
    index: int = 0
    url: Optional[str] = None
    revised_prompt: Optional[str] = None


@dataclass
class ImagesResult:
    images: List[ResultImage]
    usage: Optional[dict] = None
    size: Optional[str] = None
    quality: Optional[str] = None
    background: Optional[str] = None
    output_format: Optional[str] = None
    created: Optional[int] = None
    request_id: Optional[str] = None
    streamed: bool = False
    failures: List[str] = field(default_factory=list)  # one sentence per damaged item
    warnings: List[str] = field(default_factory=list)  # e.g. fewer or more images than asked


# on_image(index, data, info): called with each returned image's bytes before anything else.
ImageSink = Callable[[int, bytes, dict], None]
# on_partial(index, data): streamed preview images, in order.
PartialSink = Callable[[int, bytes], None]


class _Body:
    """A request body that notices when its last byte has been handed to the socket."""

    def __init__(self, data: bytes):
        self._data = data
        self._pos = 0
        self.sent = False

    def __len__(self) -> int:
        return len(self._data)

    def read(self, size: int = -1) -> bytes:
        if self._pos >= len(self._data):
            self.sent = True  # the previous block went through sendall()
            return b""
        end = len(self._data) if size is None or size < 0 else self._pos + size
        chunk = self._data[self._pos:end]
        self._pos += len(chunk)
        return chunk


def encode_multipart(fields_: dict, files: list, boundary: str) -> bytes:
    """multipart/form-data as the SDK writes it: text parts first, then the file parts."""
    out = []
    b = boundary.encode()
    for name, value in fields_.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        out += [b"--", b, b"\r\n",
                f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode(),
                str(value).encode("utf-8"), b"\r\n"]
    for name, image in files:
        filename = image.name.replace('"', "%22")
        out += [b"--", b, b"\r\n",
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                .encode(),
                f"Content-Type: {image.content_type}\r\n\r\n".encode(),
                image.data, b"\r\n"]
    out += [b"--", b, b"--\r\n"]
    return b"".join(out)


def edit_file_parts(request: EditRequest) -> list:
    images = request.images
    parts = [("image", images[0])] if len(images) == 1 else [("image[]", im) for im in images]
    if request.mask is not None:
        parts.append(("mask", request.mask))
    return parts


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def same_origin(a: str, b: str) -> bool:
    sa, sb = urlsplit(a), urlsplit(b)
    return (sa.scheme, sa.hostname, sa.port) == (sb.scheme, sb.hostname, sb.port)


class ImagesClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 300.0,
        connect_timeout: float = 10.0,
        proxy: str = "",
        ca_bundle: str = "",
        retries: int = 0,
        session: Optional[requests.Session] = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retries = retries  # extra attempts for failures that may already be billed
        self.session = network.make_session(proxy, ca_bundle, session)
        self.session.headers.update({
            "User-Agent": f"bianxie-gimp/{__version__}",
            "Accept": "application/json",
        })

    def __repr__(self) -> str:
        return f"ImagesClient(base_url={self.base_url!r})"

    # -- public calls -------------------------------------------------------------------

    def generate(
        self,
        request: GenerateRequest,
        *,
        on_image: Optional[ImageSink] = None,
        on_partial: Optional[PartialSink] = None,
    ) -> ImagesResult:
        body = json.dumps(request.fields(), ensure_ascii=False, separators=(",", ":"))
        return self._call(
            "/images/generations", body.encode("utf-8"), "application/json",
            stream=bool(request.stream), on_image=on_image, on_partial=on_partial,
        )

    def edit(
        self,
        request: EditRequest,
        *,
        on_image: Optional[ImageSink] = None,
        on_partial: Optional[PartialSink] = None,
    ) -> ImagesResult:
        boundary = "bianxie" + base64.b32encode(__import__("os").urandom(10)).decode().lower()
        body = encode_multipart(request.fields(), edit_file_parts(request), boundary)
        return self._call(
            "/images/edits", body, f"multipart/form-data; boundary={boundary}",
            stream=bool(request.stream), on_image=on_image, on_partial=on_partial,
        )

    def list_models(self) -> List[str]:
        response = self._send("GET", "/models", None, None, stream=False)
        if response.status_code >= 400:
            raise error_from_response(response.status_code, response.headers, response.content,
                                      scrub=self._scrub)
        payload = self._json(response, response.content)
        return sorted(m.get("id", "") for m in payload.get("data", []) if m.get("id"))

    def download(self, url: str) -> bytes:
        """Fetch an image URL; the key goes only to the API's own origin."""
        headers = {"Accept": "*/*"}
        if same_origin(url, self.base_url):
            headers["Authorization"] = f"Bearer {self._key}"
        try:
            response = requests.get(
                url, headers=headers, timeout=(self.connect_timeout, self.timeout),
                proxies=self.session.proxies, verify=self.session.verify,
            )
        except requests.RequestException as exc:
            raise errors.ConnectionLostError(
                _("Downloading the result from {host} failed ({reason}).").format(
                    host=urlsplit(url).hostname, reason=self._scrub(type(exc).__name__)
                )
            ) from None
        if response.status_code != 200:
            raise errors.ResponseError(
                _("Downloading the result from {host} failed with HTTP {status}.").format(
                    host=urlsplit(url).hostname, status=response.status_code
                )
            )
        return response.content

    # -- the request loop ---------------------------------------------------------------

    def _call(self, path, body, content_type, *, stream, on_image, on_partial) -> ImagesResult:
        billed_attempts = 0
        connect_attempts = 0
        rate_attempts = 0
        while True:
            try:
                response = self._send("POST", path, body, content_type, stream=True)
                try:
                    if response.status_code >= 400:
                        raise self._error(response)
                    if stream and "text/event-stream" in response.headers.get("Content-Type", ""):
                        return self._read_stream(response, on_image, on_partial)
                    return self._read_json(response, on_image)
                finally:
                    response.close()
            except errors.ConnectError:
                connect_attempts += 1
                if connect_attempts > CONNECT_RETRIES:
                    raise
                time.sleep(0.5 * connect_attempts)
            except errors.RateLimitError as exc:
                rate_attempts += 1
                if rate_attempts > RATE_LIMIT_RETRIES or (exc.retry_after or 0) > RETRY_AFTER_CAP:
                    raise
                time.sleep(min(exc.retry_after or 2.0 * rate_attempts, RETRY_AFTER_CAP))
            except (errors.ServerError, errors.TransportError) as exc:
                if not exc.may_be_billed or billed_attempts >= self.retries:
                    raise
                if stream and getattr(exc, "code", None) == "bad_response_body":
                    raise  # a relay that cannot pass streams on fails every attempt, billed
                billed_attempts += 1

    def _send(self, method, path, body, content_type, *, stream) -> requests.Response:
        url = self.base_url + path
        headers = {"Authorization": f"Bearer {self._key}"}
        if content_type:
            headers["Content-Type"] = content_type
        data = _Body(body) if body is not None else None
        try:
            return self.session.request(
                method, url, data=data, headers=headers, stream=stream,
                timeout=(self.connect_timeout, self.timeout), allow_redirects=False,
            )
        except requests.exceptions.SSLError as exc:
            parts = urlsplit(url)
            raise errors.ConnectError(network.tls_failure(
                exc, parts.hostname, getattr(self.session, "trust", network.trust_for()),
                parts.port or 443).sentence) from None
        except requests.exceptions.ProxyError as exc:
            raise errors.ConnectError(network.proxy_failure(
                exc, url, self.session, self.connect_timeout).sentence) from None
        except requests.exceptions.ConnectTimeout as exc:
            raise errors.ConnectError(
                _("Could not connect to {host} within {seconds:g} s: check the network, the "
                  "proxy and the base URL.").format(
                    host=urlsplit(url).hostname, seconds=self.connect_timeout
                )
            ) from exc.__cause__
        except requests.exceptions.ReadTimeout:
            raise errors.TimeoutError(
                _("{host} did not answer within {seconds:g} s.").format(
                    host=urlsplit(url).hostname, seconds=self.timeout
                )
            ) from None
        except requests.exceptions.ConnectionError as exc:
            if data is not None and data.sent or _is_after_send(exc) and data is None:
                raise errors.ConnectionLostError(
                    _("The connection to {host} was lost while waiting for the answer.").format(
                        host=urlsplit(url).hostname
                    )
                ) from None
            raise errors.ConnectError(
                _("Could not connect to {host}: check the network, the proxy and the base URL "
                  "({url}).").format(host=urlsplit(url).hostname, url=self.base_url)
            ) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema) as exc:
            if not (self.session.proxies or requests.utils.get_environ_proxies(url)):
                raise errors.ConnectError(_("The request to {host} failed: {reason}.").format(
                    host=urlsplit(url).hostname, reason=self._scrub(str(exc))[:200])) from None
            raise errors.ConnectError(
                _("The proxy setting is not usable: write it as http://host:port in Settings or "
                  "with `bianxie config set proxy` (SOCKS proxies are not supported).")
            ) from None
        except requests.RequestException as exc:
            raise errors.ConnectError(
                _("The request to {host} failed: {reason}.").format(
                    host=urlsplit(url).hostname, reason=self._scrub(str(exc))[:200]
                )
            ) from None

    # -- responses ----------------------------------------------------------------------

    def _read_body(self, response: requests.Response, deadline: float) -> bytes:
        chunks = []
        for chunk in self._chunks(response, deadline):
            chunks.append(chunk)
        return b"".join(chunks)

    def _chunks(self, response: requests.Response, deadline: float) -> Iterator[bytes]:
        """The body as it arrives; a trickle that outlasts the deadline still ends."""
        watchdog = threading.Timer(max(deadline - time.monotonic(), 0), _close_socket, [response])
        watchdog.daemon = True
        watchdog.start()
        host = urlsplit(response.url).hostname
        try:
            raw = response.raw
            read = getattr(raw, "read1", None) or raw.read
            while True:
                try:
                    chunk = read(65536)
                except requests.exceptions.ReadTimeout:
                    raise errors.TimeoutError(
                        _("{host} stopped sending within {seconds:g} s.").format(
                            host=host, seconds=self.timeout)) from None
                except Exception as exc:  # urllib3 and socket errors differ between versions
                    if time.monotonic() >= deadline:
                        break
                    if "timed out" in str(exc).lower():
                        raise errors.TimeoutError(
                            _("{host} stopped sending within {seconds:g} s.").format(
                                host=host, seconds=self.timeout)) from None
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
                    host=host, seconds=self.timeout))

    def _read_json(self, response: requests.Response, on_image) -> ImagesResult:
        deadline = time.monotonic() + self.timeout
        content = self._read_body(response, deadline)
        payload = self._json(response, content)
        request_id = _request_id(response)
        data = payload.get("data")
        if not isinstance(data, list) or not data:
            raise errors.ResponseError(
                _("The server answered without any image (empty data); try another prompt or "
                  "model."))
        images = []
        info = {"request_id": request_id, "usage": payload.get("usage")}
        for index, item in enumerate(data):
            images.append(self._image(item, index, on_image, info))
        return ImagesResult(
            images=images,
            usage=payload.get("usage"),
            size=payload.get("size"),
            quality=payload.get("quality"),
            background=payload.get("background"),
            output_format=payload.get("output_format"),
            created=payload.get("created"),
            request_id=request_id,
        )

    def _image(self, item, index: int, on_image, info: dict) -> ResultImage:
        if not isinstance(item, dict):
            raise errors.ResponseError(_("The server's answer is not in the expected format."))
        b64 = item.get("b64_json")
        url = item.get("url")
        if b64:
            data = _decode_b64(b64, index, on_image, info)
        elif url:
            data = self.download(url)
            if on_image:
                on_image(index, data, dict(info, source="url"))
        else:
            raise errors.ResponseError(
                _("The server's answer holds neither image data nor a URL."))
        return ResultImage(data=data, index=index, url=url,
                           revised_prompt=item.get("revised_prompt"))

    def _read_stream(self, response, on_image, on_partial) -> ImagesResult:
        deadline = time.monotonic() + self.timeout
        request_id = _request_id(response)
        for event, payload in _sse_events(self._chunks(response, deadline)):
            if payload is None:
                continue
            if "error" in payload or event == "error":
                err = payload.get("error") if isinstance(payload.get("error"), dict) else payload
                message, rid = _split_request_id(str(err.get("message") or ""))
                raise errors.ServerError(
                    _("The server stopped the image with an error: {message}").format(
                        message=self._scrub(message) or err.get("code") or "?"),
                    code=err.get("code"), type=err.get("type"), request_id=rid or request_id,
                )
            kind = payload.get("type") or event or ""
            if kind.endswith("partial_image"):
                if on_partial and payload.get("b64_json"):
                    try:
                        on_partial(int(payload.get("partial_image_index", 0)),
                                   base64.b64decode(payload["b64_json"]))
                    except (binascii.Error, ValueError):
                        pass  # a broken preview is no reason to lose the final image
            elif kind.endswith("completed"):
                info = {"request_id": request_id, "usage": payload.get("usage")}
                image = ResultImage(data=_decode_b64(payload.get("b64_json") or "", 0,
                                                     on_image, info), index=0)
                return ImagesResult(
                    images=[image], usage=payload.get("usage"), size=payload.get("size"),
                    quality=payload.get("quality"), background=payload.get("background"),
                    output_format=payload.get("output_format"),
                    created=payload.get("created_at"), request_id=request_id, streamed=True,
                )
        raise errors.ConnectionLostError(
            _("The stream ended before the final image arrived."))

    def _json(self, response: requests.Response, content: bytes) -> dict:
        try:
            payload = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise errors.ResponseError(
                _("The server sent something that is not JSON (HTTP {status}, {ctype}): the "
                  "base URL may point to a web page rather than the API.").format(
                    status=response.status_code,
                    ctype=response.headers.get("Content-Type", "?").split(";")[0])
            ) from None
        if not isinstance(payload, dict):
            raise errors.ResponseError(_("The server's answer is not in the expected format."))
        return payload

    def _error(self, response: requests.Response) -> errors.BianxieError:
        try:
            content = self._read_body(response, time.monotonic() + min(self.timeout, 30))
        except errors.BianxieError:
            content = b""
        return error_from_response(
            response.status_code, response.headers, content, scrub=self._scrub
        )

    def _scrub(self, text: str) -> str:
        """Remove the key, in any form a server or library might echo, and any password in a
        URL (a proxy's) from a message."""
        if not text:
            return text
        for form in key_forms(self._key) if self._key else ():
            text = text.replace(form, "sk-…")
        return redact_url_password(text)


def key_forms(key: str) -> list:
    """The key as a server might echo it, longest first: clear, URL-encoded, and base64
    (standard or urlsafe, padded or not, also inside an encoded "Bearer <key>")."""
    raw = key.encode()
    forms = {key, quote(key, safe=""), quote_plus(key)}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode()
        forms |= {whole, whole.rstrip("=")}
        for pad in (1, 2):  # the characters that depend on the key alone, at each alignment
            forms.add(encode(b"\0" * pad + raw).decode()[4:-4])
    return sorted((f for f in forms if len(f) >= 8 or f in (key, quote(key, safe=""))),
                  key=len, reverse=True)


def _close_socket(response: requests.Response) -> None:
    try:
        sock = response.raw._fp.fp.raw._sock  # http.client → socket.SocketIO → socket
        import socket

        sock.shutdown(socket.SHUT_RDWR)
    except Exception:
        try:
            response.close()
        except Exception:
            pass


def _is_after_send(exc: Exception) -> bool:
    text = repr(exc)
    return "RemoteDisconnected" in text or "Connection aborted" in text


def _decode_b64(b64: str, index: int, on_image, info: dict) -> bytes:
    try:
        data = base64.b64decode(b64, validate=True)
        if not data:
            raise ValueError("empty")
    except (binascii.Error, ValueError):
        if on_image:  # keep what was paid for, as received, for a later look
            on_image(index, b64.encode("ascii", "replace"), dict(info, broken="base64"))
        raise errors.ResponseError(
            _("The image data from the server is cut off or damaged (invalid base64).")
        ) from None
    if on_image:
        on_image(index, data, info)
    return data


def _request_id(response: requests.Response) -> Optional[str]:
    h = response.headers
    return h.get("x-request-id") or h.get("X-Oneapi-Request-Id") or h.get("x-new-api-request-id")


def _split_request_id(message: str) -> tuple:
    match = _REQUEST_ID_SUFFIX.search(message)
    if not match:
        return message, None
    return message[: match.start()], match.group(1)


def _sse_events(chunks: Iterator[bytes]):
    """(event name, parsed JSON or None) for each server-sent event."""
    buffer = b""
    event, data = "", []
    for chunk in chunks:
        buffer += chunk
        while True:
            cut = buffer.find(b"\n")
            if cut < 0:
                break
            line = buffer[:cut].rstrip(b"\r").decode("utf-8", "replace")
            buffer = buffer[cut + 1:]
            if not line:
                if data:
                    text = "\n".join(data)
                    if text.strip() == "[DONE]":
                        return
                    try:
                        yield event, json.loads(text)
                    except ValueError:
                        yield event, None
                event, data = "", []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())


_HTML_TITLE = re.compile(rb"<title>(.*?)</title>", re.I | re.S)


def _tls_reason(text: str) -> str:
    return network.tls_reason(text)


_CATEGORIES = re.compile(r"safety_violations=\[([^\]]*)\]")


def error_from_response(status: int, headers, content: bytes, scrub=lambda s: s):
    """The exception for an error answer: one plain sentence, never the raw page."""
    request_id = headers.get("x-request-id") or headers.get("X-Oneapi-Request-Id")
    err = {}
    try:
        payload = json.loads(content.decode("utf-8"))
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            err = payload["error"]
        elif isinstance(payload, dict) and isinstance(payload.get("message"), str):
            err = payload
    except (UnicodeDecodeError, ValueError):
        pass
    raw_message, rid = _split_request_id(scrub(str(err.get("message") or "")).strip())
    request_id = rid or request_id
    code = err.get("code") if isinstance(err.get("code"), str) else None
    etype = err.get("type") if isinstance(err.get("type"), str) else None
    param = err.get("param") or None
    kw = dict(status_code=status, code=code, type=etype, param=param, request_id=request_id)
    said = _("The server said: {message}").format(message=raw_message) if raw_message else ""

    def told(text: str) -> str:
        return join_sentences(text, said)

    if code in ("insufficient_quota", "insufficient_user_quota", "pre_consume_token_quota_failed",
                "billing_hard_limit_reached") or (status == 402):
        return errors.QuotaError(told(_(
            "Your balance or quota at the service is used up: top it up, then try again.")), **kw)
    if status in (401, 403) and "令牌额度已用尽" in raw_message:  # new-api: this key's own limit
        return errors.QuotaError(told(_(
            "This API key's quota at the service is used up: raise its limit or top up in the "
            "service's console, then try again.")), **kw)
    if status in (401, 403) and "令牌已过期" in raw_message:
        return errors.AuthenticationError(told(_(
            "This API key has expired at the service: extend it or make a new one in the "
            "service's console, then enter it in Settings or with `bianxie config set key`.")),
            **kw)
    if status == 429:
        wait = _retry_after(headers)
        if wait is not None and wait > RETRY_AFTER_CAP:
            return errors.RateLimitError(told(_(
                "Too many requests (rate limit): the service asks to wait {minutes} minutes "
                "before the next one; try again then.").format(minutes=math.ceil(wait / 60))),
                retry_after=wait, **kw)
        return errors.RateLimitError(told(_(
            "Too many requests right now (rate limit): wait a minute, then try again.")),
            retry_after=wait, **kw)
    if status == 401:
        return errors.AuthenticationError(told(_(
            "The API key was refused (HTTP 401): check the key in Settings or with "
            "`bianxie config set key`.")), **kw)
    if status == 403:
        if "verif" in raw_message.lower():
            return errors.PermissionDeniedError(told(_(
                "Your organisation must be verified before it may use this model: verify it "
                "with the provider, or choose another model.")), **kw)
        return errors.PermissionDeniedError(told(_(
            "The service refused this request (HTTP 403): check that your key may use this "
            "model.")), **kw)
    if status == 400 and code in ("moderation_blocked", "content_policy_violation"):
        categories = _moderation_categories(err, raw_message)
        what = (" (" + ", ".join(categories) + ")") if categories else ""
        return errors.ModerationError(
            _("The safety system rejected this request{categories}: change the prompt or the "
              "image.").format(categories=what), categories=categories, **kw)
    if etype in ("new_api_error", "one_api_error") and (
            code == "model_not_found" or "无可用渠道" in raw_message):
        return errors.BadRequestError(told(_(
            "The relay has no channel for this model right now (HTTP {status}): choose another "
            "model, or try again later.").format(status=status)), **kw)
    if status == 501 or code == "api_not_implemented":
        return errors.BadRequestError(told(_(
            "This service does not offer this endpoint (HTTP {status}): use a base URL that "
            "supports image edits.").format(status=status)), **kw)
    if status == 404:
        return errors.BadRequestError(told(_(
            "Not found (HTTP 404): check the base URL and the model name.")), **kw)
    if 400 <= status < 500:
        if param:
            text = _("The server rejected the parameter {param}: fix it and try again.").format(
                param=param)
        else:
            text = _("The server rejected the request (HTTP {status}): check the prompt and the "
                     "settings.").format(status=status)
        return errors.BadRequestError(told(text), **kw)
    reason = _reason(status, content, headers)
    if etype in ("new_api_error", "one_api_error") and raw_message:
        return errors.ServerError(
            _("The relay failed (HTTP {status}): {message}").format(
                status=status, message=raw_message), **kw)
    return errors.ServerError(
        _("The service or a proxy in front of it failed (HTTP {status}{reason}): try again in a "
          "minute.").format(status=status, reason=reason), **kw)


def _reason(status: int, content: bytes, headers) -> str:
    if status == 524:
        return ", " + _("the proxy gave up waiting for the model")
    match = _HTML_TITLE.search(content or b"")
    if match:
        title = re.sub(r"\s+", " ", match.group(1).decode("utf-8", "replace")).strip()[:80]
        title = re.sub(r"^%d\s*" % status, "", title)
        return ", " + title if title else ""
    return ""


def _retry_after(headers) -> Optional[float]:
    value = headers.get("Retry-After") or headers.get("retry-after-ms")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if "retry-after-ms" in headers and "Retry-After" not in headers:
        seconds /= 1000.0
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _moderation_categories(err: dict, message: str) -> tuple:
    details = err.get("moderation_details")
    if isinstance(details, dict) and isinstance(details.get("categories"), list):
        return tuple(str(c) for c in details["categories"])
    match = _CATEGORIES.search(message)
    if match:
        return tuple(c.strip().strip("'\"") for c in match.group(1).split(",") if c.strip())
    return ()
