"""Selection edits on files: ``bianxie inpaint`` and ``bianxie expand`` run the very pipeline
the GIMP plug-in runs, checked and planned before anything is sent."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
from PIL import Image

from bianxie_core import planning
from bianxie_core.errors import ResponseError, UsageError, file_problem
from bianxie_core.files import read_at_most
from bianxie_core.geometry import Bounds, Extent
from bianxie_core.i18n import _, join_sentences
from bianxie_core.image_codec import eight_bit
from bianxie_core.placement import Placer, apply_placement
from bianxie_core.upload import prepare
from bianxie_core.edit_settings import EXPAND_PROMPT, EditSettings
from bianxie_core.params import EditRequest, check_input_fidelity

def coverage_bounds(coverage: np.ndarray) -> Optional[Bounds]:
    """The bounding box of the non-zero coverage, or None when nothing is selected."""
    rows = np.flatnonzero(coverage.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(coverage.any(axis=0))
    return Bounds.from_corners(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


MAX_FILE_BYTES = 512 * 2**20  # an image file to edit; its pixels are bounded by Pillow's own


def open_image(path) -> Image.Image:
    """The image file at ``path``, decoded; UsageError with one plain sentence otherwise."""
    try:
        data = read_at_most(Path(path), MAX_FILE_BYTES)
    except OSError as exc:
        raise UsageError(file_problem(exc, path)) from None
    if data is None:
        raise UsageError(_("The image {path} is larger than {mb} MB, too large to edit: scale "
                           "it down first.").format(path=path, mb=MAX_FILE_BYTES // 2**20))
    return decode_image(data, path)


def decode_image(data: bytes, path) -> Image.Image:
    """``data`` (read from ``path``) decoded; UsageError with one plain sentence otherwise."""
    try:
        with warnings.catch_warnings():  # the user's own big file: no raw Pillow warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
        return eight_bit(image)
    except Image.UnidentifiedImageError:
        raise UsageError(_("{path} is not an image file: give a PNG, JPEG or WebP "
                           "image.").format(path=path)) from None
    except Image.DecompressionBombError:
        raise UsageError(_("The image {path} has too many pixels to edit: scale it down "
                           "first.").format(path=path)) from None
    except Exception:  # noqa: BLE001 - Pillow raises many types for damaged files
        raise UsageError(_("The image {path} is damaged and cannot be read: open it in an "
                           "image editor and save it again.").format(path=path)) from None


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
    checked: object = None  # the service's Checked request: sent without checking again
    alignments: list = field(default_factory=list)  # per result: what registration found

    def send(self, on_partial=None, on_transfer=None):
        """Pay for the edit; returns (full composited images, outcome). ``alignments`` then
        holds each result's ``Placement.alignment`` (None: not aligned)."""
        outcome = self.service.edit(self.checked or self.request, on_partial=on_partial,
                                    meta=self.meta, on_transfer=on_transfer)
        return self.composite(outcome), outcome

    def composite(self, outcome) -> list:
        """The images placed into the whole picture. One that cannot be placed (not an image,
        a size no placement survives) is a failure of its own, kept in the history as
        received: the others, paid for too, are still delivered."""
        results, placed = [], []
        placer = Placer(self.plan, self.crop_pixels, self.coverage, self.options)
        total = len(outcome.images)
        for number, saved in enumerate(outcome.images, start=1):
            try:
                placement = placer.place(saved.data)
                results.append(Image.fromarray(apply_placement(self.pixels, placement)))
            except Exception:  # noqa: BLE001 - Pillow and numpy raise many types
                unplaced = _("Image {number} of {total} is not an image that can be read and "
                             "placed into the picture.").format(number=number, total=total)
                outcome.failures.append(join_sentences(unplaced, _(
                    "It is kept in the history as received.")
                    if saved.entry is not None and not saved.gone else ""))
                continue
            placed.append(saved)
            self.alignments.append(placement.alignment)
            outcome.warnings.extend(w for w in placement.warnings if w not in outcome.warnings)
        outcome.images[:] = placed
        if not placed:
            raise ResponseError(join_sentences(*outcome.failures))
        return results


def plan_inpaint_file(service, image_path, selection_path, fields: dict, *, context="auto",
                      grow=None, feather=None, color_match=True,
                      input_fidelity=None, align=True) -> FileEdit:
    """Check and plan an edit of the selected region of an image file (UsageError when the
    files, the selection or the settings are unusable). The answer is aligned when ``align``
    and the config's ``align`` both say so."""
    pixels = _load_rgba(image_path)
    layer = Extent(pixels.shape[1], pixels.shape[0])
    coverage = _load_selection(selection_path, (layer.width, layer.height))
    selection = coverage_bounds(coverage)
    if selection is None:
        raise UsageError(_("The selection {path} is empty: paint white where the image should "
                           "change (black is kept).").format(path=selection_path))
    settings = settings_for(service, fields, context=context, grow=grow, feather=feather,
                            color_match=color_match, input_fidelity=input_fidelity or "",
                            align=bool(align and service.config.align))
    spec = service.model(settings.model)
    check_input_fidelity(spec, settings.input_fidelity or None)  # .request would drop it
    options = settings.region_options(spec)
    plan = planning.plan_edit(layer, selection, spec, options)
    crop_pixels = pixels[plan.crop.slices]
    crop_cov = coverage[plan.crop.slices]
    upload = prepare(plan, crop_pixels, crop_cov, options)
    request = settings.request(upload, spec, plan=plan)
    checked = service.check(request)
    meta = {"tool": "inpaint", "crop": list(plan.crop), "canvas": list(plan.canvas)}
    return FileEdit(service, request, meta, plan, pixels, crop_pixels, crop_cov, options,
                    checked)


def plan_expand_file(service, image_path, fields: dict, *, margins=None, aspect=None,
                     input_fidelity=None, align=True) -> FileEdit:
    """Check and plan growing an image file's canvas by ``margins`` (left, top, right, bottom)
    or to ``aspect``, the model filling the new area (aligned as in plan_inpaint_file)."""
    if (fields.get("n") or 1) > 1:
        raise UsageError(_("expand makes one image per run: leave out -n, and run it again for "
                           "another version."))
    pixels = _load_rgba(image_path)
    settings = settings_for(service, dict(fields, n=1), input_fidelity=input_fidelity or "",
                            align=bool(align and service.config.align))
    settings.prompt = settings.prompt.strip() or EXPAND_PROMPT
    spec = service.model(settings.model)
    check_input_fidelity(spec, settings.input_fidelity or None)  # .request would drop it
    options = settings.region_options(spec)
    plan = planning.plan_expand(Extent(pixels.shape[1], pixels.shape[0]), spec, options,
                              margins=margins, aspect=aspect)
    crop_pixels = pixels[plan.crop.slices]
    upload = prepare(plan, crop_pixels, None, options)
    request = settings.request(upload, spec)
    checked = service.check(request)
    meta = {"tool": "expand", "origin": list(plan.origin)}
    return FileEdit(service, request, meta, plan, pixels, crop_pixels, None, options, checked)
