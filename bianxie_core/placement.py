"""Placing a region edit's answer: mapped back onto ``plan.region``, moved back where the
model drifted, colour-matched, with the soft mask to composite it by.

``Placer(plan, pixels, coverage, options)`` does the half of ``place`` that needs no answer, so
a host can run it while the model works, then ``.place(result)``. Models redraw the whole
canvas, so the answer is first moved back into place where it drifted (``Placer.align``,
registration.py; ``options.align``), then colour-matched and given the soft mask.

The model answers at ``plan.api_size``; the answer is mapped back through the exact inverse of
canvas → answer (sub-pixel, per axis, from whatever size it has), so nothing shifts. The
placement is in ``plan.layer``'s coordinates. The patch is opaque (alpha 255): a filled area
becomes solid.

Defaults, chosen by comparing composites on tests/data/astronaut.png with a fake server that
paints a blurred, noisy, slightly warmer version inside the mask (grow/feather 0/0, 3/6, 6/12,
8/24): ``grow=6`` px covers the anti-aliased rim and the halo a hand-drawn selection leaves
around an object; ``feather=12`` px hides the seam (with colour matching) where 6 px still
shows a line, without the ghost of the original that 24 px leaves. Both are layer pixels.
Expand feathers half as far, into the old layer only; the margin itself is all model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from bianxie_core import compositing as comp
from bianxie_core import diagnosis, registration, resampling
from bianxie_core.geometry import Bounds, Extent
from bianxie_core.i18n import _
from bianxie_core.image_codec import decode_result, flatten_rgb
from bianxie_core.planning import Plan, RegionOptions
from bianxie_core.upload import check_pixels, crop_fill

# The "mask ignored" check: share of pixels far from the mask that changed by more than
# _CHANGED levels (after a tone fit); a relay that drops the mask repaints most of them.
_CHANGED = 40
_CHANGED_SHARE = 0.2
_CHECK_SIDE = 256
_SAME_ASPECT = 0.01  # |log| of an aspect ratio's change still taken as the same shape
# How a model may frame an answer of another shape than the canvas: stretched to it (what
# map_back assumes), the canvas fitted inside with bars, or the canvas cropped to cover it.
_FRAMINGS = ("stretch", "fit", "cover")
_LANCZOS = Image.Resampling.LANCZOS
_BOX = Image.Resampling.BOX
_BILINEAR = Image.Resampling.BILINEAR


@dataclass(frozen=True)
class Placement:
    patch: np.ndarray  # (h, w, 4) uint8, opaque
    x: int  # in layer coordinates (expand: new-canvas coordinates)
    y: int
    mask: np.ndarray | None  # (h, w) uint8, 255 = patch fully shown; None = all shown
    warnings: tuple[str, ...] = ()
    canvas: Extent | None = None  # expand: the new canvas size
    origin: tuple[int, int] = (0, 0)  # expand: where the old layer goes on the new canvas
    alignment: dict | None = None  # what registration found (diagnosis.py); None: not run

    @property
    def bounds(self) -> Bounds:
        return Bounds(self.x, self.y, self.patch.shape[1], self.patch.shape[0])


def place(plan: Plan, crop_pixels: np.ndarray, coverage: np.ndarray | None,
          result: bytes | Image.Image, options: RegionOptions = RegionOptions()
          ) -> Placement:
    """Map the API's image back onto ``plan.region``, with the mask to composite it by."""
    return Placer(plan, crop_pixels, coverage, options).place(result)


