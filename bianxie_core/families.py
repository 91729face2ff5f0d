"""The model families (``families.json``): which door a model is reached by and what it takes.

A model's family comes from the config (``"models": {name: {"family": …}}`` or ``{"door": …}``,
set with ``bianxie config set door NAME=DOOR``), then from ``models.json``, then from the name
(``patterns``). A name no pattern places has no family: sending to it stops with a sentence
asking which door it uses, never a guess.
"""

from __future__ import annotations

import fnmatch
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from bianxie_core.errors import UsageError
from bianxie_core.i18n import _, ngettext

_TABLE = json.loads((Path(__file__).resolve().parent / "families.json").read_text("utf-8"))
DOORS = ("images", "json", "chat")
OPTIONS = ("background", "moderation")  # the OpenAI images settings only gpt-image takes
# The family a door names when the config gives only a door.
DOOR_FAMILIES = {"images": "gpt-image-2", "json": "seedream", "chat": "gemini-image"}


@dataclass(frozen=True)
class Family:
    name: str
    label: str
    door: str  # DOORS
    mask: str  # "native" | "none"
    sizes: str  # "standard" | "free" | "aspect" | "none"
    n: str  # "native" | "parallel" | "one"
    max_refs: int
    max_input_mb: int
    answer: str  # "b64" | "url"
    url_lifetime: Optional[int]
    qualities: tuple
    input_fidelity: bool
    stream: bool
    generate: bool
    edit: bool
    price: str  # "tokens" (models.json's prices) | "unknown"
    billing: str  # "tokens" | "image"
    price_source: str
    aspect_ratios: tuple = ()
    resolutions: tuple = ()
    base_pixels: int = 1024 * 1024
    wire: str = ""  # how an "aspect" size is sent: image_config | wxh | aspect_ratio
    extras: tuple = ()  # form fields beyond OpenAI's that survive this door
    options: tuple = ()  # OPTIONS it takes
    max_pixels: int = 0  # the most output pixels it makes (0: no rule here)
    output_tokens: tuple = ()  # (step, tokens billed per image) pairs

    def output_tokens_for(self, size: Optional[str]) -> int:
        """Output tokens one image of ``size`` (WxH, 1K/2K/4K or auto) bills, from the family's
        own table (0: it has none)."""
        table = dict(self.output_tokens)
        size = (size or "auto").strip().upper()
        if not table:
            return 0
        if size in table:
            return table[size]
        side = math.isqrt(self.base_pixels)
        width, height = (int(v) for v in size.split("X")) if "X" in size else (side, side)
        return table.get(self.resolution_for(width, height), 0)

    @property
    def masks(self) -> bool:
        return self.mask == "native"

    def aspect_size(self, aspect: float, pixels: Optional[int] = None) -> tuple:
        """(width, height), multiples of 16, of the nearest aspect ratio the family takes, at
        about ``pixels`` (the family's base)."""
        ratio = nearest_ratio(self.aspect_ratios, aspect)
        w, h = (int(v) for v in ratio.split(":"))
        pixels = pixels or self.base_pixels
        height = math.sqrt(pixels * h / w)
        width = height * w / h
        return max(16, round(width / 16) * 16), max(16, round(height / 16) * 16)

    def resolution_for(self, width: int, height: int) -> str:
        """The family's 1K/2K/4K step nearest to ``width``×``height`` in pixel count ("" when
        it has none)."""
        if not self.resolutions:
            return ""
        pixels = max(width * height, 1)
        return min(self.resolutions,
                   key=lambda step: abs(math.log((int(step[:-1]) * 1024) ** 2 / pixels)))


def nearest_ratio(ratios, aspect: float) -> str:
    """The ``"w:h"`` of ``ratios`` nearest to ``aspect`` (width / height), on a log scale."""
    def distance(text: str) -> float:
        w, h = (int(v) for v in text.split(":"))
        return abs(math.log((w / h) / aspect))
    return min(ratios, key=distance)


def _family(name: str, entry: Mapping) -> Family:
    known = {k: v for k, v in entry.items() if k in Family.__dataclass_fields__}
    for key in ("qualities", "aspect_ratios", "resolutions", "extras", "options"):
        if key in known:
            known[key] = tuple(known[key])
    if "output_tokens" in known:
        known["output_tokens"] = tuple(sorted(known["output_tokens"].items()))
    return Family(name=name, **known)


FAMILIES = {name: _family(name, entry) for name, entry in _TABLE["families"].items()}


def by_pattern(model: str) -> Optional[Family]:
    """The family whose name pattern fits ``model`` (the most specific pattern wins); a
    relay's ``provider/name`` is placed by its own name."""
    lower = model.strip().lower()
    names = {lower, lower.rsplit("/", 1)[-1]}
    best, best_len = None, -1
    for family in FAMILIES.values():
        for pattern in patterns(family):
            if any(fnmatch.fnmatchcase(name, pattern) for name in names) and \
                    len(pattern) > best_len:
                best, best_len = family, len(pattern)
    return best


def patterns(family: Family) -> tuple:
    """The name patterns that place a model in ``family``."""
    return tuple(_TABLE["families"][family.name]["patterns"])


def for_model(model: str, entry: Optional[Mapping] = None) -> Optional[Family]:
    """``model``'s family: ``entry`` (its models.json or config entry) first, by its
    ``family`` or its ``door``, then the name's pattern; None when nothing places it."""
    entry = entry or {}
    named = entry.get("family")
    if isinstance(named, str) and named in FAMILIES:
        return FAMILIES[named]
    door = entry.get("door")
    if isinstance(door, str) and door in DOORS:
        placed = by_pattern(model)
        return placed if placed and placed.door == door else FAMILIES[DOOR_FAMILIES[door]]
    return by_pattern(model)


def unplaced(model: str) -> UsageError:
    """The error for a model no family fits: which door does it use?"""
    return UsageError(_(
        "{model} is a model this program does not know, so it cannot tell how to send to it: "
        "say which door it uses with `bianxie config set door {model}=images` (the OpenAI "
        "images API), `{model}=json` (Seedream's style) or `{model}=chat` (Gemini's style, "
        "chat completions).").format(model=model))


def describe(family: Family) -> str:
    """One line for ``bianxie models``: door, mask, sizes, n, references, answer."""
    door = {"images": _("images API"), "json": _("images JSON with references"),
            "chat": _("chat completions")}[family.door]
    mask = _("mask") if family.masks else _("no mask (composited)")
    if family.sizes == "aspect":
        sizes = _("aspect ratios {ratios}").format(ratios=", ".join(family.aspect_ratios))
        if family.resolutions:
            sizes += " × " + "/".join(family.resolutions)
    elif family.sizes == "free":
        sizes = _("any WxH (÷16, 1:3–3:1, ≤3840×2160)")
    elif family.sizes == "none":
        sizes = _("its own size")
    else:
        sizes = "1024x1024, 1536x1024, 1024x1536"
    refs = ngettext("{count} image at most", "up to {count} images", family.max_refs).format(
        count=family.max_refs)
    parts = [family.label, door, mask, sizes, refs]
    if family.n == "parallel":
        parts.append(_("n as parallel requests"))
    if family.answer == "url":
        parts.append(_("URL answers"))
    if family.price == "unknown":
        parts.append(_("price unknown"))
    return " · ".join(parts)
