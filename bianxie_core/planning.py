"""Planning a region edit: which rectangle to read, the size the model answers at, the canvas
sent. Pure rectangle maths (no numpy, no Pillow), so a host can plan before loading them.

Coordinates: ``plan.crop`` is in the coordinates of the layer that is read (``plan.source``);
``plan.canvas``, ``plan.region`` and the placement are in the coordinates of ``plan.layer``,
where the source's origin sits at ``plan.origin`` (``(0, 0)`` except when expanding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bianxie_core.errors import UsageError
from bianxie_core.geometry import Bounds, Extent
from bianxie_core.i18n import _
from bianxie_core.models import (
    FREE_SIZE_DEFAULT_MAX_PIXELS,
    FREE_SIZE_MAX_PIXELS,
    FREE_SIZE_MAX_SIDE,
    FREE_SIZE_MULTIPLE,
    ModelSpec,
    check_size,
    free_size_problem,
    parse_size,
)
from bianxie_core.params import UPLOAD_FORMATS

DEFAULT_GROW = 6
DEFAULT_FEATHER = 12
MIN_CONTEXT = 64  # px of real pixels on each side of the selection, when the layer has them
FREE_SIZE_MIN_PIXELS = 1024 * 1024  # free sizes asked for are at least about this
MIN_UPLOAD_SIDE = 128  # a canvas with a shorter side goes at the API size, as it costs nothing
MIN_MAX_PIXELS = 1024 * 1024  # above the API's floor, so that every aspect has a size
# Expanding works on the whole new canvas (and the room around it the API's aspect adds):
# its memory grows with it, about 30 bytes a pixel at the peak.
MAX_EXPAND_PIXELS = 100_000_000
# Fixed-size models: wide/tall above the geometric mean of the two aspects (√1.5 ≈ 1.22).
_WIDE = math.sqrt(1.5)
_FIXED = {"square": Extent(1024, 1024), "wide": Extent(1536, 1024), "tall": Extent(1024, 1536)}


@dataclass(frozen=True)
class RegionOptions:
    context: str = "auto"  # "auto", "<px>" (e.g. "128"), "<pct>%" of the selection's side, "layer"
    grow: int = DEFAULT_GROW  # px the selection grows (composite and API mask)
    feather: int = DEFAULT_FEATHER  # px of soft edge outside the grown selection
    color_match: bool = True  # fit the patch's tone to the original around the selection
    align: bool = True  # move an answer that drifted back into place (registration.py)
    size: str = "auto"  # API size: "auto" or WxH
    max_pixels: int = FREE_SIZE_DEFAULT_MAX_PIXELS  # free-size models: cap on the API size
    upload_format: str = "png"  # png | webp | jpeg
    model_masks: bool = True  # False: the model takes no mask and redraws the whole canvas

    @property
    def ring_width(self) -> int:
        """Width of the band just outside the feather used to fit the tone."""
        return max(8, self.feather)


@dataclass(frozen=True)
class Plan:
    mode: str  # "selection" | "layer" | "expand"
    layer: Extent  # the layer the placement goes to (expand: the new canvas)
    selection: Bounds | None  # in layer coordinates, clamped to the layer
    crop: Bounds  # the rectangle of ``source`` to read
    api_size: Extent  # the size asked for and expected back
    canvas: Bounds  # in layer coordinates; what is sent; may stick out of the layer
    source: Extent  # the layer that is read (== layer except when expanding)
    origin: tuple[int, int]  # where the source's (0, 0) sits in layer coordinates
    region: Bounds  # what the placement covers, in layer coordinates

    @property
    def pixels_to_read(self) -> int:
        return self.crop.area

    @property
    def size_param(self) -> str:
        return f"{self.api_size.width}x{self.api_size.height}"

    @property
    def upload_size(self) -> Extent:
        """The size the image and mask are sent at: the canvas's own when it fits in
        ``api_size`` (and is not tiny), else ``api_size``."""
        canvas = self.canvas.extent
        if canvas.width <= self.api_size.width and canvas.height <= self.api_size.height \
                and min(canvas) >= MIN_UPLOAD_SIDE:
            return canvas
        return self.api_size

    @property
    def has_mask(self) -> bool:
        return self.mode != "layer"

    @property
    def known(self) -> Bounds:
        """The crop in layer coordinates: where real pixels are."""
        return self.crop.translate(*self.origin)


# --- planning ----------------------------------------------------------------------------


def plan_edit(layer: Extent, selection: Bounds | None, model: ModelSpec,
              options: RegionOptions = RegionOptions()) -> Plan:
    """Plan an edit of ``selection`` (layer coordinates), or of the whole layer when None."""
    layer = Extent(*layer)
    _check_options(model, options)
    if layer.is_empty:
        raise UsageError(_("The layer is empty: choose a layer with pixels."))
    if selection is None:
        mode, sel, context = "layer", None, Bounds.of(layer)
    else:
        mode = "selection"
        sel = Bounds(*(int(v) for v in selection)).clamp(layer)
        if sel.is_empty:
            raise UsageError(
                _("The selection does not touch the layer: select part of the layer, or "
                  "select nothing to edit the whole layer.")
            )
        context = _context(sel, layer, options)
    api = choose_api_size(model, context.extent, options)
    canvas = context.fit_aspect(api.aspect, layer)
    return Plan(mode, layer, sel, canvas.clamp(layer), api, canvas, layer, (0, 0),
                canvas.clamp(layer))


def plan_expand(layer: Extent, model: ModelSpec, options: RegionOptions = RegionOptions(), *,
                margins: tuple | None = None, aspect: float | None = None) -> Plan:
    """Plan growing the canvas by ``margins`` (left, top, right, bottom) or to ``aspect``
    (width / height, split evenly on both sides); the new area is what the model fills."""
    layer = Extent(*layer)
    _check_options(model, options)
    if layer.is_empty:
        raise UsageError(_("The layer is empty: choose a layer with pixels."))
    if (margins is None) == (aspect is None):
        raise UsageError(_("Expand needs either margins or a target aspect ratio, not both."))
    if aspect is not None:
        if not aspect > 0:
            raise UsageError(_("The aspect ratio must be positive."))
        width = max(layer.width, round(layer.height * aspect))
        height = max(layer.height, round(layer.width / aspect))
        if width > layer.width:
            height = layer.height
        dx, dy = width - layer.width, height - layer.height
        margins = (dx // 2, dy // 2, dx - dx // 2, dy - dy // 2)
    left, top, right, bottom = (int(v) for v in margins)
    if min(left, top, right, bottom) < 0:
        raise UsageError(_("Expand margins cannot be negative."))
    if left + top + right + bottom == 0:
        raise UsageError(_("Nothing to expand: the new canvas is the size of the layer."))
    new = Extent(layer.width + left + right, layer.height + top + bottom)
    api = choose_api_size(model, new, options)
    canvas = Bounds.of(new).fit_aspect(api.aspect, new)
    if canvas.area > MAX_EXPAND_PIXELS:
        raise UsageError(
            _("Expanding to {size} is too much: with the room the model's aspect ratio adds it "
              "is {mp:,.0f} megapixels to work on, and the most is {most:,.0f} megapixels. Use "
              "smaller margins, or an aspect ratio nearer the original's.").format(
                size=f"{new.width}x{new.height}", mp=canvas.area / 1e6,
                most=MAX_EXPAND_PIXELS / 1e6)
        )
    return Plan("expand", new, None, Bounds.of(layer), api, canvas, layer, (left, top),
                Bounds.of(new))


def choose_api_size(model: ModelSpec, crop: Extent, options: RegionOptions) -> Extent:
    """The API size for a crop: ``options.size`` when fixed, else by the crop's aspect. A
    family with aspect ratios gets the nearest it makes (the size it answers at); one that
    makes its own size, the crop's aspect at about 1 MP."""
    family = model.family
    if family is not None and family.sizes == "aspect":
        size = options.size.upper()
        if size in family.resolutions:
            return Extent(*family.aspect_size(crop.aspect, (int(size[:-1]) * 1024) ** 2))
        if size != "AUTO":
            width, height = parse_size(options.size)
            return Extent(*family.aspect_size(width / height, width * height))
        return Extent(*family.aspect_size(crop.aspect))
    if family is not None and family.sizes == "none":
        return free_size_for(crop, FREE_SIZE_MIN_PIXELS)
    if options.size != "auto":
        return Extent(*parse_size(options.size))
    if model.free_size:
        return free_size_for(crop, options.max_pixels)
    if crop.aspect > _WIDE:
        return _FIXED["wide"]
    if crop.aspect < 1 / _WIDE:
        return _FIXED["tall"]
    return _FIXED["square"]


