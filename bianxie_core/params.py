"""Request parameters for generations and edits, validated before any byte leaves the machine.

``None`` means "not set": only the fields the caller set are sent, as the official SDK does.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import List, Optional

from bianxie_core import models
from bianxie_core.errors import UsageError, file_problem
from bianxie_core.files import read_at_most
from bianxie_core.i18n import _, ngettext

QUALITIES = ("auto", "low", "medium", "high")
ABOVE_HIGH = ("xhigh", "max")  # gpt-image-2.5's; its family's list says who takes them
ALL_QUALITIES = QUALITIES + ABOVE_HIGH  # what a dialog offers; checked per model
BACKGROUNDS = ("auto", "transparent", "opaque")
OUTPUT_FORMATS = ("png", "jpeg", "webp")
MODERATIONS = ("auto", "low")
INPUT_FIDELITIES = ("low", "high")
MAX_PROMPT_CHARS = 32000
MAX_N = 10
MAX_IMAGES = 16
MAX_PARTIAL_IMAGES = 3
MAX_IMAGE_BYTES = 50 * 2**20  # "less than 50 MB"
MAX_MASK_BYTES = 4 * 2**20  # "less than 4 MB"

_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_EXT = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
# what a region edit's canvas can be sent as: file name, Content-Type, Pillow's format name
UPLOAD_FORMATS = {fmt: ("image" + _EXT[fmt], _MIME[fmt], fmt.upper())
                  for fmt in ("png", "webp", "jpeg")}


def sniff_format(data: bytes) -> Optional[str]:
    """``png``, ``jpeg`` or ``webp`` from the file's magic bytes; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


@dataclass(frozen=True)
class ImageFile:
    """One file part: bytes plus the filename and Content-Type the server checks."""

    data: bytes = field(repr=False)
    name: str
    content_type: str

    @classmethod
    def from_bytes(cls, data: bytes, stem: str = "image") -> "ImageFile":
        fmt = sniff_format(data)
        if fmt is None:
            raise UsageError(
                _("{name} is not a PNG, JPEG or WebP image: convert it to PNG first.").format(
                    name=stem
                )
            )
        return cls(data=data, name=stem + _EXT[fmt], content_type=_MIME[fmt])

    @classmethod
    def from_path(cls, path) -> "ImageFile":
        path = Path(path)
        try:
            data = read_at_most(path, MAX_IMAGE_BYTES)
        except OSError as exc:
            raise UsageError(file_problem(exc, path)) from None
        if data is None:
            raise UsageError(_("{path} is larger than 50 MB; images must be under 50 MB: scale "
                               "it down.").format(path=path))
        fmt = sniff_format(data)
        if fmt is None:
            raise UsageError(
                _("{path} is not a PNG, JPEG or WebP image: convert it to PNG first.").format(
                    path=path
                )
            )
        stem = path.stem or "image"
        if not _is_text(stem):
            raise UsageError(_("The name of {path} is not UTF-8 text, so it cannot be sent: "
                               "rename the file or copy it to a plain name.").format(path=path))
        return cls(data=data, name=stem + _EXT[fmt], content_type=_MIME[fmt])

    @property
    def format(self) -> Optional[str]:
        return sniff_format(self.data)

    def dimensions(self) -> tuple:
        return self._header()[:2]

    def has_alpha(self) -> bool:
        """Whether the image has an alpha channel (a palette or colour key does not count)."""
        return self._header()[2]

    def has_colour_key(self) -> bool:
        """Whether transparency comes from a palette or colour key (PNG tRNS) instead."""
        return self._header()[3]

    def _header(self) -> tuple:
        header = png_header(self.data)
        if header is not None:
            return header
        from PIL import Image

        try:
            with Image.open(io.BytesIO(self.data)) as im:
                keyed = "transparency" in im.info and im.mode not in ("RGBA", "LA")
                return im.size + (im.mode in ("RGBA", "LA"), keyed)
        except Exception:  # noqa: BLE001 - Pillow raises many types for damaged files
            raise UsageError(
                _("{name} cannot be read as an image: it is damaged or not really a "
                  "{format}; save it again as PNG.").format(
                    name=self.name, format=(self.format or "PNG").upper())
            ) from None


def png_header(data: bytes) -> Optional[tuple]:
    """``(width, height, has_alpha_channel, has_colour_key)`` from a PNG's chunks before its
    pixels, without decoding it (the request worker checks uploads without loading Pillow);
    None when ``data`` is not a well-formed PNG up to its first IDAT."""
    if sniff_format(data) != "png" or data[12:16] != b"IHDR" or len(data) < 33:
        return None
    width, height = struct.unpack(">II", data[16:24])
    alpha, keyed = data[25] in (4, 6), False  # grey + alpha, RGBA
    at = 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        if kind == b"IDAT":
            return width, height, alpha, keyed
        keyed = keyed or kind == b"tRNS"
        at += 12 + length
    return None


