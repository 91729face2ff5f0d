"""Selection edits as a task: the settings a host collects, the request they make, and the
file-based ``bianxie inpaint`` that runs the very pipeline the GIMP plug-in runs."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
from PIL import Image

from bianxie_core import cost, models, region
from bianxie_core.errors import UsageError, file_problem
from bianxie_core.geometry import Bounds, Extent
from bianxie_core.i18n import _
from bianxie_core.params import EditRequest, GenerateRequest, ImageFile, check_input_fidelity

# "Remove" mode needs no prompt: the model is asked to continue the surroundings.
REMOVE_PROMPT = (
    "Remove the object or person in the masked area completely and fill the area with a "
    "seamless continuation of the surrounding background, matching its lighting, texture and "
    "perspective. Do not add anything new."
)

# Expand mode without a prompt: the new margins continue the picture.
EXPAND_PROMPT = (
    "Extend the picture into the empty margins: continue the scene, its lighting, texture and "
    "perspective seamlessly, without borders or frames. Do not change the existing part."
)


def parse_aspect(text: str) -> Optional[float]:
    """``"16:9"``, ``"16x9"`` or ``"1.78"`` → width / height; ``""`` → None."""
    text = (text or "").strip().lower().replace("x", ":").replace("/", ":")
    if not text:
        return None
    try:
        if ":" in text:
            w, h = (float(v) for v in text.split(":"))
            value = w / h
        else:
            value = float(text)
    except (ValueError, ZeroDivisionError):
        value = -1.0
    if not value > 0:
        raise UsageError(_("The aspect ratio {text!r} is not valid: write it like 16:9 or "
                           "1.5.").format(text=text))
    return value


@dataclass
class EditSettings:
    """What a user chooses for a selection edit (dialog, procedure arguments or CLI flags)."""

    prompt: str = ""
    model: str = models.DEFAULT_MODEL
    size: str = "auto"
    quality: str = "auto"
    n: int = 1
    input_fidelity: str = ""  # "", "low" or "high" ("" = the model's default; not sent)
    context: str = "auto"
    grow: int = region.DEFAULT_GROW
    feather: int = region.DEFAULT_FEATHER
    color_match: bool = True
    output_format: str = "png"
    stream: bool = True
    partial_images: int = 1
    remove: bool = False
    references: List[ImageFile] = field(default_factory=list)

    def stored(self) -> dict:
        """The settings as plain data, to keep with a result (references are not kept)."""
        fields = dict(self.__dict__)
        fields.pop("references", None)
        return fields

    @classmethod
    def from_stored(cls, data: dict) -> "EditSettings":
        """Settings back from ``stored()`` data; keys this version does not know are ignored."""
        known = set(cls.__dataclass_fields__) - {"references"}
        settings = cls(**{k: v for k, v in data.items() if k in known})
        if isinstance(settings.size, str):  # older versions kept "1536X1024" as typed
            settings.size = models.size_text(settings.size)
        return settings

    def region_options(self) -> region.RegionOptions:
        return region.RegionOptions(
            context=self.context or "auto", grow=self.grow, feather=self.feather,
            color_match=self.color_match, size=self.size or "auto")

    def effective_prompt(self) -> str:
        if self.remove:
            return REMOVE_PROMPT + (("\n" + self.prompt) if self.prompt.strip() else "")
        return self.prompt

    def estimate(self, spec: models.ModelSpec, *, edit: bool = True, prices=None,
                 currency: str = "USD") -> cost.Estimate:
        """What one run of these settings should cost; an edit sends one input image of the
        output size (the model's first standard size for "auto")."""
        size = (self.size or "auto").strip()
        if size != "auto":
            models.check_size(spec, size)
        inputs, fidelity = (), None
        if edit:
            inputs = [models.parse_size(size if size != "auto" else models.STANDARD_SIZES[0])]
            fidelity = self.input_fidelity or None
        return cost.estimate(spec, size, (self.quality or "auto").strip(), self.n or 1,
                             input_images=inputs, prompt=self.effective_prompt(),
                             input_fidelity=fidelity, prices=prices, currency=currency)

    def request(self, upload: region.Upload, spec: models.ModelSpec) -> EditRequest:
        image = ImageFile(data=upload.image, name=upload.image_name,
                          content_type=upload.image_type)
        mask = ImageFile(data=upload.mask, name="mask.png", content_type="image/png") \
            if upload.mask else None
        fidelity = self.input_fidelity or None
        if fidelity and not spec.input_fidelity:
            fidelity = None  # a remembered setting must not break a model without it
        return EditRequest(
            prompt=self.effective_prompt(), model=self.model, images=[image] + self.references,
            mask=mask, n=self.n if self.n != 1 else None, size=upload.size,
            quality=self.quality if self.quality != "auto" else None,
            output_format=self.output_format if self.output_format != "png" else None,
            input_fidelity=fidelity, stream=True if self.stream else None,
            partial_images=self.partial_images if self.stream else None,
        )


    def generate_request(self, background: str = "auto") -> GenerateRequest:
        """Text to image with these settings; defaults are left for the server."""
        return GenerateRequest(
            prompt=self.prompt, model=self.model, n=self.n if self.n != 1 else None,
            size=self.size if self.size != "auto" else None,
            quality=self.quality if self.quality != "auto" else None,
            background=background if background != "auto" else None,
            output_format=self.output_format if self.output_format != "png" else None,
            stream=True if self.stream else None,
            partial_images=self.partial_images if self.stream else None)


def layer_name(prompt: str, limit: int = 48) -> str:
    text = " ".join((prompt or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    plan: region.Plan
    pixels: np.ndarray  # the whole image, RGBA
    crop_pixels: np.ndarray
    coverage: Optional[np.ndarray]  # the selection over the crop; None when expanding
    options: region.RegionOptions

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
    plan = region.plan_edit(layer, selection, spec, options)
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
    plan = region.plan_expand(Extent(pixels.shape[1], pixels.shape[0]), spec, options,
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


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
