"""The error table: an error answer (or an error inside a 200 or a stream) → one exception.

Every field a server supplies (message, code, type, param, request id, an HTML title, a
Location) passes through ``Scrubber.clean`` before it reaches an exception: the key, in any
form a server might echo it, is replaced, and the text is made terminal-safe and short
(``safe_text.printable``). Exceptions end up on stderr, in dialogs and in jobs' status.json.
"""

from __future__ import annotations

import json
import math
import re
import time
from email.utils import parsedate_to_datetime
from typing import Callable, NamedTuple, Optional
from urllib.parse import urlsplit

from bianxie_core import errors
from bianxie_core.config import key_forms, redact_url_password
from bianxie_core.i18n import _, join_sentences
from bianxie_core.safe_text import printable

RETRY_AFTER_CAP = 60.0
FIELD_LIMIT = 100  # code, type, param, request id
_REQUEST_ID_SUFFIX = re.compile(r"\s*\(request id: ([^)]+)\)\s*$")
_HTML_TITLE = re.compile(rb"<title>(.*?)</title>", re.I | re.S)
_CATEGORIES = re.compile(r"safety_violations=\[([^\]]*)\]")
_N_REFUSAL = re.compile(r"\bn\s*(?:>\s*1|must be 1|should be 1|=\s*1 only|only supports? 1)"
                        r"|\bn\b[^.]{0,40}\bnot supported", re.I)
QUOTA_CODES = ("insufficient_quota", "insufficient_user_quota", "pre_consume_token_quota_failed",
               "billing_hard_limit_reached")


class Scrubber:
    """Removes one key (and URL passwords) from any text a server or a library supplies."""

    def __init__(self, key: str):
        forms = key_forms(key) if key else []
        # any case: a host name (a Location, a url answer) comes back lowercased
        self._pattern = re.compile("|".join(map(re.escape, forms)), re.I) if forms else None

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if self._pattern is not None:
            text = self._pattern.sub("sk-…", text)
        return redact_url_password(text)

    def clean(self, value: object, limit: int = FIELD_LIMIT) -> Optional[str]:
        """A server-supplied field for an exception: a string, scrubbed and printable, or None."""
        if value is None or isinstance(value, (dict, list)):
            return None
        # printable first: a key split by control characters would survive the scrub
        return printable(self(printable(str(value), 100_000)), limit) or None


def request_id(headers) -> Optional[str]:
    return (headers.get("x-request-id") or headers.get("X-Oneapi-Request-Id")
            or headers.get("x-new-api-request-id"))


def split_request_id(message: str) -> tuple:
    match = _REQUEST_ID_SUFFIX.search(message)
    if not match:
        return message, None
    return message[: match.start()], match.group(1)


class Said(NamedTuple):
    """What the server said, every field cleaned."""

    status: int
    message: str
    code: Optional[str]
    type: Optional[str]
    param: Optional[str]
    request_id: Optional[str]
    err: dict
    headers: object
    content: bytes

    @property
    def kw(self) -> dict:
        return dict(status_code=self.status, code=self.code, type=self.type, param=self.param,
                    request_id=self.request_id)

    def told(self, text: str) -> str:
        said = _("The server said: {message}").format(message=self.message) if self.message \
            else ""
        return join_sentences(text, said)


def error_envelope(payload) -> dict:
    """The ``error`` object of a parsed answer ({} when there is none); a bare string error
    becomes its message."""
    if not isinstance(payload, dict):
        return {}
    err = error_field(payload)
    if err:
        return err
    if isinstance(payload.get("message"), str) and payload["message"].strip() \
            and "data" not in payload:
        return payload
    return {}


def error_field(payload: dict) -> dict:
    """``payload["error"]`` when it says something ({} for a Go relay's ``"error": null`` or
    its empty ``{"message": "", "code": null}`` beside a good answer)."""
    err = payload.get("error")
    if isinstance(err, dict) and any(err.get(k) for k in ("message", "code", "type")):
        return err
    if isinstance(err, str) and err.strip():
        return {"message": err}
    return {}


def read_said(status: int, headers, content: bytes, scrub: Scrubber,
              err: Optional[dict] = None) -> Said:
    if err is None:
        try:
            err = error_envelope(json.loads(content.decode("utf-8")))
        except (UnicodeDecodeError, ValueError, RecursionError):
            err = {}
    message = scrub.clean(err.get("message"), 100_000) or ""
    message, rid = split_request_id(message)
    message = printable(message)
    return Said(status, message, scrub.clean(err.get("code")), scrub.clean(err.get("type")),
                scrub.clean(err.get("param")),
                scrub.clean(rid) or scrub.clean(request_id(headers)), err, headers, content)