def _family_option(spec: models.ModelSpec, name: str, value) -> None:
    """An OpenAI-only setting (families.OPTIONS) for a family that does not take it: refused,
    since the relay would drop it on the way without a word."""
    family = spec.family
    if family is None or value in (None, "auto") or name in family.options:
        return
    raise UsageError(_("{model} takes no {name} setting: leave it out (or at auto).").format(
        model=spec.name, name=name))


def _choice(name: str, value, allowed) -> None:
    if value is not None and value not in allowed:
        raise UsageError(
            _("{field} must be one of {allowed}, not {value!r}.").format(
                field=name, allowed=", ".join(allowed), value=value
            )
        )


def _int_range(name: str, value, low: int, high: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(
            _("{field} must be a whole number from {low} to {high}, not {value!r}.").format(
                field=name, low=low, high=high, value=value
            )
        )


def _is_text(value) -> bool:
    """Whether ``value`` can be sent as UTF-8 (a command line's undecodable bytes arrive as
    lone surrogates)."""
    if not isinstance(value, str):
        return value is None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_quality(spec: models.ModelSpec, quality: Optional[str]) -> None:
    """UsageError unless ``spec``'s family takes ``quality`` (None: not sent; auto for a
    family that takes none: not sent either)."""
    family = spec.family
    if family is not None and not family.qualities:
        if quality not in (None, "auto"):
            raise UsageError(_("{model} takes no quality setting: leave it at auto.").format(
                model=spec.name))
        return
    qualities = family.qualities if family else QUALITIES
    if quality in ALL_QUALITIES and quality not in qualities:  # xhigh, max
        raise UsageError(_("{model} does not take quality {value}: choose one of "
                           "{allowed}.").format(model=spec.name, value=quality,
                                                allowed=", ".join(qualities)))
    _choice("quality", quality, qualities)


def check_n(n) -> None:
    """UsageError unless ``n`` (None: one image) is a number of images the API takes."""
    _int_range("n", n, 1, MAX_N)


@dataclass
class _Common:
    prompt: str = ""
    model: str = models.DEFAULT_MODEL
    n: Optional[int] = None
    size: Optional[str] = None
    quality: Optional[str] = None
    background: Optional[str] = None
    output_format: Optional[str] = None
    output_compression: Optional[int] = None
    stream: Optional[bool] = None
    partial_images: Optional[int] = None
    user: Optional[str] = None

    def _validate_common(self, spec: models.ModelSpec) -> None:
        if not _is_text(self.prompt) or not _is_text(self.model):
            raise UsageError(_("The prompt or the model name holds bytes that are not UTF-8 "
                               "text (is the terminal set to UTF-8?): type it again."))
        if not self.prompt or not self.prompt.strip():
            raise UsageError(_("The prompt is empty: describe the image or the change you want."))
        if len(self.prompt) > MAX_PROMPT_CHARS:
            raise UsageError(
                _("The prompt has {count} characters; the limit is {limit}: shorten it.").format(
                    count=len(self.prompt), limit=MAX_PROMPT_CHARS
                )
            )
        if not self.model or not self.model.strip():
            raise UsageError(_("No model is set: choose one, for example {model}.").format(
                model=models.DEFAULT_MODEL))
        _int_range("n", self.n, 1, MAX_N)
        if self.size is not None:
            models.check_size(spec, self.size)
        check_quality(spec, self.quality)
        _family_option(spec, "background", self.background)
        _choice("background", self.background, BACKGROUNDS)
        _choice("output_format", self.output_format, OUTPUT_FORMATS)
        _int_range("output_compression", self.output_compression, 0, 100)
        if self.output_compression not in (None, 100) and self.output_format in (None, "png"):
            raise UsageError(
                _("output_compression works only with jpeg or webp output: set output_format "
                  "to jpeg or webp, or leave the compression out.")
            )
        _int_range("partial_images", self.partial_images, 0, MAX_PARTIAL_IMAGES)
        if self.background == "transparent" and self.output_format == "jpeg":
            raise UsageError(
                _("A transparent background needs png or webp output, not jpeg: "
                  "change output_format or background.")
            )
        if self.stream is not None and not isinstance(self.stream, bool):
            raise UsageError(_("stream must be true or false."))
        if self.partial_images and not self.stream:
            raise UsageError(_("partial_images needs stream to be on."))

    def fields(self) -> dict:
        """The wire fields the caller set, in declaration order (``model`` always)."""
        out = {}
        for f in fields(self):
            if f.name in ("images", "mask"):
                continue
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value
        out["model"] = self.model
        return out


@dataclass
class GenerateRequest(_Common):
    moderation: Optional[str] = None

    def validate(self, spec: models.ModelSpec) -> None:
        if spec.family is not None and not spec.family.generate:
            raise UsageError(_("{model} only edits images: give it an image, or choose another "
                               "model to generate.").format(model=spec.name))
        self._validate_common(spec)
        _choice("moderation", self.moderation, MODERATIONS)
        _family_option(spec, "moderation", self.moderation)


@dataclass
class EditRequest(_Common):
    images: List[ImageFile] = field(default_factory=list)
    mask: Optional[ImageFile] = None
    input_fidelity: Optional[str] = None

    def validate(self, spec: models.ModelSpec) -> None:
        self._validate_common(spec)
        check_input_fidelity(spec, self.input_fidelity)
        if not self.images:
            raise UsageError(_("An edit needs at least one image."))
        if len(self.images) > MAX_IMAGES:
            raise UsageError(
                _("An edit takes at most {limit} images, not {count}: remove some.").format(
                    limit=MAX_IMAGES, count=len(self.images)
                )
            )
        for image in self.images:
            if image.format is None:
                raise UsageError(
                    _("{name} is not a PNG, JPEG or WebP image: convert it to PNG first.").format(
                        name=image.name
                    )
                )
            if len(image.data) >= MAX_IMAGE_BYTES:
                raise UsageError(
                    _("{name} is {mb:.1f} MB; images must be under 50 MB: scale it down.").format(
                        name=image.name, mb=len(image.data) / 2**20
                    )
                )
        self._validate_family(spec)
        if self.mask is not None:
            self._validate_mask()

    def _validate_family(self, spec: models.ModelSpec) -> None:
        """What the model's family does not take: a mask, so many images, so large ones."""
        family = spec.family
        if family is None:
            return
        if self.mask is not None and not family.masks:
            raise UsageError(_(
                "{model} takes no mask: use inpaint (or Edit Selection), which keeps everything "
                "outside the selection itself, or choose a model with a mask.").format(
                model=spec.name))
        if len(self.images) > family.max_refs:
            raise UsageError(ngettext(
                "{model} takes at most {limit} image, not {count}: remove some.",
                "{model} takes at most {limit} images, not {count}: remove some.",
                family.max_refs).format(model=spec.name, limit=family.max_refs,
                                        count=len(self.images)))
        for image in self.images:
            if len(image.data) > family.max_input_mb * 2**20:
                raise UsageError(_("{name} is {mb:.1f} MB; {model} takes images up to {limit} "
                                   "MB: scale it down.").format(
                    name=image.name, mb=len(image.data) / 2**20, model=spec.name,
                    limit=family.max_input_mb))

    def _validate_mask(self) -> None:
        mask = self.mask
        if mask.format != "png":
            raise UsageError(_("The mask must be a PNG with an alpha channel."))
        if len(mask.data) >= MAX_MASK_BYTES:
            raise UsageError(
                _("The mask is {mb:.1f} MB; masks must be under 4 MB.").format(
                    mb=len(mask.data) / 2**20
                )
            )
        if not mask.has_alpha() and mask.has_colour_key():
            raise UsageError(
                _("The mask's transparency is a palette or colour key, which the API does not "
                  "take: save the mask as an RGBA PNG (with an alpha channel).")
            )
        if not mask.has_alpha():
            raise UsageError(
                _("The mask has no alpha channel: make the area to edit transparent "
                  "(alpha 0) in a PNG with alpha.")
            )
        if mask.dimensions() != self.images[0].dimensions():
            raise UsageError(
                _("The mask is {mw}x{mh} but the first image is {iw}x{ih}: they must be the "
                  "same size.").format(
                    mw=mask.dimensions()[0], mh=mask.dimensions()[1],
                    iw=self.images[0].dimensions()[0], ih=self.images[0].dimensions()[1],
                )
            )


def check_input_fidelity(spec: models.ModelSpec, value: Optional[str]) -> None:
    """Refuse an input_fidelity that is not a value, or that ``spec`` does not take."""
    _choice("input_fidelity", value, INPUT_FIDELITIES)
    if value is not None and not spec.input_fidelity:
        raise UsageError(
            _("{model} does not take input_fidelity: leave it unset or choose another model.")
            .format(model=spec.name)
        )

