"""The request each family's door takes: path, body and Content-Type, built from a
``GenerateRequest`` or ``EditRequest``. Only fields that survive the relay are sent
(new-api drops unknown JSON fields on ``/images/*``, but keeps every multipart text field).

* ``images`` (gpt-image, FLUX Kontext, Qwen): edits multipart, generations JSON, as the SDK;
  a family without a mask, n or streaming gets none; FLUX's size goes as its ``aspect_ratio``
  form field on edits and as ``size`` on generations (the relay maps it).
* ``json`` (Seedream): everything to ``/images/generations``, the images as data URLs in
  ``image`` (a string for one, an array for more), the size as WxH or 1K/2K/4K.
* ``chat`` (Gemini): door_chat.py.
"""

from __future__ import annotations

import base64
import json
import math
import os
from typing import NamedTuple, Optional

from bianxie_core import door_chat, families
from bianxie_core.door_chat import data_url
from bianxie_core.families import Family, nearest_ratio
from bianxie_core.params import EditRequest
from bianxie_core.wire import edit_file_parts, encode_multipart


class Wire(NamedTuple):
    path: str
    payload: bytes
    content_type: str
    reader: str  # "images" or "chat": how the answer is read


def build(kind: str, request, family: Optional[Family]) -> Wire:
    """The wire form of ``request`` (``kind`` "generate" or "edit") for ``family`` (None:
    the OpenAI images API as it always was)."""
    door = family.door if family is not None else "images"
    if door == "chat":
        return Wire("/chat/completions", door_chat.body(request, family), "application/json",
                    "chat")
    if door == "json":
        return _json_wire("/images/generations", seedream_fields(request, family))
    fields = images_fields(request, family)
    if kind == "generate":
        return _json_wire("/images/generations", fields)
    boundary = "bianxie" + base64.b32encode(os.urandom(10)).decode().lower()
    files = [part for part in edit_file_parts(request)
             if part[0] != "mask" or family is None or family.masks]
    return Wire("/images/edits", encode_multipart(fields, files, boundary),
                f"multipart/form-data; boundary={boundary}", "images")


def _json_wire(path: str, fields: dict) -> Wire:
    payload = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return Wire(path, payload.encode("utf-8"), "application/json", "images")


def images_fields(request, family: Optional[Family]) -> dict:
    """The OpenAI images fields, less what ``family`` does not take."""
    fields = request.fields()
    if family is None:
        return fields
    if family.n != "native":
        fields.pop("n", None)
    if not family.stream:
        fields.pop("stream", None)
        fields.pop("partial_images", None)
    if not family.qualities:
        fields.pop("quality", None)
    if not family.input_fidelity:
        fields.pop("input_fidelity", None)
    for name in families.OPTIONS:
        if name not in family.options:
            fields.pop(name, None)  # only "auto" gets here (params._family_option)
    if family.sizes not in ("aspect", "none"):
        return fields
    size = fields.pop("size", None)
    if family.sizes == "aspect" and size and size != "auto":
        ratio = aspect_ratio(size, family)
        if isinstance(request, EditRequest) and "aspect_ratio" in family.extras:
            fields["aspect_ratio"] = ratio  # a form field: survives the relay
        else:
            fields["size"] = "%dx%d" % family.aspect_size(_as_float(ratio))
    return fields


def seedream_fields(request, family: Family) -> dict:
    """Seedream's JSON body: model, prompt, image references, size, no watermark."""
    fields = {"model": request.model, "prompt": request.prompt}
    images = [data_url(im.data, im.content_type) for im in getattr(request, "images", ())]
    if len(images) == 1:
        fields["image"] = images[0]
    elif images:
        fields["image"] = images
    if request.size and request.size != "auto":
        fields["size"] = seedream_size(request.size, family)
    fields["watermark"] = False
    return fields


def seedream_size(size: str, family: Family) -> str:
    """1K/2K/4K as they are; a WxH as the family's nearest aspect at the resolution step
    nearest to its pixel count, within the model's most pixels."""
    if size.upper() in family.resolutions:
        return size.upper()
    width, height = (int(v) for v in size.split("x"))
    step = family.resolution_for(width, height)
    pixels = (int(step[:-1]) * 1024) ** 2 if step else None
    width, height = family.aspect_size(_as_float(aspect_ratio(size, family)), pixels)
    most = family.max_pixels
    if most and width * height > most:  # rounding to 16 went over: step down, still ÷16
        scale = math.sqrt(most / (width * height))
        width, height = int(width * scale) // 16 * 16, int(height * scale) // 16 * 16
    return "%dx%d" % (width, height)


def aspect_ratio(size: str, family: Family) -> str:
    """The family's aspect ratio nearest to a ``WxH`` size (a resolution: 1:1)."""
    if "x" not in size:
        return "1:1"
    width, height = (int(v) for v in size.split("x"))
    return nearest_ratio(family.aspect_ratios, width / height)


def _as_float(ratio: str) -> float:
    w, h = (int(v) for v in ratio.split(":"))
    return w / h
