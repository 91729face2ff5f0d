"""Error envelopes and request ids of the two dialects (OpenAI itself, a new-api relay)."""

from __future__ import annotations

import json
import random
import string
import time
import uuid
from dataclasses import dataclass, field
from typing import Optional

DIALECTS = ("openai", "new-api")


@dataclass(eq=False)
class ApiError(Exception):
    """An error answer. ``origin``: "upstream" (OpenAI), "relay" (new-api's own), "one-api"."""

    status: int
    message: str
    type: str = "invalid_request_error"
    param: Optional[str] = None
    code: Optional[str] = None
    origin: str = "upstream"
    extra: dict = field(default_factory=dict)  # more keys inside "error"
    headers: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return "%d %s: %s" % (self.status, self.type, self.message)


def openai_request_id() -> str:
    return "req_" + uuid.uuid4().hex


def newapi_request_id() -> str:
    """Like ``20250425144835174044863D5lbubkO``: time, nanoseconds, 8 random characters."""
    now = time.time_ns()
    stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(now / 1e9))
    letters = "".join(random.choices(string.ascii_letters + string.digits, k=8))
    return "%s%d%s" % (stamp, now % 1_000_000_000, letters)


def request_id_header(dialect: str, request_id: str) -> dict:
    if dialect == "new-api":
        return {"X-Oneapi-Request-Id": request_id}
    return {"x-request-id": request_id}


def error_body(dialect: str, err: ApiError, request_id: str) -> bytes:
    """The JSON body of ``err`` as the dialect writes it."""
    message, param, code = err.message, err.param, err.code
    if err.origin == "one-api":
        param = param or ""
    elif dialect == "new-api" or err.origin == "relay":
        # new-api parses the upstream error and appends its own request id; Param is a Go string.
        message = "%s (request id: %s)" % (message, request_id)
        param = param or ""
    body = {"message": message, "type": err.type, "param": param, "code": code}
    if dialect != "new-api":  # new-api re-encodes errors with these four keys only
        body.update(err.extra)
    return json.dumps({"error": body}, ensure_ascii=False).encode("utf-8")


def mask_key(key: str) -> str:
    """How OpenAI quotes a wrong key: first 3 and last 4 characters."""
    if len(key) < 8:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]
