"""What a user chooses for an edit (dialog, procedure arguments or CLI flags) and the request
it makes. No numpy and no Pillow: a host reads these before loading them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

from bianxie_core import cost, models
from bianxie_core.errors import UsageError
from bianxie_core.i18n import _
from bianxie_core.params import EditRequest, GenerateRequest, ImageFile
from bianxie_core.planning import DEFAULT_FEATHER, DEFAULT_GROW, RegionOptions
from bianxie_core.serial import from_data, to_data

if TYPE_CHECKING:
    from bianxie_core.upload import Upload

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
    grow: int = DEFAULT_GROW
    feather: int = DEFAULT_FEATHER
    color_match: bool = True
    align: bool = True  # move an answer the model redrew shifted back into place
    output_format: str = "png"
    stream: bool = True
    partial_images: int = 1
    remove: bool = False

    def stored(self) -> dict:
        """The settings as plain data, to keep with a result."""
        return to_data(self)

    @classmethod
    def from_stored(cls, data: dict) -> "EditSettings":
        """Settings back from ``stored()`` data; keys this version does not know are ignored."""
        settings = from_data(cls, data)
        if isinstance(settings.size, str):  # older versions kept "1536X1024" as typed
            settings.size = models.size_text(settings.size)
        return settings

    def region_options(self, spec: models.ModelSpec) -> RegionOptions:
        """The placing options for sending to ``spec`` (with the config's models: a door set
        there decides whether the model gets a mask)."""
        family = spec.family
        return RegionOptions(
            context=self.context or "auto", grow=self.grow, feather=self.feather,
            color_match=self.color_match, align=self.align, size=self.size or "auto",
            model_masks=family is None or family.masks)

    def effective_prompt(self) -> str:
        if self.remove:
            return REMOVE_PROMPT + (("\n" + self.prompt) if self.prompt.strip() else "")
        return self.prompt

    def estimate(self, spec: models.ModelSpec, *, edit: bool = True, prices=None,
                 currency: str = "USD", requests: int = 1) -> cost.Estimate:
        """What one run of these settings should cost; an edit sends one input image of the
        output size (the model's first standard size for "auto"). ``requests``: how many HTTP
        requests the n images go out as (``service.requests_for``)."""
        size = (self.size or "auto").strip()
        if size != "auto":
            models.check_size(spec, size)
        inputs, fidelity = (), None
        if edit:
            inputs = [models.parse_size(size if size != "auto" else models.STANDARD_SIZES[0])]
            fidelity = self.input_fidelity or None
        return cost.estimate(spec, size, (self.quality or "auto").strip(), self.n or 1,
                             input_images=inputs, prompt=self.effective_prompt(),
                             input_fidelity=fidelity, prices=prices, currency=currency,
                             requests=requests)

    def request(self, upload: Upload, spec: models.ModelSpec,
                references: Sequence[ImageFile] = (), plan=None) -> EditRequest:
        """The edit of ``upload``; ``references`` are further images sent after it. A model
        without a mask is told in the prompt where the change goes (``plan``'s selection)."""
        image = ImageFile(data=upload.image, name=upload.image_name,
                          content_type=upload.image_type)
        family = spec.family
        masks = family is None or family.masks  # without: our compositing keeps the outside
        mask = ImageFile(data=upload.mask, name="mask.png", content_type="image/png") \
            if upload.mask and masks else None
        fidelity = self.input_fidelity or None
        if fidelity and not spec.input_fidelity:
            fidelity = None  # a remembered setting must not break a model without it
        stream = self.stream and (family is None or family.stream)
        prompt = self.effective_prompt()
        if not masks and plan is not None:
            prompt = join_prompt(prompt, where_hint(plan))
        return EditRequest(
            prompt=prompt, model=self.model, images=[image, *references],
            mask=mask, n=self.n if self.n != 1 else None,
            size=None if family is not None and family.sizes == "none" else upload.size,
            quality=_quality(self.quality, spec),
            output_format=self.output_format if self.output_format != "png" else None,
            input_fidelity=fidelity, stream=True if stream else None,
            partial_images=self.partial_images if stream else None,
        )


    def generate_request(self, background: str = "auto",
                         spec: Optional[models.ModelSpec] = None) -> GenerateRequest:
        """Text to image with these settings; defaults are left for the server. With ``spec``
        what its family does not take (a quality, streaming) is left out."""
        spec = spec or models.get_model(self.model)
        family = spec.family
        stream = self.stream and (family is None or family.stream)
        return GenerateRequest(
            prompt=self.prompt, model=self.model, n=self.n if self.n != 1 else None,
            size=self.size if self.size != "auto" else None,
            quality=_quality(self.quality, spec),
            background=background if background != "auto" else None,
            output_format=self.output_format if self.output_format != "png" else None,
            stream=True if stream else None,
            partial_images=self.partial_images if stream else None)


def where_hint(plan) -> str:
    """For a model without a mask: which part of the first image to change, in percent of its
    width and height (the selection's box on the canvas sent); "" without a selection."""
    if plan.selection is None or plan.canvas.width <= 0 or plan.canvas.height <= 0:
        return ""
    box = plan.selection.relative_to(plan.canvas)
    left, right = (round(100 * v / plan.canvas.width) for v in (box.x, box.right))
    top, bottom = (round(100 * v / plan.canvas.height) for v in (box.y, box.bottom))
    return (f"Change only the part of the first image from {left}% to {right}% of its width "
            f"and {top}% to {bottom}% of its height; keep everything else exactly as it is, "
            "at the same framing and size.")


def join_prompt(prompt: str, hint: str) -> str:
    return prompt + ("\n" + hint if hint else "")


def _quality(quality: str, spec: models.ModelSpec) -> Optional[str]:
    """The quality to send: none for auto, nor for a family without qualities (a remembered
    setting must not break a model that takes none)."""
    if not quality or quality == "auto":
        return None
    family = spec.family
    if family is not None and not family.qualities:
        return None
    return quality

