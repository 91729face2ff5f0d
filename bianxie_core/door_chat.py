"""The chat door (Gemini image models through new-api): ``POST /chat/completions``.

The request is one user message: the prompt as a text part, each image as an ``image_url``
part with a data URL. Aspect ratio and resolution go only as the literal key
``extra_body.google.image_config`` {aspect_ratio, image_size} (snake_case; new-api's
to_gemini_chat_req reads exactly that). ``n`` is not mapped: n images are n requests.

The answer's image is Markdown inside ``choices[0].message.content``, possibly after text:
``![image](data:image/png;base64,…)``; other relays use ``message.images[]`` or content parts,
accepted too. The last image is the answer; earlier ones (drafts) go to the history only. A safety block is ``finish_reason:
content_filter``; chat usage (prompt/completion tokens) is kept in the images shape.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Optional

from bianxie_core import errors
from bianxie_core.cost import token_count
from bianxie_core.error_table import error_envelope, error_from_response
from bianxie_core.families import Family, nearest_ratio
from bianxie_core.i18n import _

_IMAGE = re.compile(rb"!\[[^\]\n]{0,200}\]\(\s*((?:data:image/[A-Za-z0-9.+-]{1,20};base64,"
                    rb"[A-Za-z0-9+/=\s\\_-]+)|(?:https?://[^\s)]{1,4000}))\s*(?:\)|\Z)")
_DATA = re.compile(r"data:[^\s)]{0,60};base64,[A-Za-z0-9+/=_-]*")  # not shown as text
# (an answer cut off by its token limit ends inside the image: that image is read, and found
# cut off, rather than shown as text)


def body(request, family: Family) -> bytes:
    content = [{"type": "text", "text": request.prompt}]
    for image in getattr(request, "images", ()):
        content.append({"type": "image_url",
                        "image_url": {"url": data_url(image.data, image.content_type)}})
    payload = {"model": request.model, "messages": [{"role": "user", "content": content}]}
    config = image_config(request.size, family)
    if config:
        payload["extra_body"] = {"google": {"image_config": config}}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def data_url(data: bytes, content_type: str) -> str:
    return "data:%s;base64,%s" % (content_type, base64.b64encode(data).decode("ascii"))


def image_config(size: Optional[str], family: Family) -> dict:
    """{aspect_ratio, image_size} for a size: a WxH gives both, 1K/2K/4K only the size."""
    if not size or size == "auto":
        return {}
    if size.upper() in family.resolutions:
        return {"image_size": size.upper()}
    width, height = (int(v) for v in size.split("x"))
    return {"aspect_ratio": nearest_ratio(family.aspect_ratios, width / height),
            "image_size": family.resolution_for(width, height) or "1K"}


def items(answers, payload: dict, answer) -> tuple:
    """``(data items as the images door has them, usage in the images shape)`` from a chat
    answer; raises the error the answer holds instead of an image."""
    scrub = answers.client._scrubber
    if error_envelope(payload) and not payload.get("choices"):
        raise error_from_response(200, {}, b"", scrub, err=error_envelope(payload))
    choices = payload.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    choice = choice if isinstance(choice, dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    found = _images(message, answer)
    usage = images_usage(payload.get("usage"))
    if found:  # the earlier ones were paid for too: kept in the history as drafts
        return [dict(item, draft=True) for item in found[:-1]] + [found[-1]], usage
    if choice.get("finish_reason") == "content_filter":
        raise errors.ModerationError(_(
            "The model's safety filter blocked this image: change the prompt or the image."),
            code="content_filter")
    said = message.get("content") if isinstance(message.get("content"), str) else ""
    said = scrub.clean(_DATA.sub("data:…", said[:20000]), 300) or ""
    raise errors.ResponseError(_(
        "The model answered without an image{said}: ask again, saying that an image is "
        "wanted.").format(said=(" (" + _("it said: {text}").format(text=said) + ")")
                          if said.strip() else ""))


def joined(events) -> dict:
    """A streamed chat answer (``wire.sse_events``) as the one answer it stands for: the
    deltas' content and images joined, the last finish_reason, usage and error."""
    text, images, finish, usage, error, created = [], [], None, None, None, None
    for _event, chunk in events:
        if not isinstance(chunk, dict):
            continue
        error = error_envelope(chunk) or error
        usage = chunk.get("usage") if isinstance(chunk.get("usage"), dict) else usage
        created = chunk.get("created", created)
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue
            content = delta.get("content")
            for part in content if isinstance(content, list) else ():
                images.append(part)  # content parts as some relays send them
            if isinstance(content, str):
                text.append(content)
            if isinstance(delta.get("images"), list):
                images += delta["images"]
            finish = choice.get("finish_reason") or finish
    payload = {"created": created, "usage": usage,
               "choices": [{"message": {"content": "".join(text), "images": images},
                            "finish_reason": finish}]}
    if error and not text and not images:
        payload = {"error": error}
    return payload


def _images(message: dict, answer) -> list:
    """Every image of a chat message, as ``{"url": …}`` items (data: URLs included)."""
    found = []
    content = message.get("content")
    parts = content if isinstance(content, list) else [content]
    for part in parts:
        if isinstance(part, dict):
            url = _part_url(part)
            if url:
                found.append({"url": url})
            part = part.get("text")
        if isinstance(part, str):
            text = answer.text(part) if answer.is_big(part) else part.encode("utf-8", "replace")
            found += [{"url": m.group(1).decode("ascii", "replace")}
                      for m in _IMAGE.finditer(text)]
    for image in message.get("images") or ():
        url = _part_url(image) if isinstance(image, dict) else None
        if url:
            found.append({"url": url})
    return found


def _part_url(part: dict) -> Optional[str]:
    """An image part's URL: ``image_url`` {url} or a string, or a bare ``url`` / ``b64_json``
    (other relays' shapes)."""
    inner = part.get("image_url")
    url = inner.get("url") if isinstance(inner, dict) else inner
    if not url and "text" not in part:
        url = part.get("url")
        b64 = part.get("b64_json")
        if not url and isinstance(b64, str) and b64:
            url = b64  # bare base64 (answers.py reads it as the image), or a spool marker
    return url if isinstance(url, str) and url else None


def images_usage(usage) -> Optional[dict]:
    """Chat usage (prompt/completion tokens and their details) in the images shape."""
    if not isinstance(usage, dict):
        return None
    prompt = token_count(usage.get("prompt_tokens"))
    completion = token_count(usage.get("completion_tokens"))
    details = usage.get("prompt_tokens_details")
    image_in = token_count(details.get("image_tokens")) if isinstance(details, dict) else 0
    out = {"input_tokens": prompt, "output_tokens": completion,
           "total_tokens": token_count(usage.get("total_tokens")) or prompt + completion,
           "input_tokens_details": {"text_tokens": max(prompt - image_in, 0),
                                    "image_tokens": image_in}}
    return out if prompt or completion else None