class Placer:
    """``place`` in two halves: what does not depend on the answer (the original region, the
    soft mask, the rings the tone is fitted on) is computed here, while the model works;
    ``place(result)`` does only what the answer needs."""

    def __init__(self, plan: Plan, crop_pixels: np.ndarray, coverage: np.ndarray | None,
                 options: RegionOptions = RegionOptions()):
        pixels = check_pixels(plan, crop_pixels)
        self.plan, self.options = plan, options
        region = plan.region
        inner = plan.known.relative_to(region)
        self.original = np.zeros((region.height, region.width, 3), np.uint8)
        self.original[inner.slices] = flatten_rgb(pixels)
        known = np.zeros(self.original.shape[:2], bool)
        known[inner.slices] = True

        fill = region_fill(plan, pixels, coverage)
        self.mask = None if fill is None else composite_mask(plan, fill, options)
        self.check = self.fit_where = None
        if self.mask is not None:
            # What the model may have changed: the composite, and the API mask plus the reach
            # of the resampling filter; the tone is fitted on a ring just outside of it.
            changed = (self.mask > 0) | comp.dilate(fill > 0, options.grow + 3)
            if plan.mode == "expand":
                changed |= _filled_beyond(plan, options.grow + 3)
            near = comp.dilate(changed, options.ring_width)
            self.check = IgnoredMaskCheck(self.original, known & ~near)
            self.fit_where = near & ~changed & known
        self.registrar = self.shown = None
        if self.mask is not None and options.align:
            # What the model was told to keep: outside the grown API mask (expand: the old
            # layer), with the reach of the resampling filter.
            asked = comp.dilate(fill > 0, options.grow + 3)
            if plan.mode == "expand":
                asked |= _filled_beyond(plan, options.grow + 3)
            # what is shown, and the ring the tone is fitted on: all that is resampled
            self.shown = comp.dilate((self.mask > 0) | self.fit_where, 2)
            window = comp.nonzero_window(self.shown, 0)
            area = None if window is None else (
                window[1].start, window[0].start, window[1].stop, window[0].stop)
            self.registrar = registration.Registrar(registration.luma(self.original),
                                                    known & ~asked, area)

    def place(self, result: bytes | Image.Image) -> Placement:
        plan, warnings = self.plan, []
        image = decode_result(result)
        raw, generated, alignment, matrix = self.align(image)
        mask = None if self.mask is None else self.mask.copy()  # one per placement
        if alignment and alignment.get("framing") == "cover" and mask is not None:
            # the model cropped the canvas: where its answer holds nothing, keep the original
            mask[~_answered(plan, image, matrix, mask.shape)] = 0
        got = "{}x{}".format(*image.size)
        if alignment and alignment.get("framing"):
            warnings.append(
                _("The server returned a {got} image instead of {want}, framed its own way; "
                  "it was fitted back into place: check the edges.").format(
                    got=got, want=plan.size_param))
        elif image.size != tuple(plan.api_size) and _distorted(image.size, plan):
            warnings.append(
                _("The server returned a {got} image instead of {want}; it was rescaled to "
                  "fit, so it may look stretched or soft.").format(
                    got=got, want=plan.size_param)
            )
        if alignment and alignment.get("warning"):
            warnings.append(alignment["warning"])
        if self.check is not None:
            # a model without a mask redraws everything by design: its tone is fitted always
            if self.options.model_masks and self.check.ignored(raw, matrix):
                warnings.append(
                    _("The server changed much of the image outside the selection (it may "
                      "ignore the mask); only the selected area was used, check the edges.")
                )
            elif self.options.color_match:
                fit = comp.fit_gain_offset(generated, self.original, self.fit_where)
                generated = fit.apply(generated)
        patch = np.empty(generated.shape[:2] + (4,), np.uint8)
        patch[..., :3] = generated
        patch[..., 3] = 255
        expand = plan.mode == "expand"
        return Placement(patch, plan.region.x, plan.region.y, mask, tuple(warnings),
                         plan.layer if expand else None, plan.origin, alignment)

    def align(self, image: Image.Image) -> tuple:
        """(raw, aligned, found, matrix): ``plan.region`` of the answer as it came and moved
        back into place where it drifted (where ``self.shown``: the rest is not shown); what
        registration found (None when it is off or has nothing to align to); the transform
        taken out (None: none)."""
        plan = self.plan
        if self.registrar is None:
            generated = map_back(plan, image)
            return generated, generated, None, None
        framings = _FRAMINGS[:1]
        if not self.registrar.refusal and abs(math.log(
                image.width / image.height * plan.canvas.height / plan.canvas.width)) \
                > _SAME_ASPECT:
            framings = _FRAMINGS
        # registered on the luma, scaled back by area: enough to register on; of several
        # framings, the first, by how high its coarse correlation peaks, that registers (a
        # cropped answer peaks low: most of the canvas is missing from it)
        grey = image.convert("L")
        lumas = {f: map_back(plan, grey, f, _BOX).astype(np.float32) for f in framings}
        if "cover" in lumas:  # what lies beyond a cropped answer is no part of it
            lumas["cover"][~_answered(plan, image, None, lumas["cover"].shape)] = np.nan
        if len(framings) > 1:
            framings = sorted(framings, key=lambda f: -self.registrar.peak(lumas[f]))
        tried = []
        for framing in framings:
            tried.append(self.registrar.estimate(lumas[framing]))
            if tried[-1].status != "refused":
                estimate = tried[-1]
                break
        else:  # the reason of the likeliest framing
            estimate, framing = tried[0], "stretch"
        found = diagnosis.describe(estimate, framing, plan.region)
        if estimate.status != "corrected":
            generated = map_back(plan, image, framing)
            return generated, generated, found, None
        # Drifted: what is shown scaled back at its best (the part of the answer it reads,
        # Lanczos) and resampled through the drift; the rest, not shown, scaled back cheaply.
        matrix = estimate.drift.matrix
        raw = map_back(plan, image, framing, _BILINEAR)
        reach = math.ceil(estimate.displacement) + 4
        ys, xs = comp.nonzero_window(self.shown, reach)
        part = Bounds(xs.start, ys.start, xs.stop - xs.start, ys.stop - ys.start)
        local = _scaled_back(plan, image, framing, _LANCZOS, part)
        to_local = np.array([[1, 0, -part.x], [0, 1, -part.y], [0, 0, 1.0]])
        aligned = resampling.warp(raw, to_local @ matrix, self.shown, local)
        return raw, aligned, found, matrix