def free_size_for(crop: Extent, max_pixels: int = FREE_SIZE_DEFAULT_MAX_PIXELS) -> Extent:
    """A valid free size of the crop's aspect (clamped to 1:3–3:1) and about its pixel count,
    between ~1 MP and ``max_pixels``, sides multiples of 16."""
    ratio = min(max(crop.aspect, 1 / 3), 3.0)
    cap = min(max_pixels, FREE_SIZE_MAX_PIXELS)
    target = min(max(crop.area, min(FREE_SIZE_MIN_PIXELS, cap)), cap)
    height = math.sqrt(target / ratio)
    width = height * ratio
    shrink = min(1.0, FREE_SIZE_MAX_SIDE / max(width, height))
    width, height = width * shrink, height * shrink
    m = FREE_SIZE_MULTIPLE
    best, best_score = None, math.inf
    for w in _multiples_near(width, m):
        for h in _multiples_near(height, m):
            if w * h > cap or free_size_problem(w, h):
                continue
            score = abs(math.log(w / h / ratio)) + 0.25 * abs(math.log(w * h / target))
            if score < best_score:
                best, best_score = Extent(w, h), score
    assert best is not None, (crop, max_pixels)
    return best


def _multiples_near(value: float, m: int) -> range:
    low = max(m, int(value // m) * m)
    return range(max(m, low - m), low + 2 * m + 1, m)


def _context(sel: Bounds, layer: Extent, options: RegionOptions) -> Bounds:
    text = str(options.context).strip().lower()
    least = options.grow + options.feather + options.ring_width
    if text == "layer":
        return Bounds.of(layer)
    try:
        if text == "auto":
            pad_x = max(MIN_CONTEXT, least, math.ceil(sel.width / 2))
            pad_y = max(MIN_CONTEXT, least, math.ceil(sel.height / 2))
        elif text.endswith("%"):
            share = float(text[:-1]) / 100
            if not share >= 0:
                raise ValueError(text)
            pad_x = max(least, math.ceil(sel.width * share))
            pad_y = max(least, math.ceil(sel.height * share))
        else:
            pad_x = pad_y = max(least, int(text))
    except ValueError:
        raise UsageError(
            _("context must be auto, layer, a number of pixels (128) or a percentage (50%), "
              "not {value!r}.").format(value=options.context)
        ) from None
    return sel.pad(pad_x, pad_y).clamp(layer)


def _check_options(model: ModelSpec, options: RegionOptions) -> None:
    check_size(model, options.size)
    if options.grow < 0 or options.feather < 0:
        raise UsageError(_("grow and feather must be 0 or more pixels."))
    if options.upload_format not in UPLOAD_FORMATS:
        raise UsageError(
            _("upload format must be one of {allowed}, not {value!r}.").format(
                allowed=", ".join(UPLOAD_FORMATS), value=options.upload_format
            )
        )
    if not MIN_MAX_PIXELS <= options.max_pixels:
        raise UsageError(
            _("max pixels must be at least {least}.").format(least=MIN_MAX_PIXELS)
        )
