"""Registration: how far a model's answer drifted from the canvas it was sent, as a similarity
transform (shift, isotropic scale, rotation), and the answer resampled back into place.

Models redraw the whole canvas: the part they were told to keep comes back shifted, a little
scaled or rotated, re-toned and re-textured. The estimate looks only at that kept part
(``kept``: outside the grown mask), at its textured pixels, and refuses rather than guesses
when there is too little of it, when it is flat, or when the answer does not match it.

Coordinates are continuous pixel coordinates of the region, pixel (i, j)'s centre at
(i + 0.5, j + 0.5), as Pillow's transforms take them; a 2×2 box reduction halves them
exactly. A transform ``M`` (3×3) maps a point of the original to where it lies in the answer,
so the answer resampled at ``M·x`` is aligned (resampling.warp).

``Registrar(luma, kept, area)`` does what needs no answer (pyramid, sample points, the
template's gradients, the refusals for flat or small kept areas). ``estimate(answer)`` finds
the shift at the coarsest level by masked normalised cross-correlation (Padfield, "Masked
object registration in the Fourier domain", 2012), refusing a repeating texture whose shift
could be a period off, then refines a similarity together with a gain varying smoothly over the
region and an offset by robust (Tukey) inverse-compositional Gauss–Newton (Baker & Matthews,
"Lucas-Kanade 20 years on", 2004), coarse to fine, on the sample points only: the answer is
sampled at a few thousand points per step and never warped whole while estimating.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
from PIL import Image

from bianxie_core.correlation import MaskedCorrelation

MAX_SIDE = 1600  # px: a larger region is registered on a copy reduced by a whole factor
COARSE_SIDE = 160  # the coarsest level's longer side, where the shift is searched
MAX_SHIFT = 0.06  # of the region's longer side, searched at the coarsest level (correlation.py)
MAX_SCALE = 0.08  # |scale − 1| beyond this is not a drift
MAX_ROTATION = 6.0  # degrees
SAMPLES = 8000  # sample points at full size; half of it at half size, a quarter below
MIN_KEPT_SHARE = 0.08  # of the region; below: a large edit, refused
MIN_KEPT_PIXELS = 4096
TEXTURE = 3.0  # levels per pixel: a sample point's gradient at least this
MIN_TEXTURED = 200  # textured kept pixels at the level the flatness is judged on
MAX_UNCERTAINTY = 0.08  # px: the predicted error of the estimate (noise NOISE) beyond: refused
NOISE = 6.0  # levels: the re-texturing a model adds, for the predicted error
# a match this close to the best farther away (correlation.RIVAL_DISTANCE): a repeating
# texture or stripes, where a period's shift looks as right as none (a wall of identical
# bricks: 0.001 below; the test photos at the largest drift: 0.025 and more)
AMBIGUOUS = 0.01
MIN_MATCH = 0.5  # correlation of the kept area after alignment below: no match
ALIGNED = 0.25  # px: a drift below this is left alone
ITERATIONS = 12
QUICK_MATCH = 0.9  # correlation where an answer is first tried as aligned, at full size only
QUICK_ITERATIONS = 3


@dataclass(frozen=True)
class Drift:
    matrix: np.ndarray  # 3×3, original → answer
    centre: Tuple[float, float]  # where dx, dy, scale and rotation are measured

    @property
    def scale(self) -> float:
        return float(math.hypot(self.matrix[0, 0], self.matrix[1, 0]))

    @property
    def rotation(self) -> float:
        """Degrees, counter-clockwise on screen being negative (y points down)."""
        return float(math.degrees(math.atan2(self.matrix[1, 0], self.matrix[0, 0])))

    @property
    def shift(self) -> Tuple[float, float]:
        cx, cy = self.centre
        x, y, _one = self.matrix @ (cx, cy, 1.0)
        return float(x - cx), float(y - cy)

    def displacement(self, box: Tuple[float, float, float, float]) -> float:
        """The largest move of a corner of ``box`` (x0, y0, x1, y1), in pixels."""
        x0, y0, x1, y1 = box
        corners = np.array([[x0, x1, x0, x1], [y0, y0, y1, y1], [1, 1, 1, 1]], float)
        moved = self.matrix @ corners
        return float(np.hypot(*(moved[:2] - corners[:2])).max())

    def summary(self) -> dict:
        dx, dy = self.shift
        return {"dx": round(dx, 2), "dy": round(dy, 2),
                "scale": round(self.scale, 5), "rotation": round(self.rotation, 3)}


@dataclass(frozen=True)
class Estimate:
    status: str  # "aligned" (nothing to do), "corrected", "refused"
    drift: Optional[Drift] = None
    displacement: float = 0.0  # px, over the area that matters
    reason: str = ""  # refused: "little-kept", "flat", "ambiguous", "no-match", "no-gain"
    score: float = 0.0  # correlation of the kept samples after the estimate
    score_before: float = 0.0  # ... and without it


def luma(rgb: np.ndarray) -> np.ndarray:
    """Float32 luma (Rec. 601, as Pillow's "L") of an RGB uint8 array."""
    return np.asarray(Image.fromarray(rgb).convert("L"), np.float32)


def _reduce(a: np.ndarray, factor: int = 2) -> np.ndarray:
    """``a`` (float32) averaged over boxes of ``factor``²: coordinates divide by ``factor``. A
    last row or column short of a whole box is left out."""
    if factor != 2:
        h, w = a.shape[0] // factor * factor, a.shape[1] // factor * factor
        return np.asarray(Image.fromarray(np.ascontiguousarray(a[:h, :w]), "F").reduce(factor),
                          np.float32)
    h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
    out = a[0:h:2, 0:w:2] + a[1:h:2, 0:w:2]  # in numpy: a third of Pillow's time, with copies
    out += a[0:h:2, 1:w:2]
    out += a[1:h:2, 1:w:2]
    out *= np.float32(0.25)
    return out


def _pyramid(image: np.ndarray, levels: int) -> list:
    out = [image]
    for _ in range(levels - 1):
        out.append(_reduce(out[-1]))
    return out


def _gradients(a: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Central differences, 0 on the border; written into place (a third of the time of
    assigning a computed slice)."""
    half = np.float32(0.5)
    gx, gy = np.empty_like(a), np.empty_like(a)
    np.subtract(a[:, 2:], a[:, :-2], out=gx[:, 1:-1])
    gx[:, 1:-1] *= half
    gx[:, 0] = gx[:, -1] = 0
    np.subtract(a[2:], a[:-2], out=gy[1:-1])
    gy[1:-1] *= half
    gy[0] = gy[-1] = 0
    return gx, gy


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(r):
        inner = out.copy()
        inner[1:] &= out[:-1]
        inner[:-1] &= out[1:]
        inner[:, 1:] &= out[:, :-1]
        inner[:, :-1] &= out[:, 1:]
        inner[0] = inner[-1] = False
        inner[:, 0] = inner[:, -1] = False
        out = inner
    return out


def _spline_weights(t: np.ndarray) -> tuple:
    """Cubic B-spline weights of the four neighbours for fractions ``t``."""
    t2, t3 = t * t, t * t * t
    u = 1 - t
    return (u * u * u / 6, (3 * t3 - 6 * t2 + 4) / 6, (-3 * t3 + 3 * t2 + 3 * t + 1) / 6,
            t3 / 6)


def _smooth(a: np.ndarray) -> np.ndarray:
    """``a`` filtered by (1, 4, 1)/6 both ways: the B-spline at whole pixels (see _sample)."""
    b = a * np.float32(4 / 6)
    b[:, 1:-1] += a[:, :-2] / 6
    b[:, 1:-1] += a[:, 2:] / 6
    b[:, [0, -1]] = a[:, [0, -1]]
    c = b * np.float32(4 / 6)
    c[1:-1] += b[:-2] / 6
    c[1:-1] += b[2:] / 6
    c[[0, -1]] = b[[0, -1]]
    return c


def _sample(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``image`` smoothed by a cubic B-spline, at continuous coordinates (centres at +0.5); and
    which points lie inside (with the kernel's reach). The template is smoothed alike
    (_smooth). An interpolating kernel (bilinear, Keys' cubic) would bias sub-pixel shifts by up
    to 0.1 px towards half pixels; the B-spline's response hardly depends on where between
    pixels a point falls."""
    h, w = image.shape
    xi, yi = x - 0.5, y - 0.5
    inside = (xi >= 1) & (yi >= 1) & (xi < w - 2) & (yi < h - 2)
    xi = np.clip(xi, 1, w - 2.001)
    yi = np.clip(yi, 1, h - 2.001)
    x0, y0 = xi.astype(np.intp), yi.astype(np.intp)
    wx = _spline_weights((xi - x0).astype(np.float32))
    wy = _spline_weights((yi - y0).astype(np.float32))
    flat, base = image.ravel(), y0 * w + x0
    out = np.zeros(x.shape, np.float32)
    for j in range(4):
        row = base + (j - 1) * w
        out += (flat[row - 1] * wx[0] + flat[row] * wx[1] + flat[row + 1] * wx[2]
                + flat[row + 2] * wx[3]) * wy[j]
    held = np.isfinite(out)  # NaN: where the answer holds nothing (estimate)
    if not held.all():
        inside &= held
        out[~held] = 0
    return out, inside


def _scaled(matrix: np.ndarray, factor: float) -> np.ndarray:
    """``matrix`` in coordinates scaled by ``factor``."""
    s = np.diag([factor, factor, 1.0])
    return s @ matrix @ np.linalg.inv(s)


class _Level:
    """The sample points of one pyramid level: where, the template there, its design matrix."""

    def __init__(self, template: np.ndarray, kept: np.ndarray, count: int, rng, centre):
        template = _smooth(template)
        gx, gy = _gradients(template)
        strength = gx * gx
        strength += gy * gy
        strong = _erode(kept, 2)
        strong &= strength >= TEXTURE * TEXTURE
        del strength
        self.textured = int(np.count_nonzero(strong))
        index = np.flatnonzero(strong)
        if index.size > count:
            index = np.sort(rng.choice(index, count, replace=False))
        h, w = template.shape
        rows, cols = np.divmod(index, w)
        self.x, self.y = cols + 0.5, rows + 0.5
        self.points = np.stack([self.x, self.y, np.ones_like(self.x)])
        self.values = template.ravel()[index]
        u, v = self.x - centre[0], self.y - centre[1]
        gxs, gys = gx.ravel()[index], gy.ravel()[index]
        self.steepest = np.stack([gxs, gys, gxs * u + gys * v, gys * u - gxs * v], axis=1)
        self.centre = centre
        self.size = (w, h)
        # the tone model: a gain varying smoothly over the region (vignetting, a ramp) and an
        # offset; with one gain, a vignette pulls the estimate by up to 0.4 px
        u, v = u / (max(w, h) / 2), v / (max(w, h) / 2)
        self.tone = np.stack([self.values, self.values * u, self.values * v,
                              self.values * (u * u + v * v), np.ones_like(u)],
                             axis=1).astype(np.float32)

    def uncertainty(self, radius: float) -> float:
        """The predicted displacement error at ``radius`` for NOISE levels of noise."""
        if self.values.size < 8:
            return math.inf
        hessian = self.steepest.T.astype(np.float64) @ self.steepest
        try:
            cov = np.linalg.inv(hessian) * NOISE * NOISE
        except np.linalg.LinAlgError:
            return math.inf
        d = np.diag(cov)
        if not np.all(np.isfinite(d)) or np.any(d < 0):
            return math.inf
        return float(math.sqrt(d[0] + d[1]) + radius * math.sqrt(d[2] + d[3]))


class Registrar:
    """The original's side of the registration, prepared before the answer comes."""

    def __init__(self, original: np.ndarray, kept: np.ndarray,
                 area: Optional[Tuple[float, float, float, float]] = None):
        h, w = original.shape
        self.shape = (h, w)
        self.area = area or (0.0, 0.0, float(w), float(h))
        self.centre = ((self.area[0] + self.area[2]) / 2, (self.area[1] + self.area[3]) / 2)
        self.refusal = ""
        # larger regions are registered on a copy reduced by a whole factor: an answer of the
        # API's size holds no finer detail to register on, and memory stays small
        self.step = max(1, math.ceil(max(h, w) / MAX_SIDE))
        if self.step > 1:
            original = _reduce(np.asarray(original, np.float32), self.step)
            kept = _reduce(kept.astype(np.float32), self.step) >= 1.0
            h, w = original.shape
        self.levels = 1
        while max(h, w) / 2 ** (self.levels - 1) > COARSE_SIDE and min(h, w) / 2 ** self.levels \
                >= 16:
            self.levels += 1
        kept_count = int(np.count_nonzero(kept))
        if kept_count < max(MIN_KEPT_PIXELS, MIN_KEPT_SHARE * h * w):
            self.refusal = "little-kept"
            return
        templates = _pyramid(np.asarray(original, np.float32), self.levels)
        masks = [kept]
        for _ in range(self.levels - 1):  # kept where all four pixels below are
            m = masks[-1]
            h, w = m.shape[0] // 2 * 2, m.shape[1] // 2 * 2
            masks.append(m[0:h:2, 0:w:2] & m[1:h:2, 0:w:2] & m[0:h:2, 1:w:2] & m[1:h:2, 1:w:2])
        rng = np.random.default_rng(0)
        centre = (self.centre[0] / self.step, self.centre[1] / self.step)
        self.steps = []
        for level, (template, mask) in enumerate(zip(templates, masks)):
            c = (centre[0] / 2 ** level, centre[1] / 2 ** level)
            count = SAMPLES if level == 0 else SAMPLES // (2 if level == 1 else 4)
            self.steps.append(_Level(template, mask, count, rng, c))
        judge = self.steps[min(2, self.levels - 1)]  # noise and re-texturing averaged away
        if judge.textured < MIN_TEXTURED or self.steps[0].values.size < MIN_TEXTURED:
            self.refusal = "flat"
        elif self.steps[0].uncertainty(math.hypot(w, h) / 2) > MAX_UNCERTAINTY:
            self.refusal = "flat"
        if self.refusal:
            return
        self._coarse = MaskedCorrelation(templates[-1], masks[-1], MAX_SHIFT)

    def peak(self, answer: np.ndarray) -> float:
        """How well ``answer`` (as for ``estimate``) matches at its best shift, coarsely
        (-1 … 1; -1 when refused): to choose among framings of an answer."""
        if self.refusal:
            return -1.0
        answer = np.asarray(answer, np.float32)
        if self.step > 1:
            answer = _reduce(answer, self.step)
        return self._coarse.shift(_pyramid(answer, self.levels)[-1])[2]

    def estimate(self, answer: np.ndarray) -> Estimate:
        """The drift of ``answer`` (float32 luma, the region's shape) from the original; NaN
        where the answer holds nothing (a model that cropped the canvas), which counts for
        nothing."""
        if self.refusal:
            return Estimate("refused", reason=self.refusal)
        if answer.shape != self.shape:
            raise ValueError(f"answer is {answer.shape}, the original {self.shape}")
        answer = np.asarray(answer, np.float32)
        if self.step > 1:
            answer = _reduce(answer, self.step)
        finest = self.steps[0]
        before = _correlation(finest, answer, np.eye(3))
        if before >= QUICK_MATCH:  # most likely in place: a few steps at full size tell
            m, ok = self._refine(np.eye(3), answer, finest, 0, QUICK_ITERATIONS)
            drift = Drift(_scaled(m, self.step), self.centre)
            moved = drift.displacement(self.area)
            if ok and moved < ALIGNED / 2:
                return Estimate("aligned", drift, moved, "", _correlation(finest, answer, m),
                                before)
        images = _pyramid(answer, self.levels)
        top = self.levels - 1
        dx, dy, peak, rival = self._coarse.shift(images[-1])
        if rival > peak - AMBIGUOUS:
            return Estimate("refused", reason="ambiguous")
        m = np.array([[1.0, 0, dx * 2 ** top], [0, 1.0, dy * 2 ** top], [0, 0, 1.0]])
        for level in range(top, -1, -1):
            m, ok = self._refine(m, images[level], self.steps[level], level)
            if not ok:
                return Estimate("refused", reason="no-match")
        drift = Drift(_scaled(m, self.step), self.centre)
        h, w = self.shape
        if abs(drift.scale - 1) > MAX_SCALE or abs(drift.rotation) > MAX_ROTATION \
                or max(map(abs, drift.shift)) > 1.5 * MAX_SHIFT * max(h, w):
            return Estimate("refused", drift, reason="no-match")
        score = _correlation(finest, images[0], m)
        moved = drift.displacement(self.area)
        if score < MIN_MATCH:
            return Estimate("refused", drift, moved, "no-match", score, before)
        if moved < ALIGNED:
            return Estimate("aligned", drift, moved, "", score, before)
        if score <= before:
            return Estimate("refused", drift, moved, "no-gain", score, before)
        return Estimate("corrected", drift, moved, "", score, before)

    def _refine(self, m: np.ndarray, image: np.ndarray, step: _Level, level: int,
                iterations: int = ITERATIONS) -> Tuple[np.ndarray, bool]:
        """Gauss–Newton on ``step``'s points; ``m`` in full-resolution coordinates."""
        if step.values.size < 16:
            return m, True
        f = 2.0 ** -level
        ml = _scaled(m, f)
        cx, cy = step.centre
        to_c = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1.0]])
        from_c = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1.0]])
        points = step.points
        radius = max(step.size) / 2
        tone = step.tone
        coeffs = np.zeros(5)
        design = np.empty((step.values.size, 4), np.float32)
        first = True
        for _ in range(iterations):
            px, py, _one = ml @ points
            sampled, inside = _sample(image, px, py)
            if np.count_nonzero(inside) < 16:
                return m, False
            if first:
                coeffs[0], coeffs[4] = _line(step.values[inside], sampled[inside])
                first = False
            weight = _tukey(sampled - tone @ coeffs.astype(np.float32)) * inside
            # the tone, then the geometry: two small systems, not one of nine unknowns (a
            # product of 9 columns by 8000 rows goes to BLAS's threads, 30 times slower)
            weighted = tone * weight[:, None]
            coeffs = _solve(weighted.T @ tone, weighted.T @ sampled)
            if coeffs is None or not (0.2 < coeffs[0] < 5.0):
                return m, False
            design[:] = step.steepest * np.float32(coeffs[0])
            residual = sampled - tone @ coeffs.astype(np.float32)
            weighted = design * weight[:, None]
            z = _solve(weighted.T @ design, weighted.T @ residual)
            if z is None:
                return m, False
            tx, ty, a, b = z
            delta = from_c @ np.array([[1 + a, -b, tx], [b, 1 + a, ty], [0, 0, 1.0]]) @ to_c
            ml = ml @ np.linalg.inv(delta)
            if math.hypot(tx, ty) + radius * math.hypot(a, b) < (0.01 if level == 0 else 0.05):
                break  # px of this level: the next, finer one takes it from there
        return _scaled(ml, 1 / f), True