def recovered_position(canvas, offset, pixels: np.ndarray
                       ) -> tuple[int, int, np.ndarray]:
    """Where a recovered edit result goes: over the canvas it was made from (``canvas`` in
    layer coordinates, the layer at ``offset``), scaled to it; anything else at (0, 0)."""
    if not canvas:
        return 0, 0, pixels
    x, y, w, h = canvas
    dx, dy = offset or (0, 0)
    scaled = np.asarray(Image.fromarray(pixels).resize((w, h), _LANCZOS))
    return x + dx, y + dy, scaled


def region_fill(plan: Plan, pixels: np.ndarray, coverage: np.ndarray | None
                ) -> np.ndarray | None:
    """What is to be filled over ``plan.region`` (uint8 0..255); None in whole-layer mode."""
    if plan.mode == "layer":
        return None
    fill = crop_fill(plan, pixels, coverage)
    if plan.mode == "selection":
        return fill
    inner = plan.known.relative_to(plan.region)
    full = np.full((plan.region.height, plan.region.width), 255, np.uint8)
    full[inner.slices] = fill
    return full


def composite_mask(plan: Plan, fill: np.ndarray, options: RegionOptions) -> np.ndarray:
    """The soft mask over ``plan.region`` for its ``region_fill``."""
    if plan.mode == "selection":
        return comp.feather_mask(fill, options.grow, options.feather)
    return comp.feather_mask(fill, 0, options.feather // 2)


def _filled_beyond(plan: Plan, width: int) -> np.ndarray:
    """The rim of ``plan.region`` next to canvas that sticks out of it (filled when expanding)."""
    r, c = plan.region, plan.canvas
    rim = np.zeros((r.height, r.width), bool)
    rim[:width if c.y < r.y else 0] = True
    rim[r.height - width if c.bottom > r.bottom else r.height:] = True
    rim[:, :width if c.x < r.x else 0] = True
    rim[:, r.width - width if c.right > r.right else r.width:] = True
    return rim


def _distorted(size: tuple[int, int], plan: Plan) -> bool:
    """Whether an answer of another ``size`` than asked for comes out stretched (the shape of
    neither the canvas nor the size asked for) or soft (fewer pixels than both). Some relays
    answer at the size of the image sent: that is neither."""
    width, height = size
    canvas, api = plan.canvas, plan.api_size
    stretched = all(abs(math.log(width / height / aspect)) > _SAME_ASPECT
                    for aspect in (canvas.width / canvas.height, api.aspect))
    return stretched or width < min(api.width, canvas.width)


def _answered(plan: Plan, image: Image.Image, matrix: np.ndarray | None, shape) -> np.ndarray:
    """Where over ``plan.region`` (after ``matrix``) a cropped ("cover") answer has pixels,
    with 2 px to spare for the resampling filter."""
    s = max(image.width / plan.canvas.width, image.height / plan.canvas.height)
    r = plan.region.relative_to(plan.canvas)
    x0 = -(image.width - plan.canvas.width * s) / 2 / s - r.x + 2
    y0 = -(image.height - plan.canvas.height * s) / 2 / s - r.y + 2
    x1, y1 = x0 + image.width / s - 4, y0 + image.height / s - 4
    m = np.eye(3) if matrix is None else matrix
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32) + 0.5
    px = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    py = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    return (px >= x0) & (px <= x1) & (py >= y0) & (py <= y1)


def map_back(plan: Plan, image: Image.Image, framing: str = "stretch", resample=_LANCZOS,
             part: Bounds | None = None) -> np.ndarray:
    """``plan.region`` of the answer (of any size; normally ``plan.api_size``), through the
    exact inverse of canvas → answer; an answer of another shape taken as ``framing`` (one of
    _FRAMINGS; what lies beyond a cropped answer takes its edge). ``part``: only this
    rectangle of the region (in its coordinates)."""
    return np.asarray(_scaled_back(plan, image, framing, resample, part))


