"""An image resampled through an affine transform (registration.py's drift taken out), only
where the result is used, band by band."""

from __future__ import annotations

import math
import os
from typing import Optional, Tuple

import numpy as np
from PIL import Image

from bianxie_core import png

_BICUBIC = Image.Resampling.BICUBIC
_BILINEAR = Image.Resampling.BILINEAR
_BAND_ROWS = 48  # rows of a band resampled on its own (each within its own columns)


def warp(rgb: np.ndarray, matrix: np.ndarray, where: Optional[np.ndarray] = None,
         source=None) -> np.ndarray:
    """A copy of ``rgb`` resampled (bicubic; bilinear where it rotates) from ``source`` (an
    array or a Pillow image; default: ``rgb``) at ``matrix``·x where ``where`` (bool, ``rgb``'s shape; default: all)
    says, band by band of rows within its columns there: ``matrix`` maps ``rgb``'s
    coordinates to ``source``'s. Points beyond ``source`` take its edge. Bands go to threads
    (Pillow lets go of the GIL while it resamples)."""
    h, w = rgb.shape[:2]
    rects = [(0, y, w, min(y + _BAND_ROWS, h)) for y in range(0, h, _BAND_ROWS)]
    if where is not None:
        rects = []
        rows = np.flatnonzero(where.any(axis=1))
        for y in range(rows[0], rows[-1] + 1, _BAND_ROWS) if rows.size else ():
            cols = np.flatnonzero(where[y:y + _BAND_ROWS].any(axis=0))
            if cols.size:
                rects.append((int(cols[0]), y, int(cols[-1]) + 1, min(y + _BAND_ROWS, h)))
    out = rgb.copy()
    if not rects:
        return out
    whole = (min(r[0] for r in rects), rects[0][1], max(r[2] for r in rects), rects[-1][3])
    image, origin = _needed(rgb if source is None else source, matrix, whole)
    matrix = np.array([[1, 0, -origin[0]], [0, 1, -origin[1]], [0, 0, 1.0]]) @ matrix

    # no rotation to speak of: Pillow's separable resize (Keys' a = −0.5) is exact and three
    # times as fast
    span = max(whole[2] - whole[0], whole[3] - whole[1])
    upright = (abs(matrix[0, 1]) + abs(matrix[1, 0])) * span < 0.02

    def band(rect: Tuple[int, int, int, int]) -> None:
        x0, y0, x1, y1 = rect
        if upright:
            (sx0, sx1), (sy0, sy1) = (matrix[:2] @ np.array([[x0, x1], [y0, y1], [1, 1]]))
            moved = image.resize((x1 - x0, y1 - y0), _BICUBIC, box=(sx0, sy0, sx1, sy1))
        else:  # bilinear: Pillow's bicubic transform costs three times as much (55 ms for
            # the 640k px shown of a 1536×1024 region, past the 60 ms budget) and is Keys'
            # a = −1, which moves fine detail by up to 0.08 px; bilinear blurs a little more
            # (a change-nothing edit: 1.35 levels, was 1.13) but keeps the centre exact
            a = (matrix @ np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1.0]]))[:2].ravel()
            moved = image.transform((x1 - x0, y1 - y0), Image.Transform.AFFINE, tuple(a),
                                    _BILINEAR)
        out[y0:y1, x0:x1] = np.asarray(moved)

    if len(rects) == 1 or (os.cpu_count() or 1) == 1:
        for rect in rects:
            band(rect)
    else:
        list(png.threads().map(band, rects))
    return out


def _needed(source, matrix: np.ndarray, rect: Tuple[int, int, int, int]) -> tuple:
    """The part of ``source`` that ``rect`` of the output reads through ``matrix``, as a Pillow
    image (the edge repeated where it reaches beyond), and where it starts in ``source``."""
    x0, y0, x1, y1 = rect
    corners = matrix @ np.array([[x0, x1, x0, x1], [y0, y0, y1, y1], [1, 1, 1, 1]], float)
    pad = 3
    sx0, sy0 = math.floor(corners[0].min()) - pad, math.floor(corners[1].min()) - pad
    sx1, sy1 = math.ceil(corners[0].max()) + pad, math.ceil(corners[1].max()) + pad
    w, h = source.size if isinstance(source, Image.Image) else source.shape[1::-1]
    inside = (max(sx0, 0), max(sy0, 0), min(sx1, w), min(sy1, h))
    edges = ((inside[1] - sy0, sy1 - inside[3]), (inside[0] - sx0, sx1 - inside[2]), (0, 0))
    if isinstance(source, Image.Image):
        if not any(v for side in edges for v in side):
            return source.crop(inside), (sx0, sy0)
        source = np.asarray(source)
    part = source[inside[1]:inside[3], inside[0]:inside[2]]
    if any(v for side in edges for v in side):
        part = np.pad(part, edges, mode="edge")
    return Image.fromarray(np.ascontiguousarray(part)), (sx0, sy0)
