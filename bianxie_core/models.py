"""The model table (``models.json``) and the size rules it names.

A name that is not in the table gets its family by name (``families.py``): a gpt-image name
the rules of the newest gpt-image model, another family its own; a name no family fits has
``family`` None and is refused before sending. The user's config can add or override models
(``"models": {name: {...}}``, same fields, plus ``family`` or ``door``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from bianxie_core import families
from bianxie_core.errors import UsageError
from bianxie_core.families import Family
from bianxie_core.i18n import _

STANDARD_SIZES = ("1024x1024", "1536x1024", "1024x1536")
FREE_SIZE_MULTIPLE = 16
FREE_SIZE_MAX_SIDE = 3840
FREE_SIZE_MAX_PIXELS = 3840 * 2160
FREE_SIZE_LEAST_PIXELS = 655_360  # the API's floor (e.g. 1024x640)
FREE_SIZE_MAX_ASPECT = 3.0
# Above this a free size is "experimental" upstream (and dearer): only on request.
FREE_SIZE_DEFAULT_MAX_PIXELS = 2560 * 1440

_SIZE_TEXT = re.compile(r"([1-9][0-9]{0,5})x([1-9][0-9]{0,5})")
_TABLE = json.loads((Path(__file__).resolve().parent / "models.json").read_text("utf-8"))
DEFAULT_MODEL: str = _TABLE["default"]


@dataclass(frozen=True)
class Price:
    """USD (or the config's currency) per 1M tokens."""

    text_in: float = 0.0
    image_in: float = 0.0
    image_out: float = 0.0


@dataclass(frozen=True)
class ModelSpec:
    name: str
    free_size: bool  # gpt-image-2 style WxH sizes
    input_fidelity: bool
    price: Price
    price_estimated: bool = False
    known: bool = True  # False: not in the table, its family told by its name
    family: Optional[Family] = None  # None: no family fits, so it cannot be sent to

    @property
    def sizes(self) -> tuple:
        """The sizes a dialog offers (free-size models take any valid WxH besides these)."""
        family = self.family
        if family is not None and family.sizes == "aspect":
            return tuple("%dx%d" % family.aspect_size(_ratio(r)) for r in family.aspect_ratios) \
                + ("auto",)
        if family is not None and family.sizes == "none":
            return ("auto",)
        return STANDARD_SIZES + ("auto",)

    @property
    def price_unknown(self) -> bool:
        """No price is known for this model (the config's ``prices`` can give one)."""
        return self.family is None or self.price == Price()  # no price: never shown as 0


def _ratio(text: str) -> float:
    w, h = (int(v) for v in text.split(":"))
    return w / h


def _spec(name: str, entry: Mapping, known: bool) -> ModelSpec:
    family = families.for_model(name, entry)
    fidelity = entry.get("input_fidelity", family.input_fidelity if family else True)
    sizes = entry.get("sizes") or (family.sizes if family else "standard")
    return ModelSpec(
        name=name,
        free_size=sizes == "free",
        input_fidelity=bool(fidelity),
        price=Price(**entry.get("price", {})),
        price_estimated=bool(entry.get("price_estimated", False)),
        known=known,
        family=family,
    )


def known_models(extra: Optional[Mapping] = None) -> list:
    names = list(_TABLE["models"])
    names += [n for n in (extra or {}) if n not in names]
    return names


def get_model(name: Optional[str] = None, extra: Optional[Mapping] = None) -> ModelSpec:
    """The spec for ``name`` (default model when empty); ``extra`` is the config's models."""
    name = (name or DEFAULT_MODEL).strip()
    if extra and name in extra:
        base = dict(_TABLE["models"].get(name) or _base_for(name, extra[name]))
        if "door" in extra[name] and "family" not in extra[name]:
            base.pop("family", None)  # the door the user set is the door it goes through
        base.update(extra[name])
        return _spec(name, base, True)
    if name in _TABLE["models"]:
        return _spec(name, _TABLE["models"][name], True)
    return _spec(name, _base_for(name, {}), False)


def _base_for(name: str, entry: Mapping) -> dict:
    """The entry a name outside the table starts from: the newest gpt-image model's for a
    gpt-image family, none (the family's own rules, no price) for the others."""
    family = families.for_model(name, entry)
    if family is not None and family.name in ("gpt-image", "gpt-image-2") and \
            families.by_pattern(name) is family:  # not a model of its own given this door
        return dict(_TABLE["models"][_TABLE["newest"]])
    return {"family": family.name} if family else {}


def size_text(text: str) -> str:
    """A size as typed, in the form the API takes: " 1536X1024" → "1536x1024"."""
    return text.strip().lower()


def parse_size(size: str) -> tuple:
    """``"1536x1024"`` → ``(1536, 1024)``; raises UsageError for anything else (also for
    "1536X1024" or " 1536x1024": the text is sent as it is, so it must be what is checked)."""
    match = _SIZE_TEXT.fullmatch(size) if isinstance(size, str) else None
    if match:
        return int(match.group(1)), int(match.group(2))
    raise UsageError(
        _("size must be WIDTHxHEIGHT (for example 1024x1024) or auto, not {value!r}.").format(
            value=size)
    )


def free_size_problem(width: int, height: int) -> Optional[str]:
    """Why ``width``×``height`` is not a valid free size, or None when it is."""
    if width <= 0 or height <= 0:
        return _("both sides must be positive")
    if width % FREE_SIZE_MULTIPLE or height % FREE_SIZE_MULTIPLE:
        return _("both sides must be divisible by 16")
    if max(width, height) > FREE_SIZE_MAX_SIDE:
        return _("each side must be at most 3840")
    if width * height < FREE_SIZE_LEAST_PIXELS:
        return _("at least 655,360 pixels in total (for example 1024x640)")
    if width * height > FREE_SIZE_MAX_PIXELS:
        return _("at most 3840x2160 pixels in total")
    if max(width, height) > FREE_SIZE_MAX_ASPECT * min(width, height):
        return _("the aspect ratio must be between 1:3 and 3:1")
    return None


def check_size(model: ModelSpec, size: str) -> None:
    """Raise UsageError unless ``model`` takes ``size``."""
    family = model.family
    if family is not None and family.sizes in ("aspect", "none"):
        return _check_family_size(model, family, size)
    if size == "auto" or size in STANDARD_SIZES:
        return
    if not model.free_size:
        raise UsageError(
            _("size {size} is not available for {model}: choose one of {allowed}.").format(
                size=size, model=model.name, allowed=", ".join(model.sizes)
            )
        )
    problem = free_size_problem(*parse_size(size))
    if problem:
        raise UsageError(
            _("size {size} is not available for {model}: {problem}.").format(
                size=size, model=model.name, problem=problem
            )
        )


def _check_family_size(model: ModelSpec, family: Family, size: str) -> None:
    """An aspect-ratio family takes any WxH (sent as its nearest aspect ratio) and its
    resolutions; a family without sizes takes only auto."""
    if size == "auto":
        return
    if family.sizes == "aspect" and size.upper() in family.resolutions:
        return
    if family.sizes == "aspect":
        width, height = parse_size(size)
        ratios = [_ratio(r) for r in family.aspect_ratios]
        low, high = min(ratios), max(ratios)
        if low / 1.1 <= width / height <= high * 1.1:
            return
        raise UsageError(_("size {size} is not available for {model}: its aspect ratios are "
                           "{allowed}.").format(size=size, model=model.name,
                                                allowed=", ".join(family.aspect_ratios)))
    raise UsageError(_("{model} makes images at its own size: leave the size at auto.").format(
        model=model.name))
