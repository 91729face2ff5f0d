"""Selection edits on files: ``bianxie inpaint`` and ``bianxie expand`` run the very pipeline
the GIMP plug-in runs, checked and planned before anything is sent."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
from PIL import Image

from bianxie_core import planning, region
from bianxie_core.errors import UsageError, file_problem
from bianxie_core.geometry import Bounds, Extent
from bianxie_core.i18n import _
from bianxie_core.edit_settings import EXPAND_PROMPT, EditSettings
from bianxie_core.params import EditRequest, check_input_fidelity

def coverage_bounds(coverage: np.ndarray) -> Optional[Bounds]:
    """The bounding box of the non-zero coverage, or None when nothing is selected."""
    rows = np.flatnonzero(coverage.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(coverage.any(axis=0))
    return Bounds.from_corners(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def open_image(path) -> Image.Image:
    """The image file at ``path``, decoded; UsageError with one plain sentence otherwise."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(file_problem(exc, path)) from None
    return decode_image(data, path)


def decode_image(data: bytes, path) -> Image.Image:
    """``data`` (read from ``path``) decoded; UsageError with one plain sentence otherwise."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        return _eight_bit(image)
    except Image.UnidentifiedImageError:
        raise UsageError(_("{path} is not an image file: give a PNG, JPEG or WebP "
                           "image.").format(path=path)) from None
    except Image.DecompressionBombError:
        raise UsageError(_("The image {path} has too many pixels to edit: scale it down "
                           "first.").format(path=path)) from None
    except Exception:  # noqa: BLE001 - Pillow raises many types for damaged files
        raise UsageError(_("The image {path} is damaged and cannot be read: open it in an "
                           "image editor and save it again.").format(path=path)) from None


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit grey (Pillow's I;16 and I modes) scaled to 8 bits: Pillow's own conversion clips,
    which turned a dark 16-bit selection white."""
    if not image.mode.startswith("I"):
        return image
    values = np.asarray(image, dtype=np.float64)
    sixteen = image.mode.startswith("I;16") or values.max(initial=0) > 255
    values = values / 257.0 if sixteen else values
    return Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8), "L")


def _load_rgba(path) -> np.ndarray:
    return np.asarray(open_image(path).convert("RGBA"))


def _load_selection(path, size: Tuple[int, int]) -> np.ndarray:
    """The selection's coverage (0..255); white, or opaque white on transparent, is selected."""
    image = open_image(path)
    if image.size != size:
        raise UsageError(_(
            "The selection {path} is {w}x{h} but the image is {iw}x{ih}: they must be "
            "the same size.").format(path=path, w=image.size[0], h=image.size[1],
                                     iw=size[0], ih=size[1]))
    if image.mode in ("RGBA", "LA"):
        gray = np.asarray(image.convert("L"), dtype=np.uint16)
        alpha = np.asarray(image.getchannel("A"), dtype=np.uint16)
        return (gray * alpha // 255).astype(np.uint8)
    return np.asarray(image.convert("L"))


def settings_for(service, fields: dict, **options) -> EditSettings:
    """EditSettings from CLI-style request fields plus region options."""
    settings = EditSettings(
        prompt=fields.get("prompt") or "", model=fields.get("model") or service.config.model,
        size=fields.get("size") or "auto", quality=fields.get("quality") or "auto",
        n=fields.get("n") or 1, output_format=fields.get("output_format") or "png",
        stream=bool(fields.get("stream")), partial_images=fields.get("partial_images") or 0,
    )
    for name, value in options.items():
        if value is not None:
            setattr(settings, name, value)
    return settings


@dataclass
class FileEdit:
    """An inpaint or expand of image files, checked and planned; nothing is sent before
    ``send()``."""

    service: object
    request: EditRequest
    meta: dict
    plan: planning.Plan
    pixels: np.ndarray  # the whole image, RGBA
    crop_pixels: np.ndarray
    coverage: Optional[np.ndarray]  # the selection over the crop; None when expanding
    options: planning.RegionOptions

    def send(self, on_partial=None):
        """Pay for the edit; returns (full composited images, outcome)."""
        outcome = self.service.edit(self.request, on_partial=on_partial, meta=self.meta)
        return _composite_all(self.plan, self.crop_pixels, self.coverage, self.pixels,
                              outcome, self.options), outcome


def plan_inpaint_file(service, image_path, selection_path, fields: dict, *, context="auto",
                      grow=None, feather=None, color_match=True,
                      input_fidelity=None) -> FileEdit:
    """Check and plan an edit of the selected region of an image file (UsageError when the
    files, the selection or the settings are unusable)."""
    pixels = _load_rgba(image_path)
    layer = Extent(pixels.shape[1], pixels.shape[0])
    coverage = _load_selection(selection_path, (layer.width, layer.height))
    selection = coverage_bounds(coverage)
    if selection is None:
        raise UsageError(_("The selection {path} is empty: paint white where the image should "
                           "change (black is kept).").format(path=selection_path))
    settings = settings_for(service, fields, context=context, grow=grow, feather=feather,
                            color_match=color_match, input_fidelity=input_fidelity or "")
    spec = service.model(settings.model)
    check_input_fidelity(spec, settings.input_fidelity or None)  # .request would drop it
    options = settings.region_options()
    plan = planning.plan_edit(layer, selection, spec, options)
    crop_pixels = pixels[plan.crop.slices]
    crop_cov = coverage[plan.crop.slices]
    upload = region.prepare(plan, crop_pixels, crop_cov, options)
    request = settings.request(upload, spec)
    service.check(request)
    meta = {"tool": "inpaint", "crop": list(plan.crop), "canvas": list(plan.canvas)}
    return FileEdit(service, request, meta, plan, pixels, crop_pixels, crop_cov, options)


def plan_expand_file(service, image_path, fields: dict, *, margins=None, aspect=None,
                     input_fidelity=None) -> FileEdit:
    """Check and plan growing an image file's canvas by ``margins`` (left, top, right, bottom)
    or to ``aspect``, the model filling the new area."""
    if (fields.get("n") or 1) > 1:
        raise UsageError(_("expand makes one image per run: leave out -n, and run it again for "
                           "another version."))
    pixels = _load_rgba(image_path)
    settings = settings_for(service, dict(fields, n=1), input_fidelity=input_fidelity or "")
    settings.prompt = settings.prompt.strip() or EXPAND_PROMPT
    spec = service.model(settings.model)
    check_input_fidelity(spec, settings.input_fidelity or None)  # .request would drop it
    options = settings.region_options()
    plan = planning.plan_expand(Extent(pixels.shape[1], pixels.shape[0]), spec, options,
                              margins=margins, aspect=aspect)
    crop_pixels = pixels[plan.crop.slices]
    upload = region.prepare(plan, crop_pixels, None, options)
    request = settings.request(upload, spec)
    service.check(request)
    meta = {"tool": "expand", "origin": list(plan.origin)}
    return FileEdit(service, request, meta, plan, pixels, crop_pixels, None, options)


def _composite_all(plan, crop_pixels, coverage, pixels, outcome, options) -> list:
    results = []
    placer = region.Placer(plan, crop_pixels, coverage, options)
    for saved in outcome.images:
        placement = placer.place(saved.data)
        outcome.warnings.extend(w for w in placement.warnings if w not in outcome.warnings)
        results.append(Image.fromarray(region.apply_placement(pixels, placement)))
    return results
