"""Masked normalised cross-correlation over all shifts at once, by FFT (Padfield, "Masked
object registration in the Fourier domain", 2012): where a template, seen only through a mask,
lies in an image seen through the same mask. Regions outside the masks count for nothing, and
the overlap of the two masks is allowed for at every shift, so their edges do not pull the
peak towards no shift."""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np


RIVAL_DISTANCE = 3  # px of the correlated images: nearer than this is the same peak


class MaskedCorrelation:
    """Normalised cross-correlation of a masked template with an image under the same mask,
    over all shifts up to ``reach`` of its longer side, by FFT; the template's side is kept."""

    def __init__(self, template: np.ndarray, mask: np.ndarray, reach: float = 0.06):
        h, w = template.shape
        self.reach = max(2, math.ceil(reach * max(h, w)) + 1)
        self.shape = (_fast_size(h + self.reach), _fast_size(w + self.reach))
        self.mask = mask.astype(np.float64)
        f = template.astype(np.float64) * self.mask
        f1, f2, m = (self._fft(a) for a in (f, f * f, self.mask))
        self.f1, self.m1 = np.conj(f1), np.conj(m)
        self.overlap = np.maximum(np.rint(self._ifft(self.m1 * m)), 1)
        self.sf = self._ifft(self.f1 * m)
        self.var_f = self._ifft(np.conj(f2) * m) - self.sf ** 2 / self.overlap
        self.enough = self.overlap >= 0.3 * self.mask.sum()

    def _fft(self, a: np.ndarray) -> np.ndarray:
        return np.fft.rfft2(a, self.shape)

    def _ifft(self, a: np.ndarray) -> np.ndarray:
        return np.fft.irfft2(a, self.shape)

    def shift(self, image: np.ndarray) -> Tuple[float, float, float, float]:
        """(dx, dy, peak, rival): where the template's content lies in ``image``, how well it
        matches there, and how well at the best shift more than RIVAL_DISTANCE away."""
        held = np.isfinite(image)
        if not held.all():  # NaN where an answer holds nothing: flat there
            image = np.where(held, image, image[held].mean() if held.any() else 0.0)
        g = image.astype(np.float64) * self.mask
        g1, g2 = self._fft(g), self._fft(g * g)
        sg = self._ifft(self.m1 * g1)
        num = self._ifft(self.f1 * g1) - self.sf * sg / self.overlap
        var_g = self._ifft(self.m1 * g2) - sg * sg / self.overlap
        den = np.sqrt(np.maximum(self.var_f, 0) * np.maximum(var_g, 0))
        ncc = np.where((den > 1e-6) & self.enough, num / np.maximum(den, 1e-12), -1.0)
        r = self.reach
        ys = np.r_[0:r + 1, self.shape[0] - r:self.shape[0]]
        xs = np.r_[0:r + 1, self.shape[1] - r:self.shape[1]]
        window = ncc[np.ix_(ys, xs)]
        iy, ix = np.unravel_index(int(np.argmax(window)), window.shape)
        dy, dx = int(ys[iy]), int(xs[ix])
        dy = dy - self.shape[0] if dy > r else dy
        dx = dx - self.shape[1] if dx > r else dx
        best = float(window[iy, ix])
        # the best match farther than RIVAL_DISTANCE from it: a repeating texture (bricks,
        # fabric) or stripes match nearly as well a period or a stripe away
        oy = np.where(ys > r, ys - self.shape[0], ys)[:, None] - dy
        ox = np.where(xs > r, xs - self.shape[1], xs)[None, :] - dx
        far = oy * oy + ox * ox > RIVAL_DISTANCE * RIVAL_DISTANCE
        rival = float(window[far].max()) if far.any() else -1.0
        return float(dx), float(dy), best, rival


def _fast_size(n: int) -> int:
    """The smallest 2^a·3^b·5^c ≥ n (fast FFT sizes)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1
