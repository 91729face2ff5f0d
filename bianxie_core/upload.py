"""Preparing a region edit's upload: the canvas the plan names, and the mask, as files.

A host (the CLI, or the request worker for the GIMP plug-in) owns all pixel access; the plan
comes from ``planning``, which needs neither numpy nor Pillow::

    plan = planning.plan_edit(layer_size, selection_bounds, model, options)
    upload = prepare(plan, pixels_of(plan.crop), coverage_of(plan.crop), options)
    ... send upload.image / upload.mask with size=upload.size, receive the answer ...
    placed = placement.place(plan, same_pixels, same_coverage, answer, options)

Only ``plan.crop`` of the layer is ever read (``plan.pixels_to_read``), so an 8000×6000 layer
costs what its selection costs. Coordinates are the plan's (see planning.py).

The image sent is ``plan.canvas``: the crop plus edge-replicated padding where the layer is too
small for the API aspect, at ``plan.upload_size`` (its own size, or scaled down with Lanczos
when it is bigger than ``plan.api_size``: an upscaled copy shows the model no more detail, and
costs time and upload; tiny canvases of tiny layers go at the API size). The mask is the
selection grown by ``options.grow`` (its default: placement.py); fully transparent pixels
count as "to fill" only when expanding.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from bianxie_core import compositing as comp
from bianxie_core.errors import UsageError
from bianxie_core.geometry import Extent
from bianxie_core.i18n import _
from bianxie_core.image_codec import encode_image, flatten_rgb
from bianxie_core.params import UPLOAD_FORMATS
from bianxie_core.planning import Plan, RegionOptions

_LANCZOS = Image.Resampling.LANCZOS


@dataclass(frozen=True)
class Upload:
    image: bytes
    image_name: str  # e.g. "image.png"
    image_type: str  # MIME type
    mask: bytes | None  # PNG RGBA of the same size, alpha 0 = edit; None: no mask
    size: str  # e.g. "1536x1024"


def prepare(plan: Plan, crop_pixels: np.ndarray, coverage: np.ndarray | None,
            options: RegionOptions = RegionOptions()) -> Upload:
    """The image (and mask) to send for ``plan``; ``crop_pixels`` is ``plan.crop`` of the
    source layer, ``coverage`` the selection over the same rectangle (0..255; selection mode)."""
    pixels = check_pixels(plan, crop_pixels)
    rgb = flatten_rgb(pixels)
    inner = plan.known.relative_to(plan.canvas)
    pad = (
        (inner.y, plan.canvas.height - inner.bottom),
        (inner.x, plan.canvas.width - inner.right),
        (0, 0),
    )
    canvas = np.pad(rgb, pad, mode="edge") if any(v for side in pad for v in side) else rgb
    name, mime, _fmt = UPLOAD_FORMATS[options.upload_format]
    image = encode_image(_at_upload_size(plan, canvas, _LANCZOS), options.upload_format)
    mask = None
    if plan.has_mask:
        edit = api_mask(plan, pixels, coverage, options)
        rgba = np.zeros(edit.shape + (4,), np.uint8)
        rgba[..., 3] = np.where(edit, 0, 255)
        mask = encode_image(rgba, "png")
    return Upload(image, name, mime, mask, plan.size_param)


def api_mask(plan: Plan, pixels: np.ndarray, coverage: np.ndarray | None,
             options: RegionOptions) -> np.ndarray:
    """Binary (upload_size) array, True where the model may edit: the thresholded selection
    grown by ``options.grow`` (expand: everything outside the old layer, and its fully
    transparent pixels)."""
    fill = crop_fill(plan, pixels, coverage)
    inner = plan.known.relative_to(plan.canvas)
    full = np.full((plan.canvas.height, plan.canvas.width),
                   255 if plan.mode == "expand" else 0, np.uint8)
    full[inner.slices] = fill
    top = int(fill.max()) if plan.mode != "expand" else 255
    sent = _at_upload_size(plan, full, Image.Resampling.BILINEAR)
    edit = sent.astype(np.uint16) * 2 >= max(top, 1)
    if not edit.any() and top > 0:  # a selection smaller than one uploaded pixel
        edit = sent == sent.max()
    size = plan.upload_size
    scale = max(size.width / plan.canvas.width, size.height / plan.canvas.height)
    return comp.dilate(edit, math.ceil(options.grow * scale))


def _at_upload_size(plan: Plan, canvas: np.ndarray, resample) -> np.ndarray:
    """An array over ``plan.canvas`` at ``plan.upload_size`` (itself when that is its size)."""
    if plan.upload_size == plan.canvas.extent:
        return canvas
    return np.asarray(Image.fromarray(canvas).resize(plan.upload_size, resample))


def crop_fill(plan: Plan, pixels: np.ndarray, coverage: np.ndarray | None) -> np.ndarray:
    """What is to be filled over the crop (uint8 0..255)."""
    shape = (plan.crop.height, plan.crop.width)
    if plan.mode == "expand":
        if pixels.shape[2] in (2, 4):
            return np.where(pixels[..., -1] == 0, 255, 0).astype(np.uint8)
        return np.zeros(shape, np.uint8)
    if coverage is None:
        raise ValueError("selection mode needs the coverage of the crop")
    coverage = np.asarray(coverage)
    if coverage.shape != shape:
        raise ValueError(f"coverage is {coverage.shape}, the crop is {shape}")
    if not coverage.any():
        raise UsageError(
            _("The selection is empty on this layer: select something, or select nothing to "
              "edit the whole layer.")
        )
    return coverage.astype(np.uint8, copy=False)


def check_pixels(plan: Plan, crop_pixels) -> np.ndarray:
    pixels = np.asarray(crop_pixels)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    want = (plan.crop.height, plan.crop.width)
    if pixels.shape[:2] != want or pixels.shape[2] not in (1, 2, 3, 4) \
            or pixels.dtype != np.uint8:
        raise ValueError(
            f"crop pixels are {pixels.shape} {pixels.dtype}, expected {want} + channels, uint8"
        )
    return pixels


def fit_reference(pixels_or_image, api_size: Extent, upload_format: str = "png"
                  ) -> tuple[bytes, str, str]:
    """A reference image scaled down to fit inside ``api_size`` (never cropped, never
    upscaled), encoded: ``(bytes, file name, MIME type)``."""
    if isinstance(pixels_or_image, (bytes, bytearray)):
        image = Image.open(io.BytesIO(pixels_or_image))
    elif isinstance(pixels_or_image, Image.Image):
        image = pixels_or_image
    else:
        image = Image.fromarray(np.asarray(pixels_or_image))
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    size = Extent(*image.size)
    box = Extent(*api_size)
    if size.width > box.width or size.height > box.height:
        image = image.resize(size.scale_to_fit(box), _LANCZOS)
    if upload_format not in UPLOAD_FORMATS:
        raise UsageError(
            _("upload format must be one of {allowed}, not {value!r}.").format(
                allowed=", ".join(UPLOAD_FORMATS), value=upload_format
            )
        )
    name, mime, _fmt = UPLOAD_FORMATS[upload_format]
    return encode_image(image, upload_format), name, mime
