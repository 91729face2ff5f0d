"""The fake's other model families, each through its own door, as a new-api relay serves them
(QuantumNous/new-api main 823e263; see the reference on model families):

* Gemini image models: only ``/v1/chat/completions`` (``/images/*`` answers 500 "only imagen
  models are supported"); ``extra_body.google.image_config`` {aspect_ratio, image_size},
  snake_case only; the image as Markdown in ``choices[0].message.content`` after some text;
  chat usage; ``content_filter`` / 400 ``prompt_blocked`` / 500 ``empty_response``.
* Seedream: JSON on ``/images/generations`` with ``image`` data URLs (one or up to 14);
  size 1K/2K/4K or WxH; the Ark answer ``data[].url`` + ``size``, usage ``generated_images``;
  a failed item is ``data[i].error``; a multipart edit reaches the model without its image.
* FLUX Kontext (a reseller's synchronous wrapper): multipart ``/images/edits`` with
  ``aspect_ratio`` (3:7–7:3), ``seed``, ``safety_tolerance``; up to 4 images (BFL's
  experimental multi-reference; resellers' pages disagree); URL answers that expire.
* Qwen image edit (Ali channel, relay-built answers): multipart edits; ``url`` with
  ``b64_json`` and ``revised_prompt`` as empty strings, no usage.

Strict where the relay would silently drop a field: the fake refuses it instead, so a test
sees any request that would lose something on the way.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
import uuid
from typing import List, Optional, Tuple

import numpy as np
from PIL import Image

from tests.fakeapi import images
from tests.fakeapi.envelope import ApiError

GEMINI = ("gemini-2.5-flash-image", "gemini-3-pro-image-preview",
          "gemini-3.1-flash-image-preview")
SEEDREAM = ("doubao-seedream-4-0-250828", "doubao-seedream-4-5-251128")
FLUX = ("flux-kontext-pro", "flux-kontext-max")
QWEN = ("qwen-image-edit-plus",)
FAMILY_MODELS = GEMINI + SEEDREAM + FLUX + QWEN

# Gemini's own output sizes at 1K (2K and 4K double and quadruple them).
GEMINI_SIZES = {"1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832),
                "3:4": (864, 1184), "4:3": (1184, 864), "4:5": (896, 1152), "5:4": (1152, 896),
                "9:16": (768, 1344), "16:9": (1344, 768), "21:9": (1536, 672)}
GEMINI_STEPS = {"1K": 1, "2K": 2, "4K": 4}
GEMINI_OUTPUT_TOKENS = {"1K": 1290, "2K": 1290, "4K": 2000}
FLUX_RATIOS = ("3:7", "9:16", "2:3", "3:4", "1:1", "4:3", "3:2", "16:9", "7:3")
# The fields new-api keeps in a JSON ImageRequest (relaykit/dto/openai_image.go).
# (seen again at 0640975, which adds extra_fields, async, watermark_enabled and user_id)
JSON_FIELDS = ("model", "prompt", "n", "size", "quality", "response_format", "style", "user",
               "extra_fields", "background", "moderation", "output_format",
               "output_compression", "partial_images", "stream", "async", "images", "mask",
               "input_fidelity", "watermark", "watermark_enabled", "user_id", "image")
CHAT_FIELDS = ("model", "messages", "extra_body", "stream", "max_tokens", "temperature",
               "top_p", "user")
FLUX_FORM = ("model", "prompt", "aspect_ratio", "seed", "safety_tolerance", "output_format",
             "prompt_upsampling")
QWEN_FORM = ("model", "prompt", "n", "watermark")
_DATA_URL = re.compile(r"^data:(image/(?:png|jpeg|webp));base64,(.*)$", re.S)
_WXH = re.compile(r"^(\d{2,5})x(\d{2,5})$")
_RATIO = re.compile(r"^(\d{1,2}):(\d{1,2})$")
# ``FakeServer.chat_fault``: the chat door's own failures (not ``fault``: they exist only there)
CHAT_FAULTS = ("content_filter", "prompt_blocked", "empty_response", "chat_text_only")


def family_of(model: str) -> Optional[str]:
    for name, group in (("gemini", GEMINI), ("seedream", SEEDREAM), ("flux", FLUX),
                        ("qwen", QWEN)):
        if model in group:
            return name
    return None


def _bad(message: str, param: Optional[str] = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, "invalid_request_error", param, code)


def _dropped(name: str, door: str) -> ApiError:
    """What the relay would drop without a word: refused here, so no test passes on it."""
    return _bad("fake relay: '%s' would be dropped on the %s door (strict fake refuses it)"
                % (name, door), name, "unknown_parameter")


def _image_from_url(url, param: str) -> Image.Image:
    if not isinstance(url, str):
        raise _bad("Invalid type for '%s': expected a string." % param, param, "invalid_type")
    match = _DATA_URL.match(url)
    if not match:
        raise _bad("Invalid image URL for '%s': only data:image/...;base64 URLs are served by "
                   "the fake." % param, param)
    try:
        img = images.decode(base64.b64decode(match.group(2), validate=True))
    except (binascii.Error, ValueError, OSError):
        raise _bad("Invalid image data in '%s'." % param, param, "invalid_image_file") from None
    if img.format != {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}[
            match.group(1)]:
        raise _bad("The data URL's type does not match its bytes in '%s'." % param, param,
                   "invalid_image_file")
    return img


def redrawn(first: Optional[Image.Image], size: Tuple[int, int], seed: str,
            color) -> np.ndarray:
    """A mask-less model's answer: the whole first image redrawn (every pixel a little
    different) with an ellipse of ``color`` in the middle; a pattern without an image."""
    w, h = size
    if first is None:
        return np.array(images.pattern(w, h, seed))
    base = np.asarray(first.convert("RGB").resize(size, Image.Resampling.LANCZOS), np.int16)
    out = np.clip(base + 5, 0, 255).astype(np.uint8)
    yy, xx = np.ogrid[:h, :w]
    inside = ((xx - w / 2) / (w / 6)) ** 2 + ((yy - h / 2) / (h / 6)) ** 2 <= 1
    out[inside] = np.array(color[:3], np.uint8)
    return out


class FamiliesMixin:
    """The handler's side (mixed into server._Handler)."""

    def _family_answer(self, route: str, params: dict, files: list, form: bool,
                       fault: Optional[str]) -> None:
        family = family_of(params.get("model") if isinstance(params.get("model"), str) else "")
        if route == "chat":
            if family != "gemini":
                raise _bad("fake relay: %r is not an image model on the chat door."
                           % params.get("model"), "model", "model_not_found")
            return self._gemini(params, self.fake.chat_fault)
        if family == "gemini":
            raise ApiError(500, "not supported model for image generation, only imagen models "
                           "are supported", "new_api_error", None, "convert_request_failed",
                           origin="relay")
        if family == "seedream":
            if form:
                raise _bad("The parameter `image` is required: the multipart image was not "
                           "converted for this channel and did not reach the model.", "image",
                           "MissingParameter")
            return self._seedream(params)
        if family == "flux":
            return self._flux(route, params, files, form)
        return self._qwen(route, params, files, form)

    # --- Gemini, chat door ------------------------------------------------------------------
    def _gemini(self, params: dict, fault: Optional[str]) -> None:
        for name in params:
            if name not in CHAT_FIELDS:
                raise _dropped(name, "chat")
        ratio, step = "1:1", "1K"
        extra = params.get("extra_body")
        if extra is not None:
            google = extra.get("google") if isinstance(extra, dict) else None
            _camel_case(google)
            if not isinstance(extra, dict) or set(extra) != {"google"} or \
                    not isinstance(google, dict) or set(google) != {"image_config"}:
                raise _bad("extra_body must be {\"google\": {\"image_config\": {...}}}",
                           "extra_body")
            config = google["image_config"]
            if not isinstance(config, dict) or not set(config) <= {"aspect_ratio",
                                                                    "image_size"}:
                raise _bad("Invalid image_config keys %s: only aspect_ratio and image_size "
                           "(snake_case)." % sorted(config if isinstance(config, dict) else ()),
                           "extra_body.google.image_config")
            ratio = config.get("aspect_ratio", ratio)
            step = config.get("image_size", step)
            if ratio not in GEMINI_SIZES:
                raise _bad("Invalid aspect_ratio %r." % ratio, "aspect_ratio")
            if step not in GEMINI_STEPS:
                raise _bad("Invalid image_size %r." % step, "image_size")
        prompt, pictures = self._chat_message(params.get("messages"))
        if fault == "prompt_blocked":
            raise ApiError(400, "request blocked by Gemini API: PROHIBITED_CONTENT",
                           "new_api_error", None, "prompt_blocked", origin="relay")
        if fault == "empty_response":
            raise ApiError(500, "empty response from Gemini API", "new_api_error", None,
                           "empty_response", origin="relay")
        if self.fake.gemini_square:
            ratio = "1:1"
        w, h = (v * GEMINI_STEPS[step] for v in GEMINI_SIZES[ratio])
        rgb = redrawn(pictures[0] if pictures else None, (w, h), prompt, self.fake.fill_color)
        data = images.encode(rgb, "png", 100, None)
        message = {"role": "assistant", "content": "Here is the image you asked for.\n"}
        finish = "stop"
        if fault == "content_filter":
            message["content"], finish = "", "content_filter"
        elif fault == "chat_text_only":
            message["content"] = "I can describe it, but here is no picture."
        else:
            self.fake._log("responses", data)
            mark = "![image](data:image/png;base64,%s)" % base64.b64encode(data).decode()
            if self.fake.chat_style == "url":  # a relay that hosts the image itself
                url = self._url_item(data, "png")["url"]
                with self.fake._lock:
                    self.fake.responses.pop()  # logged once, by _url_item
                message["content"] += "![image](%s)" % url
            elif self.fake.chat_style == "images":
                message["images"] = [{"type": "image_url", "image_url": {
                    "url": "data:image/png;base64," + base64.b64encode(data).decode()}}]
            else:
                message["content"] += mark
        choice = {"index": 0, "message": message, "finish_reason": finish}
        if self.fake.chat_choice is not None:
            choice = self.fake.chat_choice(data, self)
        text_in = images.text_tokens(prompt)
        image_in = 258 * len(pictures)
        out = GEMINI_OUTPUT_TOKENS[step] if finish == "stop" and fault is None else 0
        body = {
            "id": "chatcmpl-" + uuid.uuid4().hex[:24], "object": "chat.completion",
            "created": int(time.time()), "model": params["model"],
            "choices": [choice],
            "usage": {"prompt_tokens": text_in + image_in, "completion_tokens": out,
                      "total_tokens": text_in + image_in + out,
                      "prompt_tokens_details": {"text_tokens": text_in,
                                                "image_tokens": image_in},
                      "completion_tokens_details": {"image_tokens": out}},
        }
        if self.fake.chat_streams:
            return self._chat_stream(body)
        self._send_json(200, body)

    def _chat_stream(self, body: dict) -> None:
        """The answer as chat.completion.chunk events, its content in pieces of 4000
        characters (a forced-stream channel), usage in the last chunk, then [DONE]."""
        choice = body["choices"][0]
        text = choice["message"].get("content") or ""
        pieces = [text[i:i + 4000] for i in range(0, len(text), 4000)] or [""]
        events = []
        for i, piece in enumerate(pieces):
            chunk = {"id": body["id"], "object": "chat.completion.chunk",
                     "created": body["created"], "model": body["model"],
                     "choices": [{"index": 0, "delta": dict({"content": piece}, **(
                         {"role": "assistant"} if i == 0 else {})), "finish_reason": None}]}
            events.append(chunk)
        events[-1]["choices"][0]["finish_reason"] = choice["finish_reason"]
        events.append({"id": body["id"], "object": "chat.completion.chunk", "choices": [],
                       "usage": body["usage"]})
        out = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
        self._send(200, out + b"data: [DONE]\n\n", "text/event-stream")

    @staticmethod
    def _chat_message(messages) -> Tuple[str, List[Image.Image]]:
        if not isinstance(messages, list) or not messages:
            raise _bad("messages must be a non-empty array.", "messages")
        last = messages[-1]
        if not isinstance(last, dict) or last.get("role") != "user":
            raise _bad("The last message must be the user's.", "messages")
        content = last.get("content")
        if isinstance(content, str):
            return content, []
        if not isinstance(content, list):
            raise _bad("content must be a string or an array of parts.", "messages")
        texts, pictures = [], []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "image_url" and isinstance(part.get("image_url"), dict):
                pictures.append(_image_from_url(part["image_url"].get("url"), "image_url"))
            else:
                raise _bad("Unknown content part %r." % (kind,), "messages")
        if not "".join(texts).strip():
            raise _bad("The message has no text.", "messages")
        return "\n".join(texts), pictures

    # --- Seedream, JSON door ----------------------------------------------------------------
    def _seedream(self, params: dict) -> None:
        for name in params:
            if name not in JSON_FIELDS:
                raise _dropped(name, "images JSON")
        for name in ("mask", "n", "stream", "quality", "input_fidelity", "background"):
            if name in params and not (name == "n" and params[name] == 1):
                raise _dropped(name, "Seedream")
        prompt = params.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise _bad("The parameter `prompt` is required.", "prompt", "MissingParameter")
        refs = params.get("image")
        refs = [] if refs is None else refs if isinstance(refs, list) else [refs]
        if len(refs) > 14:
            raise _bad("At most 14 reference images.", "image")
        pictures = [_image_from_url(url, "image") for url in refs]
        size = self._seedream_size(params.get("model"), params.get("size", "2K"),
                                   pictures[0] if pictures else None)
        fake = self.fake
        fmt = "jpeg"
        data = images.encode(redrawn(pictures[0] if pictures else None, size, prompt,
                                     fake.fill_color), fmt, 95, None)
        with fake._lock:
            fake._seedream_count = getattr(fake, "_seedream_count", 0) + 1
            failing = fake._seedream_count in fake.seedream_fail_on
        if fake.seedream_item_error or failing:
            item = {"error": {"code": "OutputImageSensitiveContentDetected",
                              "message": "The request failed because the output image may "
                                         "contain sensitive information."}}
            body_data, made = [item], 0
        else:
            item = self._url_item(data, fmt)
            item["size"] = "%dx%d" % size
            body_data, made = [item], 1
            if fake.seedream_batch is not None:
                body_data = fake.seedream_batch(item, self)
                made = sum(1 for d in body_data if "url" in d)
        body = {"model": params["model"], "created": int(time.time()), "data": body_data,
                "usage": {"generated_images": made, "output_tokens": made * size[0] * size[1]
                          // 256, "total_tokens": made * size[0] * size[1] // 256}}
        self._send_json(200, body)

    @staticmethod
    def _seedream_size(model, value, first) -> Tuple[int, int]:
        if not isinstance(value, str):
            raise _bad("size must be a string.", "size")
        steps = {"1K": 1024, "2K": 2048, "4K": 4096}
        if "4-0" not in (model or ""):
            steps.pop("1K")
        if value in steps:
            side = steps[value]
            aspect = first.width / first.height if first is not None else 1.0
            h = math.sqrt(side * side / aspect)
            return int(h * aspect) // 8 * 8, int(h) // 8 * 8
        match = _WXH.match(value)
        if not match:
            raise _bad("Invalid size %r: use 1K/2K/4K or WIDTHxHEIGHT." % value, "size")
        w, h = int(match.group(1)), int(match.group(2))
        least = 1280 * 720 if "4-0" in (model or "") else 2560 * 1440
        if not least <= w * h <= 4096 * 4096 or not 1 / 16 <= w / h <= 16:
            raise _bad("Invalid size %r: total pixels from %d to 16777216, aspect 1:16 to "
                       "16:1." % (value, least), "size")
        return w, h

    # --- FLUX Kontext and Qwen, multipart ---------------------------------------------------
    def _flux(self, route: str, params: dict, files: list, form: bool) -> None:
        ratio = "1:1"
        if route == "generations":
            for name in params:
                if name not in ("model", "prompt", "size", "output_format"):
                    raise _dropped(name, "FLUX generations (JSON)")
            size = params.get("size")
            if size is not None:
                match = _WXH.match(size) if isinstance(size, str) else None
                if not match:
                    raise _bad("Invalid size %r." % size, "size")
                aspect = int(match.group(1)) / int(match.group(2))
                ratio = min(FLUX_RATIOS, key=lambda r: abs(math.log(_ratio(r) / aspect)))
            first = None
        else:
            for name in params:
                if name not in FLUX_FORM:
                    raise _dropped(name, "FLUX edits")
            first = self._images(files, "FLUX Kontext", 4)[0]
            ratio = params.get("aspect_ratio", ratio)
            match = _RATIO.match(ratio)
            if not match or not 3 / 7 - 1e-9 <= _ratio(ratio) <= 7 / 3 + 1e-9:
                raise _bad("aspect_ratio must be between 3:7 and 7:3, not %r." % ratio,
                           "aspect_ratio")
            if "seed" in params and not re.fullmatch(r"\d{1,10}", params["seed"]):
                raise _bad("seed must be an integer.", "seed")
            if "safety_tolerance" in params and params["safety_tolerance"] not in tuple(
                    "0123456"):
                raise _bad("safety_tolerance must be 0 to 6.", "safety_tolerance")
        height = math.sqrt(1024 * 1024 / _ratio(ratio))
        size = (int(height * _ratio(ratio)) // 32 * 32, int(height) // 32 * 32)
        data = images.encode(redrawn(first, size, params.get("prompt", ""),
                                     self.fake.fill_color), "jpeg", 95, None)
        item = self._url_item(data, "jpeg", lifetime=self.fake.url_lifetime)
        self._send_json(200, {"created": int(time.time()), "data": [item]})

    def _qwen(self, route: str, params: dict, files: list, form: bool) -> None:
        if route != "edits" or not form:
            raise _bad("qwen-image-edit only edits images (multipart /v1/images/edits).",
                       "model")
        for name in params:
            if name not in QWEN_FORM:
                raise _dropped(name, "Ali image edits")
        first = self._images(files, "Qwen image edit", 1)[0]
        data = images.encode(redrawn(first, first.size, params.get("prompt", ""),
                                     self.fake.fill_color), "png", 100, None)
        item = self._url_item(data, "png")
        item.update({"b64_json": "", "revised_prompt": ""})  # as the relay builds it
        self._send_json(200, {"created": int(time.time()), "data": [item]})

    @staticmethod
    def _images(files: list, what: str, most: int) -> List[Image.Image]:
        """The image parts (``image`` or ``image[]``), 1 to ``most`` of them; no mask."""
        if any(f.field == "mask" for f in files):
            raise _dropped("mask", what)
        parts = [f for f in files if re.match(r"^image(\[\d*\])?$", f.field)]
        if not 1 <= len(parts) <= most:
            raise _bad("%s takes 1 to %d images, not %d." % (what, most, len(parts)), "image")
        try:
            return [images.decode(part.data) for part in parts]
        except Exception:  # noqa: BLE001 - Pillow raises many types
            raise _bad("Invalid image file.", "image", "invalid_image_file") from None

    def _url_item(self, data: bytes, fmt: str, lifetime: Optional[float] = None) -> dict:
        name = "%s.%s" % (uuid.uuid4().hex, fmt)
        with self.fake._lock:
            self.fake._files[name] = (data, images.MIME_TYPES[fmt])
            if lifetime is not None:
                self.fake._expires[name] = time.monotonic() + lifetime
        self.fake._log("responses", data)
        return {"url": "%s/files/%s" % (self.fake.alt_host_url, name)}


def _camel_case(google) -> None:
    """new-api's own refusals of camelCase keys (to_gemini_chat_req.go, seen at 3bd2a8a)."""
    if not isinstance(google, dict):
        return
    config = google.get("image_config")
    for where, key, good in (
            (google, "imageConfig", "extra_body.google.image_config"),
            (config, "aspectRatio", "extra_body.google.image_config.aspect_ratio"),
            (config, "imageSize", "extra_body.google.image_config.image_size")):
        if isinstance(where, dict) and key in where:
            bad = good.rsplit(".", 1)[0] + "." + key if "." in good else key
            raise ApiError(400, "%s is not supported, use %s instead" % (bad, good),
                           "new_api_error", None, "convert_request_failed", origin="relay")


def _ratio(text: str) -> float:
    w, h = (int(v) for v in text.split(":"))
    return w / h


def expired_page(name: str) -> bytes:
    """What an object store answers for a signed URL past its time."""
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>"
            "<Message>Request has expired</Message><Key>%s</Key></Error>" % name).encode()
