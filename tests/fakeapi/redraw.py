"""Answers as a real model draws them: the whole canvas redrawn, drifted and re-textured.

Models that "edit" regenerate the whole image and only try to keep what the mask protects: it
comes back shifted, a little scaled or rotated, re-toned, softened, noisy and recompressed; the
edit spills past the mask; an answer of another shape is framed as the model likes (stretched,
fitted inside bars, or cropped). ``Redraw`` describes one such model; ``render`` draws its answer.

The FakeServer uses it through its ``redraw`` knob (None: the pixel-exact fills of images.py)::

    srv.redraw = Redraw(dx=6, scale=1.025, rotation=0.6)
    srv.fill = "echo"  # change nothing (the model redraws what it was sent)
    srv.fill = "mask"  # paint ``srv.fill_color`` where the mask is, spilling ``spill`` px

Painting happens in the canvas's frame, before the drift, as a model draws its object where it
was asked in the picture it then redraws shifted.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageFilter

FRAMINGS = ("stretch", "fit", "cover")
_LANCZOS = Image.Resampling.LANCZOS
_BICUBIC = Image.Resampling.BICUBIC


@dataclass(frozen=True)
class Redraw:
    dx: float = 0.0  # px of the answer; content moves right
    dy: float = 0.0  # px; content moves down
    scale: float = 1.0  # about the answer's centre
    rotation: float = 0.0  # degrees about the answer's centre (clockwise on screen)
    gain: Tuple[float, float, float] = (1.0, 1.0, 1.0)
    offset: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    blur: float = 0.0  # Gaussian radius, px
    noise: float = 0.0  # σ in levels
    jpeg: int = 0  # recompressed at this JPEG quality first (0: not)
    spill: int = 0  # px the painted edit reaches past the mask
    framing: str = "stretch"  # an answer of another shape than the image sent: see FRAMINGS
    seed: int = 0

    def __post_init__(self):
        if self.framing not in FRAMINGS:
            raise ValueError("framing must be one of %s, not %r" % (FRAMINGS, self.framing))

    def matrix(self, size: Tuple[int, int]) -> np.ndarray:
        """3×3: a point of the (framed) canvas → where it lies in the answer (continuous
        pixel coordinates, centres at +0.5, as Pillow's transforms take them)."""
        cx, cy = size[0] / 2, size[1] / 2
        t = math.radians(self.rotation)
        c, s = self.scale * math.cos(t), self.scale * math.sin(t)
        return np.array([[c, -s, cx + self.dx - c * cx + s * cy],
                         [s, c, cy + self.dy - s * cx - c * cy], [0, 0, 1.0]])


# What the quality page and the tests call "realistic": a model that keeps the content but
# redraws it as the issue measured (6 px, 2.5 %, 0.6°), a little warmer, softer, noisier and
# recompressed, its edit spilling 3 px past the mask.
REALISTIC = Redraw(dx=6, dy=-3, scale=1.025, rotation=0.6, gain=(1.04, 1.0, 0.97),
                   offset=(3, 0, -2), blur=0.6, noise=2.0, jpeg=90, spill=3, seed=7)


def frame(image: Image.Image, size: Tuple[int, int], framing: str,
          resample=_LANCZOS, fill=0) -> Image.Image:
    """``image`` put on an answer of ``size`` as ``framing`` says."""
    if framing == "stretch" or image.size == size:
        return image.resize(size, resample)
    sx, sy = size[0] / image.width, size[1] / image.height
    s = min(sx, sy) if framing == "fit" else max(sx, sy)
    w, h = max(1, round(image.width * s)), max(1, round(image.height * s))
    scaled = image.resize((w, h), resample)
    out = Image.new(image.mode, size, fill)
    out.paste(scaled, ((size[0] - w) // 2, (size[1] - h) // 2))
    return out


def _grow(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return mask
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(image.filter(ImageFilter.MaxFilter(2 * radius + 1))) > 0


def render(first: Image.Image, mask: Optional[Image.Image], size: Tuple[int, int],
           redraw: Redraw, paint: Optional[Sequence[int]] = None) -> np.ndarray:
    """The answer (RGB uint8 at ``size``) to an edit of ``first`` under ``mask`` (alpha 0 =
    edit); ``paint``: the colour drawn where the mask is (None: nothing is changed)."""
    canvas = np.array(frame(first.convert("RGB"), size, redraw.framing), np.float32)
    if paint is not None:
        if mask is None:
            editable = np.ones(canvas.shape[:2], bool)
        else:
            alpha = frame(mask.convert("RGBA").getchannel("A"), size, redraw.framing,
                          Image.Resampling.NEAREST, 255)
            editable = _grow(np.asarray(alpha) == 0, redraw.spill)
        canvas[editable] = np.asarray(paint[:3], np.float32)
    inverse = np.linalg.inv(redraw.matrix(size))[:2].ravel()
    if not np.allclose(inverse, (1, 0, 0, 0, 1, 0)):
        # the model invents what drifts in from beyond the canvas: its edge, here
        pad = int(math.ceil(abs(redraw.dx) + abs(redraw.dy) + max(size) * (
            abs(redraw.scale - 1) + abs(math.radians(redraw.rotation))))) + 4
        padded = np.pad(canvas, ((pad, pad), (pad, pad), (0, 0)), "edge")
        a, b, c, d, e, f = inverse
        bands = []
        for channel in range(3):
            src = Image.fromarray(np.ascontiguousarray(padded[..., channel]), "F")
            bands.append(np.asarray(src.transform(size, Image.Transform.AFFINE, (
                a, b, c + pad, d, e, f + pad), _BICUBIC)))
        canvas = np.stack(bands, axis=2)
    canvas = canvas * np.asarray(redraw.gain, np.float32) + np.asarray(redraw.offset, np.float32)
    out = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    if redraw.blur > 0:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(redraw.blur)))
    if redraw.noise > 0:
        rng = np.random.default_rng(redraw.seed)
        noisy = out + rng.normal(0.0, redraw.noise, out.shape)
        out = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    if redraw.jpeg:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, "JPEG", quality=redraw.jpeg)
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out
