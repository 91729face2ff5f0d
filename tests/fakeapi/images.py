"""Pixels the fake server answers with: generation patterns, edit fills, encoding, usage."""

from __future__ import annotations

import functools
import hashlib
import io
import math
from typing import Optional, Sequence, Tuple

import numpy as np
from PIL import Image

Resampling = Image.Resampling

FILL_MODES = ("mask", "mask+shift", "ignore_mask", "echo", "solid")
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}

# Output image tokens per image (reference §5).
OUTPUT_TOKENS = {
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}
# Input images, as measured on edits: a 1024x1024 input bills 194 image tokens (one 512 px
# tile), a slightly larger one 323 (two): 65 + 129 per tile once the shorter side is scaled to
# 512 px; and about 32 text tokens per attached image.
INPUT_TILE, INPUT_BASE, INPUT_PER_TILE, TEXT_PER_IMAGE = 512, 65, 129, 32
MEGA = 1024 * 1024


@functools.lru_cache(maxsize=4)
def pattern(width: int, height: int, seed: str = "") -> np.ndarray:
    """A deterministic, non-flat RGB image (gradients plus waves) for generations; read-only."""
    phase = int(hashlib.sha256(seed.encode("utf-8")).hexdigest()[:4], 16) / 65535.0
    u = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    v = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    # separable waves: cheap outer products rather than per-pixel sin/cos
    a, b = 2 * math.pi * 3 * u, 2 * math.pi * (2 * v + phase)
    wave = (np.sin(a) * np.cos(b) + np.cos(a) * np.sin(b)) * np.cos(5 * math.pi * u)
    rgb = np.empty((height, width, 3), np.float32)
    rgb[..., 0] = 255 * u
    rgb[..., 1] = 255 * v
    rgb[..., 2] = 127.5 + 127.5 * wave * np.cos(3 * math.pi * v)
    out = rgb.round().astype(np.uint8)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=16)
def generated(width: int, height: int, seed: str, fmt: str, compression: int,
              transparent: bool) -> bytes:
    """The encoded generation answer (cached: tests ask for the same images again and again)."""
    alpha = ellipse_alpha(width, height) if transparent else None
    return encode(pattern(width, height, seed), fmt, compression, alpha)


def ellipse_alpha(width: int, height: int) -> np.ndarray:
    """Opaque inside the centred ellipse, fully transparent outside it."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    d = ((x + 0.5) / width - 0.5) ** 2 + ((y + 0.5) / height - 0.5) ** 2
    return np.where(d <= 0.16, 255, 0).astype(np.uint8)


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def edit_pixels(
    first: Image.Image,
    mask: Optional[Image.Image],
    size: Tuple[int, int],
    fill: str,
    color: Sequence[int],
    shift: Tuple[Sequence[float], Sequence[float]],
) -> np.ndarray:
    """What an edit "paints" for ``fill`` (see FakeServer), from the first image, as RGB."""
    color_arr = np.array(color[:3], dtype=np.float32)
    if fill == "solid":
        return np.broadcast_to(color_arr, (size[1], size[0], 3)).astype(np.uint8)
    base = np.asarray(first.convert("RGB").resize(size, Resampling.LANCZOS), dtype=np.float32)
    if fill == "echo":
        return base.astype(np.uint8)
    if fill == "ignore_mask":
        return (255 - base).astype(np.uint8)
    if mask is None:
        editable = np.ones(base.shape[:2], dtype=bool)
    else:
        alpha = np.asarray(mask.convert("RGBA").getchannel("A").resize(size, Resampling.NEAREST))
        editable = alpha == 0
    out = base.copy()
    out[editable] = color_arr
    if fill == "mask+shift":
        gain, offset = (np.array(v[:3], dtype=np.float32) for v in shift)
        out = out * gain + offset
    return np.clip(out, 0, 255).round().astype(np.uint8)


def encode(rgb: np.ndarray, fmt: str, compression: int, alpha: Optional[np.ndarray]) -> bytes:
    """Encode as png/jpeg/webp; ``alpha`` (png/webp only) makes it RGBA."""
    img = Image.fromarray(rgb)
    if alpha is not None:
        img.putalpha(Image.fromarray(alpha))
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, "PNG", compress_level=1)
    elif fmt == "jpeg":
        img.save(buf, "JPEG", quality=max(compression, 1))
    else:
        img.save(buf, "WEBP", quality=compression, method=0)
    return buf.getvalue()


def preview(rgb: np.ndarray, step: int, steps: int) -> np.ndarray:
    """A coarse version of ``rgb`` for partial image ``step`` of ``steps`` (sharper later)."""
    h, w = rgb.shape[:2]
    factor = 2 ** (steps - step + 2)
    small = Image.fromarray(rgb).resize((max(w // factor, 1), max(h // factor, 1)), Resampling.BOX)
    return np.asarray(small.resize((w, h), Resampling.NEAREST))


def _round(value: float) -> int:
    return int(math.floor(value + 0.5))


def output_tokens(quality: str, width: int, height: int) -> int:
    table = OUTPUT_TOKENS.get(quality, OUTPUT_TOKENS["high"])  # gpt-image-2.5's xhigh, max
    key = "%dx%d" % (width, height)
    if key in table:
        return table[key]
    return _round(table["1024x1024"] * width * height / MEGA)


def image_input_tokens(width: int, height: int) -> int:
    scale = min(1.0, INPUT_TILE / min(width, height))
    w, h = max(1, _round(width * scale)), max(1, _round(height * scale))
    return INPUT_BASE + INPUT_PER_TILE * math.ceil(w / INPUT_TILE) * math.ceil(h / INPUT_TILE)


def text_tokens(prompt: str) -> int:
    return math.ceil(len(prompt) / 4)


def usage(
    prompt: str, input_sizes: Sequence[Tuple[int, int]], quality: str, size: Tuple[int, int],
    n: int, detailed_output: bool,
) -> dict:
    text = text_tokens(prompt) + TEXT_PER_IMAGE * len(input_sizes)
    image = sum(image_input_tokens(w, h) for w, h in input_sizes)
    out = output_tokens(quality, *size) * n
    result = {
        "input_tokens": text + image,
        "input_tokens_details": {"text_tokens": text, "image_tokens": image},
        "output_tokens": out,
        "total_tokens": text + image + out,
    }
    if detailed_output:
        result["output_tokens_details"] = {"image_tokens": out, "text_tokens": 0}
    return result