def error_from_response(status: int, headers, content: bytes, scrub: Callable = None,
                        err: Optional[dict] = None) -> errors.BianxieError:
    """The exception for an error answer: one plain sentence, never the raw page."""
    scrub = scrub if isinstance(scrub, Scrubber) else _wrap(scrub)
    said = read_said(status, headers, content, scrub, err)
    for rule in RULES:
        exc = rule(said, scrub)
        if exc is not None:
            return exc
    raise AssertionError("the last rule always answers")


def stream_error(err, scrub: Scrubber, request_id_: Optional[str]) -> errors.ServerError:
    """The exception for an ``error`` event in a stream (err: a dict or a bare string)."""
    err = err if isinstance(err, dict) else {"message": err}
    said = read_said(200, {}, b"", scrub, err)
    message = said.message or said.code or _("no reason given")
    return errors.ServerError(
        _("The server stopped the image with an error: {message}").format(message=message),
        code=said.code, type=said.type, request_id=said.request_id or request_id_)


def refuses(exc: BaseException, param: str) -> bool:
    """True when ``exc`` is a server's refusal of the request parameter ``param`` ("n",
    "stream"), by its param or by its words ("n>1 is not supported by this channel")."""
    if not isinstance(exc, errors.BadRequestError):
        return False
    if exc.param == param:
        return True
    if param == "stream":
        return "stream" in exc.message.lower()
    if param == "n":
        return bool(_N_REFUSAL.search(exc.message))
    return False


def _wrap(scrub: Optional[Callable]) -> Scrubber:
    return _Custom(scrub) if scrub is not None else Scrubber("")


class _Custom(Scrubber):
    """A caller's own scrub function (tests, other hosts) as a Scrubber."""

    def __init__(self, scrub: Callable):
        super().__init__("")
        self._custom = scrub

    def __call__(self, text: str) -> str:
        return self._custom(text) if text else text


# -- the rules, in order: the first that answers wins -----------------------------------------

def _redirect(s: Said, scrub: Scrubber):
    if not 300 <= s.status < 400 or s.status == 304:
        return None
    where = s.headers.get("Location") or ""
    try:
        parts = urlsplit(where)
        where = f"{parts.scheme}://{parts.hostname}{parts.path}" if parts.hostname else ""
    except ValueError:
        where = ""
    where = scrub.clean(where, 200) or _("another address")
    return errors.BadRequestError(_(
        "The server answered with a redirect (HTTP {status}) to {where}: the base URL has "
        "moved; set the new one in Settings or with `bianxie config set base_url`.").format(
        status=s.status, where=where), **s.kw)


def _quota(s: Said, scrub):
    if s.code in QUOTA_CODES or s.status == 402:
        return errors.QuotaError(s.told(_(
            "Your balance or quota at the service is used up: top it up, then try again.")),
            **s.kw)
    if s.status in (401, 403) and "令牌额度已用尽" in s.message:  # new-api: this key's own limit
        return errors.QuotaError(s.told(_(
            "This API key's quota at the service is used up: raise its limit or top up in the "
            "service's console, then try again.")), **s.kw)
    return None


def _expired(s: Said, scrub):
    if s.status in (401, 403) and "令牌已过期" in s.message:
        return errors.AuthenticationError(s.told(_(
            "This API key has expired at the service: extend it or make a new one in the "
            "service's console, then enter it in Settings or with `bianxie config set key`.")),
            **s.kw)
    return None


def _rate_limit(s: Said, scrub):
    if s.status != 429:
        return None
    wait = retry_after(s.headers)
    if wait is not None and wait > RETRY_AFTER_CAP:
        return errors.RateLimitError(s.told(_(
            "Too many requests (rate limit): the service asks to wait {minutes} minutes "
            "before the next one; try again then.").format(minutes=math.ceil(wait / 60))),
            retry_after=wait, **s.kw)
    return errors.RateLimitError(s.told(_(
        "Too many requests right now (rate limit): wait a minute, then try again.")),
        retry_after=wait, **s.kw)


def _auth(s: Said, scrub):
    if s.status == 401:
        return errors.AuthenticationError(s.told(_(
            "The API key was refused (HTTP 401): check the key in Settings or with "
            "`bianxie config set key`.")), **s.kw)
    if s.status != 403:
        return None
    if "verif" in s.message.lower():
        return errors.PermissionDeniedError(s.told(_(
            "Your organisation must be verified before it may use this model: verify it "
            "with the provider, or choose another model.")), **s.kw)
    return errors.PermissionDeniedError(s.told(_(
        "The service refused this request (HTTP 403): check that your key may use this "
        "model.")), **s.kw)


