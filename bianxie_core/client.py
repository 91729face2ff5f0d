"""HTTP client for ``POST {base}/images/generations`` and ``POST {base}/images/edits``.

One ``requests.Session`` per client. The wire format is what the official OpenAI Python SDK
sends (wire.py): JSON for generations; multipart for edits. Only the fields the caller set are
sent; ``response_format`` never is. Bodies are read by body.py (decoded, capped, within the
deadline); error answers become exceptions in error_table.py.

Every image is handed to ``on_image`` (the history) the moment its bytes exist, before the
response is parsed further, so nothing paid for is lost when a later step fails. One broken
item does not cost the others: each good image is delivered, each broken one is recorded
(``broken`` in its info, when it has bytes) and described in ``ImagesResult.failures``.

Retries — what is retried automatically, and why
-------------------------------------------------

=============================================  ===================  ==========================
failure                                        reached the model?   automatic retry
=============================================  ===================  ==========================
connection failed before the body was sent     no                   yes, up to 2 times
429 ``rate_limit_exceeded``                    no                   yes, up to 3 times, waiting
                                                                    Retry-After (at most 60 s)
429/403 ``insufficient_quota``, quota errors   no                   never
3xx, 400, 401, 403, 404, 501                   no                   never: the input must change
read timeout or overall deadline               maybe (billed)       never silently (``retries``)
connection reset after the body was sent       maybe (billed)       never silently (``retries``)
5xx, 524, HTML error pages                     maybe (billed)       never silently (``retries``)
200 with bad JSON, bad base64 or empty data    yes (billed)         never
stream cut before ``completed``, error event   maybe (billed)       never silently (``retries``)
=============================================  ===================  ==========================

``retries`` (the CLI's ``--retries N``) lets a user who accepts the risk of paying twice
retry the "maybe billed" rows as well. ``timeout`` bounds a whole call: the headers, the body
and the waits between retries.
"""

from __future__ import annotations

import http.client
import threading
import time
from typing import Callable, List, Optional
from urllib.parse import urlsplit

import requests
import urllib3.connection

from bianxie_core import __version__, body, doors, errors, network
from bianxie_core.answers import (  # noqa: F401 - ImagesResult, ResultImage: the client's API
    Answers,
    ImageSink,
    ImagesResult,
    PartialSink,
    ResultImage,
    not_json,
)
from bianxie_core.error_table import (  # noqa: F401 - RETRY_AFTER_CAP, error_from_response: API
    RETRY_AFTER_CAP,
    Scrubber,
    error_from_response,
)
from bianxie_core.i18n import _
from bianxie_core.params import EditRequest, GenerateRequest
from bianxie_core.safe_text import printable
from bianxie_core.transfer import TransferSink
from bianxie_core.wire import _Body

class _FinalResponse(http.client.HTTPResponse):
    """http.client skips only ``100 Continue``; a ``102 Processing`` or ``103 Early Hints``
    (CDNs send them) would be taken for the answer and the paid answer behind it never read.
    RFC 9110 §15.2: a client must parse any number of 1xx before the final one."""

    def _read_status(self):
        while True:
            version, status, reason = super()._read_status()
            if not 102 <= status < 200:
                return version, status, reason
            http.client.parse_headers(self.fp)  # the interim answer's headers, dropped


# Every connection urllib3 makes (HTTP, HTTPS, through a SOCKS proxy) reads its answer with it.
urllib3.connection.HTTPConnection.response_class = _FinalResponse

CONNECT_RETRIES = 2
# A result URL is fetched again (a GET costs nothing) when its store is busy or the link drops.
DOWNLOAD_ATTEMPTS = 3
DOWNLOAD_RETRY_STATUS = (408, 429, 500, 502, 503, 504)
RATE_LIMIT_RETRIES = 3
MAX_TIMEOUT = 86400.0


def _bounded(seconds: float) -> float:
    """A timeout the clocks and sockets can take: at most a day (inf and 1e10 would overflow
    them after the request was paid for)."""
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return MAX_TIMEOUT
    return seconds if 0 < seconds <= MAX_TIMEOUT else MAX_TIMEOUT


def same_origin(a: str, b: str) -> bool:
    """The same scheme, host and port, a default port written out or not (RFC 6454)."""
    try:
        return _origin(a) == _origin(b)
    except ValueError:  # a port out of range or not a number
        return False


def _origin(url: str) -> tuple:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, parts.hostname, parts.port or {"http": 80, "https": 443}.get(scheme)


