"""Mask and colour operations on numpy arrays, sized to the crop (never the whole layer).

Masks are ``uint8`` coverage, 0 = original kept, 255 = result fully shown. All filters are
separable and cost O(pixels · log radius) or O(pixels), so a crop costs the same on any layer.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# Gain/offset limits for the seam colour match: a model's tone drift is small; anything larger
# is new content, not a colour cast, and must not be "corrected" into the original.
GAIN_RANGE = (0.75, 1.33)
OFFSET_RANGE = (-40.0, 40.0)
MIN_RING_PIXELS = 32


def _max_axis0(a: np.ndarray, radius: int) -> np.ndarray:
    """Running max over ``2·radius + 1`` rows (edge rows replicated), by window doubling."""
    window = 2 * radius + 1
    m = np.concatenate([np.repeat(a[:1], radius, 0), a, np.repeat(a[-1:], radius, 0)])
    span = 1
    while span * 2 <= window:
        m = np.maximum(m[:-span], m[span:])
        span *= 2
    rest = window - span
    if rest:
        m = np.maximum(m[:-rest], m[rest:])
    return m


def nonzero_window(mask: np.ndarray, pad: int) -> tuple | None:
    """Slices of the bounding box of ``mask``'s non-zero pixels grown by ``pad`` (clamped);
    None when all are zero. Filters run on this window only: zeros stay zero far from it."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (slice(max(0, rows[0] - pad), min(h, rows[-1] + 1 + pad)),
            slice(max(0, cols[0] - pad), min(w, cols[-1] + 1 + pad)))


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grey dilation by a square of ``radius`` (soft masks keep their soft values)."""
    if radius <= 0 or mask.size == 0:
        return mask
    window = nonzero_window(mask, radius)
    out = np.zeros_like(mask)
    if window is not None:
        out[window] = _max_axis0(_max_axis0(mask[window], radius).T, radius).T
    return out


def _box_axis0(a: np.ndarray, radius: int) -> np.ndarray:
    window = 2 * radius + 1
    p = np.concatenate([np.repeat(a[:1], radius, 0), a, np.repeat(a[-1:], radius, 0)])
    c = np.zeros((p.shape[0] + 1,) + p.shape[1:], np.float64)
    np.cumsum(p, axis=0, out=c[1:])
    return (c[window:] - c[:-window]) / window


def box_blur(mask: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a ``(2·radius + 1)²`` square, as float64 (edges replicated)."""
    if radius <= 0:
        return mask.astype(np.float64)
    return _box_axis0(_box_axis0(mask.astype(np.float64), radius).T, radius).T


def feather_mask(fill: np.ndarray, grow: int, feather: int) -> np.ndarray:
    """Composite mask: 255 wherever ``fill`` grown by ``grow`` px is fully covered, falling to
    0 within about ``feather`` px outside it, and exactly 0 beyond ``grow + feather`` px of
    any covered pixel (a square neighbourhood).

    The ramp lies outside the grown selection so nothing the user selected shows the
    original; two box blurs give it a smooth, nearly Gaussian profile.
    """
    grown = dilate(fill, grow)
    if feather <= 0:
        return grown.copy()
    blur = max(1, round(feather / 4))
    out = np.zeros_like(grown)
    window = nonzero_window(grown, 4 * blur + 1)
    if window is None:
        return out
    part = grown[window]
    soft = box_blur(box_blur(dilate(part, 2 * blur), blur), blur)
    part_out = np.clip(np.rint(soft), 0, 255).astype(np.uint8)
    part_out[~dilate(part > 0, 4 * blur)] = 0
    out[window] = part_out
    return out


def threshold(coverage: np.ndarray) -> np.ndarray:
    """Binary edit region of a soft selection: pixels at least half as covered as the most
    covered one (so a 30 %-opacity selection still edits something)."""
    top = int(coverage.max()) if coverage.size else 0
    if top == 0:
        return np.zeros(coverage.shape, bool)
    return coverage.astype(np.uint16) * 2 >= top


class ColorFit(NamedTuple):
    gain: np.ndarray  # per channel
    offset: np.ndarray
    samples: int

    @property
    def is_identity(self) -> bool:
        return bool(np.all(self.gain == 1.0) and np.all(self.offset == 0.0))

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        if self.is_identity:
            return rgb
        levels = np.arange(256, dtype=np.float64)
        out = np.empty(rgb.shape[:2] + (3,), np.uint8)
        for c in range(3):
            lut = np.clip(np.rint(levels * self.gain[c] + self.offset[c]), 0, 255)
            out[..., c] = lut.astype(np.uint8)[rgb[..., c]]
        return out


IDENTITY = ColorFit(np.ones(3), np.zeros(3), 0)


def fit_gain_offset(src: np.ndarray, dst: np.ndarray, where: np.ndarray,
                    gain_range=GAIN_RANGE, offset_range=OFFSET_RANGE) -> ColorFit:
    """Per channel ``dst ≈ gain · src + offset`` by least squares over ``where`` (clamped).

    Clipped ``src`` samples (0 or 255) are left out; flat samples (σ < 4) fit an offset only,
    since their gain is not measurable.
    """
    if int(np.count_nonzero(where)) < MIN_RING_PIXELS:
        return IDENTITY
    xs, ys = src[..., :3][where], dst[..., :3][where]
    gain, offset, used = np.ones(3), np.zeros(3), 0
    for c in range(3):
        x, y = xs[:, c], ys[:, c]
        unclipped = (x > 0) & (x < 255)
        if np.count_nonzero(unclipped) >= MIN_RING_PIXELS:
            x, y = x[unclipped], y[unclipped]
        x, y = x.astype(np.float64), y.astype(np.float64)
        mx, my = x.mean(), y.mean()
        var = ((x - mx) ** 2).mean()
        g = ((x - mx) * (y - my)).mean() / var if var > 16.0 else 1.0
        gain[c] = min(max(g, gain_range[0]), gain_range[1])
        offset[c] = min(max(my - gain[c] * mx, offset_range[0]), offset_range[1])
        used = max(used, x.size)
    return ColorFit(gain, offset, used)


def composite(base: np.ndarray, patch: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``base`` blended towards ``patch`` by ``mask`` (same height and width).

    Exact where the mask is 0 (``base``) or 255 (``patch``). RGBA bases blend with
    premultiplied alpha so colours of transparent pixels do not bleed into the seam.
    """
    channels = base.shape[2]
    patch = _channels(patch, channels)
    if mask is None:
        return patch.copy()
    out = base.copy()
    full = mask == 255
    out[full] = patch[full]
    blend = (mask > 0) & ~full
    if not blend.any():
        return out
    m = mask[blend].astype(np.uint32)[:, None]
    b, p = base[blend].astype(np.uint32), patch[blend].astype(np.uint32)
    if channels == 4:
        w0, w1 = b[:, 3:] * (255 - m), p[:, 3:] * m  # alpha·weight, scaled by 255
        wsum = w0 + w1
        rgb = (b[:, :3] * w0 + p[:, :3] * w1 + wsum // 2) // np.maximum(wsum, 1)
        out[blend] = np.concatenate([rgb, (wsum + 127) // 255], axis=1).astype(np.uint8)
    else:
        out[blend] = ((b * (255 - m) + p * m + 127) // 255).astype(np.uint8)
    return out


def _channels(patch: np.ndarray, channels: int) -> np.ndarray:
    if patch.shape[2] == channels:
        return patch
    if channels == 3:
        return patch[..., :3]
    alpha = np.full(patch.shape[:2] + (1,), 255, np.uint8)
    return np.concatenate([patch[..., :3], alpha], axis=2)