def _moderation(s: Said, scrub):
    if s.code not in ("moderation_blocked", "content_policy_violation") or s.status not in (
            400, 200):
        return None
    categories = tuple(filter(None, (scrub.clean(c, 40) for c in
                                     moderation_categories(s.err, s.message))))
    what = (" (" + ", ".join(categories) + ")") if categories else ""
    return errors.ModerationError(
        _("The safety system rejected this request{categories}: change the prompt or the "
          "image.").format(categories=what), categories=categories, **s.kw)


def _family(s: Said, scrub):
    """The doors of other model families (Gemini through new-api's chat door)."""
    if s.code == "prompt_blocked":
        return errors.ModerationError(s.told(_(
            "The model blocked this prompt: change the prompt or the image.")), **s.kw)
    if s.code == "empty_response":
        return errors.ServerError(s.told(_(
            "The model gave no answer (an empty response, often a silent safety block): "
            "change the prompt, or try again.")), **s.kw)
    if "only imagen models are supported" in s.message:
        return errors.BadRequestError(s.told(_(
            "This relay serves this model only through chat completions, not the images API: "
            "set its door with `bianxie config set door MODEL=chat`.")), **s.kw)
    return None


def _no_channel(s: Said, scrub):
    if s.type in ("new_api_error", "one_api_error") and (
            s.code == "model_not_found" or "无可用渠道" in s.message):
        return errors.BadRequestError(s.told(_(
            "The relay has no channel for this model right now (HTTP {status}): choose another "
            "model, or try again later.").format(status=s.status)), **s.kw)
    return None


def _not_here(s: Said, scrub):
    if s.status == 501 or s.code == "api_not_implemented":
        return errors.BadRequestError(s.told(_(
            "This service does not offer this endpoint (HTTP {status}): use a base URL that "
            "supports image edits.").format(status=s.status)), **s.kw)
    if s.status == 404:
        return errors.BadRequestError(s.told(_(
            "Not found (HTTP 404): check the base URL and the model name.")), **s.kw)
    return None


def _bad_request(s: Said, scrub):
    if s.status == 413:  # often a proxy's limit (nginx client_max_body_size), before the API
        return errors.BadRequestError(s.told(_(
            "The request is larger than the server accepts (HTTP 413): use fewer or smaller "
            "images.")), **s.kw)
    if not 400 <= s.status < 500:
        return None
    if s.param:
        text = _("The server rejected the parameter {param}: fix it and try again.").format(
            param=s.param)
    else:
        text = _("The server rejected the request (HTTP {status}): check the prompt and the "
                 "settings.").format(status=s.status)
    return errors.BadRequestError(s.told(text), **s.kw)


def _server(s: Said, scrub):
    if s.status < 300:  # a 200 that holds an error instead of images
        return errors.ServerError(s.told(_(
            "The server answered with an error instead of an image.")), **s.kw)
    if s.type in ("new_api_error", "one_api_error") and s.message:
        return errors.ServerError(
            _("The relay failed (HTTP {status}): {message}").format(
                status=s.status, message=s.message), **s.kw)
    return errors.ServerError(
        _("The service or a proxy in front of it failed (HTTP {status}{reason}): try again in a "
          "minute.").format(status=s.status, reason=_reason(s, scrub)), **s.kw)


RULES = (_redirect, _quota, _expired, _rate_limit, _auth, _moderation, _family, _no_channel,
         _not_here, _bad_request, _server)


def _reason(s: Said, scrub: Scrubber) -> str:
    if s.status == 524:
        return ", " + _("the proxy gave up waiting for the model")
    match = _HTML_TITLE.search(s.content[:65536] if s.content else b"")
    if match:
        title = scrub.clean(match.group(1).decode("utf-8", "replace"), 80) or ""
        title = re.sub(r"^%d\s*" % s.status, "", title)
        return ", " + title if title else ""
    return ""


def retry_after(headers) -> Optional[float]:
    value = headers.get("Retry-After") or headers.get("retry-after-ms")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return _http_date_wait(value)
    if "retry-after-ms" in headers and "Retry-After" not in headers:
        seconds /= 1000.0
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _http_date_wait(value: str) -> Optional[float]:
    """Seconds until a Retry-After given as an HTTP date ("Wed, 21 Oct 2026 07:28:00 GMT")."""
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(when - time.time(), 0.0)


def moderation_categories(err: dict, message: str) -> tuple:
    details = err.get("moderation_details")
    if isinstance(details, dict) and isinstance(details.get("categories"), list):
        return tuple(str(c) for c in details["categories"])
    match = _CATEGORIES.search(message)
    if match:
        return tuple(c.strip().strip("'\"") for c in match.group(1).split(",") if c.strip())
    return ()
