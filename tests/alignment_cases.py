"""Selection edits against a model that redraws (tests/fakeapi/redraw.py), run in process
through the core's pipeline, and what they are judged by. Shared by tests/test_region_align.py
and bench/quality.py (docs/quality.md).

Three ways to place the same answer: ``align`` (the pipeline), ``off`` (the pipeline without
registration, as before it) and ``naive`` (the whole answer mapped back and pasted over the
region: what a plug-in without a mask or colour match does).
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
from PIL import Image

from bianxie_core.placement import apply_placement, map_back, Placement, Placer
from bianxie_core.upload import prepare
from bianxie_core.geometry import Bounds, Extent
from bianxie_core.models import get_model
from bianxie_core.planning import RegionOptions, plan_edit
from tests.fakeapi.redraw import REALISTIC, Redraw, render

DATA = Path(__file__).resolve().parent / "data"
MODEL = get_model("gpt-image-1.5")  # answers at 1536x1024, 1024x1024 or 1024x1536
PAINT = (255, 0, 255)
MODES = ("align", "off", "naive")

# Drifts at the answer's resolution (1536x1024 for the 741×500 photo: 2.07 answer px a
# photo px); "3 %" is 3 % of the canvas.
DRIFTS = {
    "none": Redraw(),
    "sub-pixel (0.4, -0.3 px)": Redraw(dx=0.4, dy=-0.3),
    "shift (6, -4 px)": Redraw(dx=6, dy=-4),
    "issue (6 px, 2.5 %, 0.6°)": Redraw(dx=6, scale=1.025, rotation=0.6),
    "issue, larger (8 px, 2 %)": Redraw(dx=8, dy=5, scale=1.02),
    "scale 3 %": Redraw(scale=1.03),
    "rotation 2°": Redraw(rotation=2.0),
    "limit (3 %, 3 %, 2°)": Redraw(dx=46, dy=-30, scale=0.97, rotation=-2.0),
    "realistic fake": REALISTIC,
    "another shape, letterboxed": replace(REALISTIC, framing="fit"),
    "another shape, cropped": replace(REALISTIC, framing="cover"),
}
OTHER_SHAPE = {"another shape, letterboxed", "another shape, cropped"}


def photo(name: str, size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    image = Image.open(DATA / name).convert("RGB")
    if size is not None:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(image)


def ellipse(shape, centre=(0.5, 0.5), radii=(0.18, 0.2)) -> np.ndarray:
    """A hard elliptic selection (0/255) over an image of ``shape``."""
    h, w = shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    inside = ((xx + 0.5 - centre[0] * w) / (radii[0] * w)) ** 2 \
        + ((yy + 0.5 - centre[1] * h) / (radii[1] * h)) ** 2 <= 1
    return np.where(inside, 255, 0).astype(np.uint8)


def _bounds(coverage: np.ndarray) -> Bounds:
    rows = np.flatnonzero(coverage.any(axis=1))
    cols = np.flatnonzero(coverage.any(axis=0))
    return Bounds.from_corners(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


@dataclass
class Edit:
    """One edit of ``pixels`` under ``coverage``, planned and uploaded once."""

    pixels: np.ndarray
    coverage: np.ndarray
    options: RegionOptions = RegionOptions()

    def __post_init__(self):
        h, w = self.pixels.shape[:2]
        self.plan = plan_edit(Extent(w, h), _bounds(self.coverage), MODEL, self.options)
        crop = self.plan.crop
        self.crop_pixels = self.pixels[crop.slices]
        self.crop_coverage = self.coverage[crop.slices]
        self.upload = prepare(self.plan, self.crop_pixels, self.crop_coverage,
                                     self.options)

    def other_size(self) -> Tuple[int, int]:
        """A size of another shape than asked: square for a wide or tall one, else wide."""
        api = self.plan.api_size
        return (1024, 1024) if api.width != api.height else (1536, 1024)

    def answer(self, redraw: Redraw, paint=None, size=None) -> Image.Image:
        """What a model drawing as ``redraw`` answers (``size``: another than asked)."""
        first = Image.open(io.BytesIO(self.upload.image))
        mask = Image.open(io.BytesIO(self.upload.mask))
        size = size or tuple(self.plan.api_size)
        return Image.fromarray(render(first, mask, size, redraw, paint))

    def placer(self, mode: str) -> Placer:
        options = replace(self.options, align=mode == "align")
        return Placer(self.plan, self.crop_pixels, self.crop_coverage, options)

    def place(self, answer: Image.Image, mode: str, placer=None
              ) -> Tuple[np.ndarray, Placement]:
        """The whole image with the answer placed as ``mode`` says; the placement."""
        if mode == "naive":
            patch = map_back(self.plan, answer)
            rgba = np.dstack([patch, np.full(patch.shape[:2], 255, np.uint8)])
            placement = Placement(rgba, self.plan.region.x, self.plan.region.y, None)
        else:
            placement = (placer or self.placer(mode)).place(answer)
        return apply_placement(self.pixels, placement), placement

    def selected(self) -> np.ndarray:
        return self.coverage > 0

    def band(self, placement: Placement) -> np.ndarray:
        """The feather band in layer coordinates: partly shown pixels of the soft mask."""
        out = np.zeros(self.coverage.shape, bool)
        mask = self.placer("off").mask
        out[self.plan.region.slices] = (mask > 0) & (mask < 255)
        return out


def mean_error(result: np.ndarray, original: np.ndarray, where: np.ndarray) -> float:
    diff = np.abs(result[..., :3].astype(np.int16) - original[..., :3].astype(np.int16))
    return float(diff[where].mean())


def painted_centroid(placement: Placement, shown: np.ndarray) -> Tuple[float, float]:
    """Centre (x, y, layer coordinates) of the paint in the placed patch where it shows."""
    rgb = placement.patch[..., :3].astype(np.int16)
    close = np.abs(rgb - np.asarray(PAINT, np.int16)).max(axis=2) < 60
    ys, xs = np.nonzero(close & shown)
    return float(xs.mean() + placement.x + 0.5), float(ys.mean() + placement.y + 0.5)


def paint_offset(edit: Edit, answer: Image.Image, asked: Image.Image, mode: str) -> float:
    """How far (px) the painted area's centre lands from where an undrifted answer puts it
    (measured on the placed patch, where the soft mask shows any of it)."""
    shown = edit.placer("off").mask > 0
    _result, want = edit.place(asked, "off")
    _result, got = edit.place(answer, mode)
    (x0, y0), (x1, y1) = painted_centroid(want, shown), painted_centroid(got, shown)
    return float(np.hypot(x1 - x0, y1 - y0))


def timed_place(edit: Edit, answer: Image.Image, mode: str, repeat: int = 5) -> float:
    """Best-of-``repeat`` seconds of ``Placer.place`` (the placer prepared beforehand)."""
    placer = edit.placer(mode)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        placer.place(answer)
        best = min(best, time.perf_counter() - t)
    return best