def _scaled_back(plan: Plan, image: Image.Image, framing: str, resample,
                 part: Bounds | None) -> Image.Image:
    """map_back as a Pillow image."""
    r = plan.region
    x0, y0, x1, y1 = answer_box(plan, image.size, framing)
    if part is not None:
        sx, sy = (x1 - x0) / r.width, (y1 - y0) / r.height
        x0, y0, x1, y1 = (x0 + part.x * sx, y0 + part.y * sy, x0 + part.right * sx,
                          y0 + part.bottom * sy)
        r = part
    image, box = _padded(image, (x0, y0, x1, y1))
    return image.resize((r.width, r.height), resample, box=box)


def answer_box(plan: Plan, size: tuple[int, int], framing: str = "stretch") -> tuple:
    """Where ``plan.region`` lies in an answer of ``size`` taken as ``framing``: (x0, y0, x1,
    y1) in its pixels, beyond its edges when it cropped the canvas."""
    sx, sy = size[0] / plan.canvas.width, size[1] / plan.canvas.height
    ox = oy = 0.0
    if framing != "stretch":
        sx = sy = min(sx, sy) if framing == "fit" else max(sx, sy)
        ox = (size[0] - plan.canvas.width * sx) / 2
        oy = (size[1] - plan.canvas.height * sy) / 2
    r = plan.region.relative_to(plan.canvas)
    return ox + r.x * sx, oy + r.y * sy, ox + r.right * sx, oy + r.bottom * sy


def _padded(image: Image.Image, box: tuple) -> tuple[Image.Image, tuple]:
    """``image`` with its edge repeated far enough to hold ``box``, and the box on it."""
    if box[0] >= 0 and box[1] >= 0 and box[2] <= image.width and box[3] <= image.height:
        return image, box
    px = math.ceil(max(-box[0], box[2] - image.width, 0)) + 3
    py = math.ceil(max(-box[1], box[3] - image.height, 0)) + 3
    pixels = np.asarray(image)
    pad = ((py, py), (px, px)) + ((0, 0),) * (pixels.ndim - 2)
    return (Image.fromarray(np.pad(pixels, pad, "edge")),
            (box[0] + px, box[1] + py, box[2] + px, box[3] + py))


class IgnoredMaskCheck:
    """Whether most pixels far from the mask changed beyond a tone shift, judged on small
    copies; the original's side is prepared before the answer comes."""

    def __init__(self, original: np.ndarray, far: np.ndarray):
        h, w = far.shape
        factor = max(1, math.ceil(max(h, w) / _CHECK_SIDE))
        self.size = (max(1, w // factor), max(1, h // factor))
        self.far = self._small(far.astype(np.uint8) * 255) == 255
        self.enough = np.count_nonzero(self.far) >= comp.MIN_RING_PIXELS
        self.original = self._small(original) if self.enough else None

    def _small(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(a).resize(self.size, _BOX))

    def ignored(self, generated: np.ndarray, matrix: np.ndarray | None = None) -> bool:
        """Whether the answer changed much far from the mask; ``matrix``: the drift to take
        out of ``generated`` first (as resampling.warp takes it)."""
        if not self.enough:
            return False
        a, b = self.original, self._small(generated)
        if matrix is not None:
            h, w = generated.shape[:2]
            scale = np.diag([self.size[0] / w, self.size[1] / h, 1.0])
            b = resampling.warp(b, scale @ matrix @ np.linalg.inv(scale))
        fit = comp.fit_gain_offset(a, b, self.far, (0.67, 1.5), (-64.0, 64.0))
        diff = np.abs(fit.apply(a).astype(np.int16) - b.astype(np.int16)).max(axis=2)
        return float(np.mean(diff[self.far] > _CHANGED)) > _CHANGED_SHARE


def apply_placement(image: np.ndarray, placement: Placement) -> np.ndarray:
    """``image`` (RGB or RGBA uint8, the whole layer) with the placement composited; a new
    array (expand: the new canvas, the old layer at ``placement.origin``)."""
    image = np.asarray(image)
    if placement.canvas is not None:
        ox, oy = placement.origin
        out = np.zeros((placement.canvas.height, placement.canvas.width, image.shape[2]),
                       np.uint8)
        out[oy:oy + image.shape[0], ox:ox + image.shape[1]] = image
    else:
        out = image.copy()
    b = placement.bounds.clamp(Extent(out.shape[1], out.shape[0]))
    inner = b.relative_to(placement.bounds)
    mask = None if placement.mask is None else placement.mask[inner.slices]
    out[b.slices] = comp.composite(out[b.slices], placement.patch[inner.slices], mask)
    return out
