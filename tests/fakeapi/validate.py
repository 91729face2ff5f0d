"""The upstream's request checks, as strict as OpenAI's Images API (reference §1, §4)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

from PIL import Image

from tests.fakeapi import images
from tests.fakeapi.envelope import ApiError
from tests.fakeapi.records import FilePart

IMAGE_MODELS = (
    "gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2", "gpt-image-2-2026-04-21",
    "chatgpt-image-latest", "gpt-image-2.5",
)
OTHER_MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "whisper-1")
STANDARD_SIZES = ("1024x1024", "1024x1536", "1536x1024")
QUALITIES = ("low", "medium", "high", "auto")
BACKGROUNDS = ("transparent", "opaque", "auto")
FORMATS = ("png", "jpeg", "webp")
MAX_PROMPT = 32000
MAX_IMAGES = 16
MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_MASK_BYTES = 4 * 1024 * 1024
IMAGE_MIME = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
EXTENSION_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                  ".webp": "image/webp"}

COMMON = ("model", "prompt", "n", "size", "quality", "background", "output_format",
          "output_compression", "stream", "partial_images", "user")
ALLOWED = {"generations": COMMON + ("moderation",), "edits": COMMON + ("input_fidelity",)}
_IMAGE_FIELD = re.compile(r"^image(\[\d*\])?$")
_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")


@dataclass
class Job:
    kind: str  # "generations" | "edits"
    model: str
    prompt: str
    n: int = 1
    size: Tuple[int, int] = (1024, 1024)
    quality: str = "medium"  # resolved
    background: str = "opaque"  # resolved
    output_format: str = "png"
    compression: int = 100
    stream: bool = False
    partial_images: int = 0
    images: List[Image.Image] = field(default_factory=list)
    mask: Optional[Image.Image] = None
    auto: Tuple[str, ...] = ()  # the fields asked for as "auto" (stream events echo "auto")

    @property
    def size_text(self) -> str:
        return "%dx%d" % self.size


def _bad(message: str, param: Optional[str], code: Optional[str] = "invalid_value") -> ApiError:
    return ApiError(400, message, "invalid_request_error", param, code)


def _enum_text(values) -> str:
    quoted = ["'%s'" % v for v in values]
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def _invalid_value(name: str, value: Any, allowed) -> ApiError:
    return _bad("Invalid value: '%s'. Supported values are: %s." % (value, _enum_text(allowed)),
                name)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a decimal", str: "a string",
            list: "an array", dict: "an object"}.get(type(value), "a value")


def _invalid_type(name: str, expected: str, value: Any) -> ApiError:
    return _bad("Invalid type for '%s': expected %s, but got %s instead."
                % (name, expected, _type_name(value)), name, "invalid_type")


def _as_int(name: str, value: Any, lo: int, hi: int, form: bool) -> int:
    if form and isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid_type(name, "an integer", value)
    if value < lo:
        raise _bad("Invalid '%s': integer below minimum value. Expected a value >= %d, but got "
                   "%d instead." % (name, lo, value), name, "integer_below_min_value")
    if value > hi:
        raise _bad("Invalid '%s': integer above maximum value. Expected a value <= %d, but got "
                   "%d instead." % (name, hi, value), name, "integer_above_max_value")
    return value


def _as_bool(name: str, value: Any, form: bool) -> bool:
    if form and value in ("true", "false"):
        return value == "true"
    if not isinstance(value, bool):
        raise _invalid_type(name, "a boolean", value)
    return value


def _as_str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid_type(name, "a string", value)
    return value


def _free_size_problem(w: int, h: int) -> Optional[str]:
    if w <= 0 or h <= 0 or w % 16 or h % 16:
        return "width and height must both be positive multiples of 16"
    if max(w, h) > 3840:
        return "each side must be at most 3840 pixels"
    if w * h < 655_360:
        return "the image must have at least 655360 pixels"
    if w * h > 3840 * 2160:
        return "the image must have at most 3840x2160 (8294400) pixels"
    if max(w, h) > 3 * min(w, h):
        return "the aspect ratio must be between 1:3 and 3:1"
    return None


def _size(model: str, value: str, first: Optional[Image.Image]) -> Tuple[int, int]:
    if value == "auto":
        if first is None:
            return 1024, 1024
        aspect = first.width / first.height
        return min(((1024, 1024), (1536, 1024), (1024, 1536)),
                   key=lambda s: abs((s[0] / s[1]) / aspect - 1) + abs(aspect / (s[0] / s[1]) - 1))
    if value in STANDARD_SIZES:
        w, h = value.split("x")
        return int(w), int(h)
    free = model.startswith("gpt-image-2")
    match = _SIZE.match(value)
    if not free or not match:
        allowed = STANDARD_SIZES + ("auto",)
        if free:
            raise _bad("Invalid size '%s'. Use WIDTHxHEIGHT (for example 1024x1024) or 'auto'."
                       % value, "size")
        raise _invalid_value("size", value, allowed)
    w, h = int(match.group(1)), int(match.group(2))
    problem = _free_size_problem(w, h)
    if problem:
        raise _bad("Invalid size '%s': %s." % (value, problem), "size")
    return w, h


def _image_params(files: List[FilePart]) -> List[Tuple[FilePart, str]]:
    """The image parts in order, each with the ``param`` name errors quote."""
    parts = [f for f in files if _IMAGE_FIELD.match(f.field)]
    if len(parts) == 1 and parts[0].field == "image":
        return [(parts[0], "image")]
    return [(p, "image[%d]" % i) for i, p in enumerate(parts)]


def part_type(part: FilePart, dialect: str) -> str:
    """The Content-Type the upstream sees: new-api re-derives it from the file extension."""
    if dialect == "new-api":
        name = (part.filename or "").lower()
        for ext, mime in EXTENSION_MIME.items():
            if name.endswith(ext):
                return mime
        return "image/png"
    return (part.content_type or "application/octet-stream").split(";")[0].strip().lower()


def _load_image(part: FilePart, param: str, dialect: str, limit: int) -> Image.Image:
    mime = part_type(part, dialect)
    if mime not in IMAGE_MIME:
        raise _bad("Invalid file '%s': unsupported mimetype ('%s'). Supported file formats are "
                   "'image/jpeg', 'image/png', and 'image/webp'." % (param, mime), param,
                   "unsupported_file_mimetype")
    if len(part.data) >= limit:
        raise _bad("Invalid file '%s': the file is %d bytes, the limit is %d MB."
                   % (param, len(part.data), limit // (1024 * 1024)), param, "file_too_large")
    try:
        img = images.decode(part.data)
    except Exception:
        img = None
    if img is None or img.format != IMAGE_MIME[mime]:
        raise _bad("Invalid image file or mode for %s, please check your image file." % param,
                   param, "invalid_image_file")
    return img


def check_unknown(names, kind: str) -> None:
    for name in names:
        if name not in ALLOWED[kind]:
            raise _bad("Unknown parameter: '%s'." % name, name, "unknown_parameter")


def build_job(kind: str, params: dict, files: List[FilePart], form: bool, dialect: str) -> Job:
    """Check a request like the upstream does; ``params`` are JSON values or form strings."""
    check_unknown(params, kind)
    for part in files:
        if part.field != "mask" and not _IMAGE_FIELD.match(part.field):
            raise _bad("Unknown parameter: '%s'." % part.field, part.field, "unknown_parameter")
    params = {k: v for k, v in params.items() if v is not None}
    model = params.get("model")
    if model is None:
        raise _bad("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    model = _as_str("model", model)
    if model not in IMAGE_MODELS:
        raise _invalid_value("model", model, IMAGE_MODELS)
    if "prompt" not in params:
        raise _bad("Missing required parameter: 'prompt'.", "prompt",
                   "missing_required_parameter")
    prompt = _as_str("prompt", params["prompt"])
    if len(prompt) > MAX_PROMPT:
        raise _bad("Invalid 'prompt': string too long. Expected a string with maximum length %d, "
                   "but got a string with length %d instead." % (MAX_PROMPT, len(prompt)),
                   "prompt", "string_above_max_length")
    job = Job(kind, model, prompt)
    job.n = _as_int("n", params.get("n", 1), 1, 10, form)
    qualities = QUALITIES + (("xhigh", "max") if model == "gpt-image-2.5" else ())
    for name, allowed in (("quality", qualities), ("background", BACKGROUNDS),
                          ("output_format", FORMATS), ("moderation", ("low", "auto")),
                          ("input_fidelity", ("high", "low"))):
        if name in params and _as_str(name, params[name]) not in allowed:
            raise _invalid_value(name, params[name], allowed)
    if "input_fidelity" in params and model in ("gpt-image-1-mini", "gpt-image-2.5"):
        raise _bad("Unsupported parameter: 'input_fidelity' is not supported with this model.",
                   "input_fidelity", "unsupported_parameter")
    if "user" in params:
        _as_str("user", params["user"])
    job.output_format = params.get("output_format", "png")
    job.compression = _as_int("output_compression", params.get("output_compression", 100),
                              0, 100, form)
    if job.output_format == "png" and job.compression < 100:
        raise _bad("Compression less than 100 is not supported for PNG output format.",
                   "output_compression", "unsupported_value")
    background = params.get("background", "auto")
    if background == "transparent" and job.output_format == "jpeg":
        raise _bad("Transparent background is not supported for output format 'jpeg'. "
                   "Use 'png' or 'webp'.", "background", "unsupported_value")
    job.background = "transparent" if background == "transparent" else "opaque"
    quality = params.get("quality", "auto")
    job.quality = "medium" if quality == "auto" else quality
    job.stream = _as_bool("stream", params.get("stream", False), form)
    job.partial_images = _as_int("partial_images", params.get("partial_images", 0), 0, 3, form)
    if kind == "edits":
        _load_edit_images(job, files, dialect)
    size = _as_str("size", params.get("size", "auto"))
    job.size = _size(model, size, job.images[0] if job.images else None)
    job.auto = tuple(k for k, v in (("size", size), ("quality", quality),
                                    ("background", background)) if v == "auto")
    return job


def _load_edit_images(job: Job, files: List[FilePart], dialect: str) -> None:
    named = _image_params(files)
    if not named:
        raise _bad("Missing required parameter: 'image'.", "image", "missing_required_parameter")
    if len(named) > MAX_IMAGES:
        raise _bad("Invalid 'image': array too long. Expected an array with maximum length %d, "
                   "but got an array with length %d instead." % (MAX_IMAGES, len(named)),
                   "image", "array_above_max_length")
    job.images = [_load_image(part, param, dialect, MAX_IMAGE_BYTES) for part, param in named]
    masks = [f for f in files if f.field == "mask"]
    if len(masks) > 1:
        raise _bad("Invalid 'mask': expected one file, got %d." % len(masks), "mask",
                   "invalid_type")
    if not masks:
        return
    mask = _load_image(masks[0], "mask", dialect, MAX_MASK_BYTES)
    if mask.format != "PNG":
        raise ApiError(400, "Invalid mask image format - mask must be a PNG image",
                       "image_generation_user_error", "mask", "invalid_mask_image_format")
    if mask.mode not in ("RGBA", "LA"):
        raise ApiError(400, "Invalid mask image format - mask image missing alpha channel",
                       "image_generation_user_error", "mask", "invalid_mask_image_format")
    first = job.images[0]
    if mask.size != first.size:
        raise _bad("Invalid mask image: the mask is %dx%d but the image is %dx%d; they must have "
                   "the same dimensions." % (mask.width, mask.height, first.width, first.height),
                   "mask", "invalid_mask_image_size")
    job.mask = mask