def _solve(hessian: np.ndarray, rhs: np.ndarray) -> Optional[np.ndarray]:
    """The least-squares step of normal equations (float64); None when there is none."""
    try:
        z = np.linalg.solve(hessian.astype(np.float64) + np.eye(len(rhs)) * 1e-6, rhs)
    except np.linalg.LinAlgError:
        return None
    return z if np.all(np.isfinite(z)) else None


def _line(x: np.ndarray, y: np.ndarray) -> Tuple[float, float]:
    """``y ≈ gain · x + offset`` by least squares."""
    mx, my = float(x.mean()), float(y.mean())
    var = float(((x - mx) ** 2).mean())
    gain = float(((x - mx) * (y - my)).mean()) / var if var > 1e-6 else 1.0
    gain = min(max(gain, 0.3), 3.0)
    return gain, my - gain * mx


def _tukey(residual: np.ndarray) -> np.ndarray:
    sigma = max(1.4826 * float(np.median(np.abs(residual))), 1.0)
    r = residual / (4.685 * sigma)
    return np.where(np.abs(r) < 1, (1 - r * r) ** 2, 0).astype(np.float32)


def _correlation(step: _Level, image: np.ndarray, m: np.ndarray) -> float:
    points = step.points
    px, py, _one = m @ points
    sampled, inside = _sample(image, px, py)
    if np.count_nonzero(inside) < 16:
        return 0.0
    a, b = step.values[inside].astype(np.float64), sampled[inside].astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / den if den > 0 else 0.0
