"""The named faults a FakeServer can be told to produce (``srv.fault``)."""

from __future__ import annotations

from typing import Optional

from tests.fakeapi.envelope import ApiError, mask_key

# Transport faults: the socket misbehaves.
CONNECTION = ("reset_before_body", "reset_after_body", "read_timeout")
# Fixed error answers, given after the auth check and before the request is validated.
ERRORS = (
    "invalid_param", "moderation", "unauthorized", "token_exhausted", "token_expired",
    "org_unverified", "quota_newapi", "rate_limit", "insufficient_quota", "server_error",
    "bad_gateway_html", "unavailable", "no_channel", "timeout_524",
)
# Relay limits, checked only when the request uses the refused feature.
REFUSALS = ("refuse_n", "refuse_stream", "one_api_edits", "stream_unread")
# The request is valid and answered, but the answer is damaged.
ANSWERS = ("truncated_b64", "invalid_json", "empty_data", "wrong_size", "url", "stream_cut",
           "stream_error")
FAULTS = CONNECTION + ERRORS + REFUSALS + ANSWERS

NGINX_502 = b"""<html>\r
<head><title>502 Bad Gateway</title></head>\r
<body>\r
<center><h1>502 Bad Gateway</h1></center>\r
<hr><center>nginx</center>\r
</body>\r
</html>\r
"""

CLOUDFLARE_524 = b"""<!DOCTYPE html>
<html class="no-js" lang="en-US">
<head><title>api.bianxie.ai | 524: A timeout occurred</title>
<meta charset="UTF-8" /></head>
<body><div id="cf-wrapper"><div id="cf-error-details">
<h1><span class="cf-error-type">Error</span> <span class="cf-error-code">524</span></h1>
<h2 class="cf-subheadline">A timeout occurred</h2>
<p>The origin web server timed out responding to this request.</p>
<span>Cloudflare Ray ID: <strong>8f1c2a3b4c5d6e7f</strong></span>
</div></div></body></html>
"""

SAFETY = ("Your request was rejected by the safety system. If you believe this is an error, "
          "contact us at help.openai.com and include the request ID %s. "
          "safety_violations=[violence].")


def unauthorized(dialect: str, sent_key: Optional[str]) -> ApiError:
    if dialect == "new-api":
        return ApiError(401, "无效的令牌", "new_api_error", None, "", origin="relay")
    if not sent_key:
        return ApiError(401, "You didn't provide an API key. You need to provide your API key in "
                        "an Authorization header using Bearer auth (i.e. Authorization: Bearer "
                        "YOUR_KEY). You can obtain an API key from "
                        "https://platform.openai.com/account/api-keys.")
    return ApiError(401, "Incorrect API key provided: %s. You can find your API key at "
                    "https://platform.openai.com/account/api-keys." % mask_key(sent_key),
                    "invalid_request_error", None, "invalid_api_key")


def no_channel(model: str, code: str = "model_not_found") -> ApiError:
    return ApiError(503, "当前分组 default 下对于模型 %s 无可用渠道" % model, "new_api_error",
                    None, code, origin="relay")


def error_for(fault: str, dialect: str, model: str, sent_key: Optional[str],
              upstream_id: str, retry_after: str = "1") -> ApiError:
    """The error answer of an ERRORS fault (HTML ones are handled by the server)."""
    if fault == "invalid_param":
        return ApiError(400, "Invalid value: 'ultra'. Supported values are: 'low', 'medium', "
                        "'high', and 'auto'.", "invalid_request_error", "quality", "invalid_value")
    if fault == "moderation":
        return ApiError(400, SAFETY % upstream_id, "image_generation_user_error", None,
                        "moderation_blocked",
                        extra={"moderation_details": {"moderation_stage": "input",
                                                      "categories": ["violence"]}})
    if fault == "unauthorized":
        return unauthorized(dialect, sent_key)
    if fault in ("token_exhausted", "token_expired"):  # new-api's TokenAuth, before any channel
        words = "该令牌额度已用尽" if fault == "token_exhausted" else "该令牌已过期"
        return ApiError(401, words, "new_api_error", None, "", origin="relay")
    if fault == "org_unverified":
        return ApiError(403, "Your organization must be verified to use the model `%s`. Please "
                        "go to: https://platform.openai.com/settings/organization/general and "
                        "click on Verify Organization. If you just verified, it can take up to "
                        "15 minutes for access to propagate." % model)
    if fault == "quota_newapi":
        return ApiError(403, "用户额度不足, 剩余额度: ¥0.12", "new_api_error", None,
                        "insufficient_user_quota", origin="relay")
    if fault == "rate_limit":
        headers = {} if dialect == "new-api" else {"Retry-After": retry_after}
        return ApiError(429, "Rate limit reached for %s in organization org-fake on images per "
                        "min (IPM): Limit 5, Used 5, Requested 1. Please try again in 1s. Visit "
                        "https://platform.openai.com/account/rate-limits to learn more." % model,
                        "requests", None, "rate_limit_exceeded", headers=headers)
    if fault == "insufficient_quota":
        return ApiError(429, "You exceeded your current quota, please check your plan and billing "
                        "details. For more information on this error, read the docs: "
                        "https://platform.openai.com/docs/guides/error-codes/api-errors.",
                        "insufficient_quota", None, "insufficient_quota")
    if fault == "server_error":
        return ApiError(500, "The server had an error while processing your request. Sorry "
                        "about that!", "server_error")
    if fault == "unavailable":  # the model's side; a relay passes it on with its request id
        return ApiError(503, "The engine is currently overloaded, please try again later.",
                        "server_error")
    if fault == "no_channel":  # new-api found no channel: nothing went upstream
        return no_channel(model)
    raise ValueError("not an error fault: %s" % fault)


def refusal_for(fault: str, kind: str, n: object, stream: object) -> Optional[ApiError]:
    """The relay's refusal when the request uses what ``fault`` refuses, else None."""
    if fault == "one_api_edits" and kind == "edits":
        return ApiError(501, "API not implemented", "one_api_error", None, "api_not_implemented",
                        origin="one-api")
    if fault == "refuse_n" and n not in (None, 1, "1"):
        return ApiError(400, "n must be 1: this channel returns one image per request",
                        "invalid_request_error", "n", "invalid_value")
    if fault == "stream_unread" and stream in (True, "true"):
        # a new-api that sent the request upstream (billed) but read the SSE answer as JSON
        return ApiError(500, "invalid character 'e' looking for beginning of value",
                        "new_api_error", None, "bad_response_body", origin="relay")
    if fault == "refuse_stream" and stream in (True, "true"):
        return ApiError(400, "stream is not supported", "invalid_request_error", "stream",
                        "invalid_value")
    return None
