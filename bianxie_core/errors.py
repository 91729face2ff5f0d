"""The one exception hierarchy of the core.

Every error carries ``message``: one plain sentence, in the user's language, that says what
happened and what to do. Hosts show ``str(error)`` and nothing else: never a traceback.

``exit_code`` is what the CLI exits with (2: nothing was sent, 1: the API or the network
failed). ``may_be_billed`` is true when the request reached the server, so the user may have
been charged and must not be re-sent silently.

    BianxieError
    ├── UsageError (ValueError)          bad input; nothing was sent          exit 2
    │   └── ConfigError                  missing key, unreadable config
    ├── APIError                         the server answered with an error    exit 1
    │   ├── AuthenticationError          401
    │   ├── PermissionDeniedError        403 (organisation not verified, …)
    │   ├── QuotaError                   insufficient_quota / insufficient_user_quota
    │   ├── RateLimitError               429 rate_limit_exceeded (retry_after)
    │   ├── ModerationError              400 moderation_blocked (categories)
    │   ├── BadRequestError              other 4xx (param)
    │   └── ServerError                  5xx, 524, HTML pages from proxies
    ├── ResponseError                    200 but unusable: bad JSON, base64, empty data, cut stream
    ├── TransportError                   no answer
    │   ├── ConnectError                 failed before the body was sent (never billed)
    │   ├── ConnectionLostError          reset after the body was sent
    │   └── TimeoutError                 read timeout or overall deadline
    └── Cancelled                        the user stopped waiting
"""

from __future__ import annotations

import errno
from typing import Optional

from bianxie_core.i18n import _, join_sentences


class BianxieError(Exception):
    exit_code = 1
    may_be_billed = False

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.describe()

    def describe(self, billed_note: Optional[str] = None) -> str:
        """The message, and when the request may have been billed ``billed_note`` (default:
        where both hosts keep a returned image)."""
        if not self.may_be_billed:
            return self.message
        return join_sentences(self.message, billed_note or _(
            "The request may already have been charged: any image it returns is kept in "
            "the history (Recover Results, or `bianxie history`)."))


class UsageError(BianxieError, ValueError):
    """Bad input, found before any byte left the machine."""

    exit_code = 2


class ConfigError(UsageError):
    pass


class APIError(BianxieError):
    """The server answered with an error status (or an ``error`` event in a stream)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: Optional[int] = None,
        code: Optional[str] = None,
        type: Optional[str] = None,
        param: Optional[str] = None,
        request_id: Optional[str] = None,
    ):
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.type = type
        self.param = param
        self.request_id = request_id

    def describe(self, billed_note: Optional[str] = None) -> str:
        text = super().describe(billed_note)
        if self.request_id and self.request_id not in text:
            text = join_sentences(text, _("(request id: {id})").format(id=self.request_id))
        return text


class AuthenticationError(APIError):
    pass


class PermissionDeniedError(APIError):
    pass


class QuotaError(APIError):
    pass


class RateLimitError(APIError):
    def __init__(self, message: str, *, retry_after: Optional[float] = None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ModerationError(APIError):
    def __init__(self, message: str, *, categories: tuple = (), **kw):
        super().__init__(message, **kw)
        self.categories = tuple(categories)


class BadRequestError(APIError):
    pass


class ServerError(APIError):
    may_be_billed = True


class ResponseError(BianxieError):
    may_be_billed = True


class TransportError(BianxieError):
    may_be_billed = True


class ConnectError(TransportError):
    may_be_billed = False


class ConnectionLostError(TransportError):
    pass


class TimeoutError(TransportError):  # noqa: A001 - deliberately shadows the builtin in this module
    pass


class Cancelled(BianxieError):
    exit_code = 130


def os_reason(exc: OSError) -> str:
    """What went wrong with a file, in the user's language (never the system's English)."""
    reasons = {
        errno.ENOENT: _("it does not exist"),
        errno.EACCES: _("permission denied"),
        errno.EPERM: _("permission denied"),
        errno.EISDIR: _("it is a folder"),
        errno.ENOTDIR: _("a part of the path is a file, not a folder"),
        errno.EEXIST: _("it already exists"),
        errno.ENOSPC: _("the disk is full"),
        errno.EROFS: _("the disk is read-only"),
        errno.EFBIG: _("the file is larger than this disk or your limits allow"),
        getattr(errno, "EDQUOT", -1): _("your disk quota is used up"),
        errno.ENAMETOOLONG: _("the path is too long"),
    }
    if exc.errno in reasons:
        return reasons[exc.errno]
    code = errno.errorcode.get(exc.errno or 0) or type(exc).__name__
    return _("system error {code}").format(code=code)


def file_problem(exc: OSError, path=None) -> str:
    """One sentence for a file that cannot be read or written (``path``: when ``exc`` does not
    name it)."""
    path = path if path is not None else exc.filename if exc.filename is not None else _("a file")
    return _("Cannot use {path} ({reason}): check the path and try again.").format(
        path=path, reason=os_reason(exc))