class _Busy(Exception):
    """A result URL's store answered with a status worth trying again; ``error`` if not."""

    def __init__(self, error: errors.BianxieError):
        super().__init__(error.message)
        self.error = error


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
        keep_images: bool = True,
    ):
        """``keep_images`` False: an image handed to ``on_image`` is not also kept in the
        result (``ResultImage.data`` is None), so ten large ones are never all in memory."""
        self.base_url = base_url.rstrip("/")
        self.keep_images = keep_images
        self._key = api_key
        self.timeout = _bounded(timeout)
        self.connect_timeout = _bounded(connect_timeout)
        self.retries = retries  # extra attempts for failures that may already be billed
        self.session = network.make_session(proxy, ca_bundle, session)
        self.session.headers.update({
            "User-Agent": f"bianxie-gimp/{__version__}",
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",  # what body.py decodes, never br or zstd
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
        on_transfer: Optional[TransferSink] = None,
        family=None,
    ) -> ImagesResult:
        """``family`` (families.Family, None: the OpenAI images API) picks the door."""
        return self._door("generate", request, family, on_image, on_partial, on_transfer)

    def edit(
        self,
        request: EditRequest,
        *,
        on_image: Optional[ImageSink] = None,
        on_partial: Optional[PartialSink] = None,
        on_transfer: Optional[TransferSink] = None,
        family=None,
    ) -> ImagesResult:
        """``on_transfer(direction, done, total)``: the bytes of the upload and of the answer
        as they move, for a progress display (transfer.py)."""
        return self._door("edit", request, family, on_image, on_partial, on_transfer)

    def _door(self, kind, request, family, on_image, on_partial, on_transfer) -> ImagesResult:
        wire = doors.build(kind, request, family)
        stream = bool(request.stream) and (family is None or family.stream)
        return self._call(wire.path, wire.payload, wire.content_type, stream=stream,
                          on_image=on_image, on_partial=on_partial, n=request.n or 1,
                          reader=wire.reader, on_transfer=on_transfer)

    def list_models(self) -> List[str]:
        deadline = time.monotonic() + self.timeout
        response = self._within(deadline, self.base_url,
                                lambda: self._send("GET", "/models", None, None, stream=True))
        try:
            if response.status_code >= 300:
                raise self._error(response, deadline)
            content = body.read(response, deadline, body.MAX_MODELS, self.timeout)
        finally:
            response.close()
        payload = self._json(response, content)
        items = payload.get("data") if isinstance(payload.get("data"), list) else []
        names = (printable(self._scrub(m["id"]), 200) for m in items
                 if isinstance(m, dict) and isinstance(m.get("id"), str))
        return sorted({name for name in names if name})

    def download(self, url: str, deadline: Optional[float] = None,
                 on_transfer: Optional[TransferSink] = None) -> bytes:
        """Fetch an image URL; the key goes only to the API's own origin. A busy store (5xx,
        429) or a lost connection is tried again, within the deadline: the image is paid for."""
        deadline = deadline or time.monotonic() + self.timeout
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                return self._download(url, deadline, on_transfer)
            except (errors.ConnectionLostError, _Busy) as exc:
                wait = 0.5 * attempt
                if attempt == DOWNLOAD_ATTEMPTS or time.monotonic() + wait >= deadline:
                    raise (exc.error if isinstance(exc, _Busy) else exc) from None
                time.sleep(wait)
        raise AssertionError("unreachable")

    def _download(self, url: str, deadline: float, on_transfer) -> bytes:
        host = self._scrub(printable(urlsplit(url).hostname or "?", 100))
        headers = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate"}
        if same_origin(url, self.base_url):
            headers["Authorization"] = f"Bearer {self._key}"
        failure = None
        try:
            response = self._within(deadline, url, lambda: self.session.get(
                url, headers=headers, timeout=(self.connect_timeout, self.timeout), stream=True,
            ))
        except requests.RequestException as exc:
            failure = type(exc).__name__
        if failure:  # raised outside the handler: requests' error names the server's host
            raise errors.ConnectionLostError(
                _("Downloading the result from {host} failed ({reason}).").format(
                    host=host, reason=failure))
        try:
            if response.status_code != 200:
                error = errors.ResponseError(
                    _("Downloading the result from {host} failed with HTTP {status}.").format(
                        host=host, status=response.status_code
                    )
                )
                raise _Busy(error) if response.status_code in DOWNLOAD_RETRY_STATUS else error
            return body.read(response, deadline, body.MAX_DOWNLOAD, self.timeout, on_transfer)
        finally:
            response.close()

    # -- the request loop ---------------------------------------------------------------

    def _call(self, path, payload, content_type, *, stream, on_image, on_partial,
              n=1, reader="images", on_transfer=None) -> ImagesResult:
        deadline = time.monotonic() + self.timeout
        billed_attempts = 0
        connect_attempts = 0
        rate_attempts = 0
        while True:
            try:
                sending = _Body(payload, on_transfer)
                try:
                    response = self._within(deadline, self.base_url, lambda: self._send(
                        "POST", path, sending, content_type, stream=True), sending)
                finally:
                    sending.stopped()  # an upload cut off or answered early: not left shown
                try:
                    if response.status_code >= 300:
                        raise self._error(response, deadline)
                    if reader == "chat":
                        return Answers(self, deadline, on_image,
                                       on_transfer=on_transfer).chat(response)
                    answers = Answers(self, deadline, on_image, on_partial, on_transfer)
                    return answers.streamed(response, n) if stream else answers.json(response, n)
                finally:
                    response.close()
            except errors.ConnectError:
                connect_attempts += 1
                wait = 0.5 * connect_attempts
                if connect_attempts > CONNECT_RETRIES or time.monotonic() + wait >= deadline:
                    raise
                time.sleep(wait)
            except errors.RateLimitError as exc:
                rate_attempts += 1
                wait = min(exc.retry_after or 2.0 * rate_attempts, RETRY_AFTER_CAP)
                if rate_attempts > RATE_LIMIT_RETRIES or (exc.retry_after or 0) > RETRY_AFTER_CAP \
                        or time.monotonic() + wait >= deadline:
                    raise
                time.sleep(wait)
            except (errors.ServerError, errors.TransportError) as exc:
                if not exc.may_be_billed or billed_attempts >= self.retries:
                    raise
                if stream and getattr(exc, "code", None) == "bad_response_body":
                    raise  # a relay that cannot pass streams on fails every attempt, billed
                billed_attempts += 1
                deadline = time.monotonic() + self.timeout  # a re-sent request gets its own

    def _within(self, deadline: float, url: str, send: Callable[[], requests.Response],
                sending: Optional[_Body] = None):
        """``send()``, given up at ``deadline`` even while a server trickles its headers (a
        read timeout counts per byte). A late answer is closed when it comes. While the body
        ``sending`` is not all sent (a server that stops reading a 20 MB edit), nothing can
        have been charged."""
        box: dict = {}
        done = threading.Event()

        def run() -> None:
            try:
                box["response"] = send()
            except BaseException as exc:  # handed to the caller below
                box["error"] = exc
            done.set()
            if box.get("late") and "response" in box:
                box["response"].close()

        threading.Thread(target=run, name="bianxie-send", daemon=True).start()
        if not done.wait(max(deadline - time.monotonic(), 0.0)):
            box["late"] = True
            if sending is not None and sending.cancel():
                raise errors.ConnectError(_(
                    "The request could not be sent to {host} within {seconds:g} s: the "
                    "connection is too slow or the server stopped reading it.").format(
                    host=self._scrub(printable(urlsplit(url).hostname or "?", 100)),
                    seconds=self.timeout))
            raise errors.TimeoutError(_("{host} did not answer within {seconds:g} s.").format(
                host=self._scrub(printable(urlsplit(url).hostname or "?", 100)),
                seconds=self.timeout))
        if "error" in box:
            raise box["error"]
        return box["response"]

    def _send(self, method, path, body, content_type, *, stream) -> requests.Response:
        url = self.base_url + path
        headers = {"Authorization": f"Bearer {self._key}"}
        if content_type:
            headers["Content-Type"] = content_type
        data = body if body is None or isinstance(body, _Body) else _Body(body)
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
            parts = urlsplit(url)
            raise errors.ConnectError(network.connect_failure(
                exc, parts.hostname or "?", parts.port or (443 if parts.scheme == "https" else 80),
                self.connect_timeout).sentence) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema) as exc:
            if not (self.session.proxies or requests.utils.get_environ_proxies(url)):
                raise errors.ConnectError(_("The request to {host} failed: {reason}.").format(
                    host=urlsplit(url).hostname, reason=self._scrub(str(exc))[:200])) from None
            raise errors.ConnectError(
                _("The proxy setting is not usable: write it as http://host:port or "
                  "socks5h://host:port in Settings or with `bianxie config set proxy`.")
            ) from None
        except requests.RequestException as exc:
            reason = printable(self._scrub(str(exc)), 200)
            if data is not None and data.sent:  # the server answered something unreadable
                raise errors.ConnectionLostError(
                    _("The answer from {host} could not be read: {reason}.").format(
                        host=urlsplit(url).hostname, reason=reason)) from None
            raise errors.ConnectError(
                _("The request to {host} failed: {reason}.").format(
                    host=urlsplit(url).hostname, reason=reason
                )
            ) from None

    # -- responses ----------------------------------------------------------------------

    def _json(self, response: requests.Response, content: bytes) -> dict:
        try:
            payload = body.loads(content)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise not_json(response, self._scrubber) from None
        if not isinstance(payload, dict):
            raise errors.ResponseError(_("The server's answer is not in the expected format."))
        return payload

    def _error(self, response: requests.Response, deadline: float) -> errors.BianxieError:
        """The exception for an error answer, its body read by the call's deadline (a second
        more when the answer came at the end, so its words are not lost), 30 s at most."""
        now = time.monotonic()
        try:
            content = body.read(response, max(min(deadline, now + 30), now + 1),
                                body.MAX_ERROR, self.timeout)
        except errors.BianxieError:
            content = b""
        return error_from_response(response.status_code, response.headers, content,
                                   scrub=self._scrubber)

    @property
    def _scrubber(self) -> Scrubber:
        scrubber = self.__dict__.get("_scrubber_")
        if scrubber is None:
            scrubber = self.__dict__["_scrubber_"] = Scrubber(self._key)
        return scrubber

    def _scrub(self, text: str) -> str:
        """Remove the key, in any form a server or library might echo, and any password in a
        URL (a proxy's) from a message."""
        return self._scrubber(text)


def _is_after_send(exc: Exception) -> bool:
    text = repr(exc)
    return "RemoteDisconnected" in text or "Connection aborted" in text
