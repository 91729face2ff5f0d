from __future__ import annotations

import numpy as np
import pytest

from bianxie_core import compositing as comp


def _brute_dilate(mask, r):
    h, w = mask.shape
    out = np.zeros_like(mask)
    for y in range(h):
        for x in range(w):
            out[y, x] = mask[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1].max()
    return out


@pytest.mark.parametrize("radius", [0, 1, 2, 3, 5, 8], ids=lambda r: f"r{r}")
def test_dilate_matches_brute_force(radius):
    rng = np.random.default_rng(radius)
    mask = (rng.random((17, 23)) > 0.93).astype(np.uint8) * rng.integers(1, 255, (17, 23)).astype(
        np.uint8
    )
    assert np.array_equal(comp.dilate(mask, radius), _brute_dilate(mask, radius))


def test_box_blur_mean_and_edges():
    a = np.zeros((9, 9), np.uint8)
    a[4, 4] = 90
    out = comp.box_blur(a, 1)
    assert out[4, 4] == pytest.approx(10)
    assert out[3, 3] == pytest.approx(10) and out[2, 2] == 0
    flat = comp.box_blur(np.full((5, 7), 200, np.uint8), 2)
    assert np.allclose(flat, 200)


def test_feather_mask_profile():
    fill = np.zeros((80, 80), np.uint8)
    fill[30:50, 30:50] = 255
    grow, feather = 4, 12
    m = comp.feather_mask(fill, grow, feather)
    assert m.dtype == np.uint8
    assert (m[26:54, 26:54] == 255).all()  # the grown selection is fully covered
    band = comp.dilate(fill > 0, grow + feather)
    assert (m[~band] == 0).all()
    row = m[40, 50:70].astype(int)
    assert (np.diff(row) <= 0).all() and row[-1] == 0 and 0 < row[8] < 255


def test_feather_zero_is_grown_hard_edge():
    fill = np.zeros((20, 20), np.uint8)
    fill[10, 10] = 255
    m = comp.feather_mask(fill, 2, 0)
    assert set(np.unique(m)) == {0, 255} and m.sum() == 25 * 255


@pytest.mark.parametrize(
    "values, expected",
    [([0, 60, 120, 255], [False, False, False, True]), ([0, 40, 80], [False, True, True]),
     ([0, 0], [False, False])],
    ids=["hard", "faint-selection", "empty"],
)
def test_threshold_relative_to_peak(values, expected):
    assert comp.threshold(np.array([values], np.uint8))[0].tolist() == expected


@pytest.mark.parametrize(
    "gain, offset",
    [((1.1, 0.9, 1.0), (12, -8, 3)), ((1.0, 1.0, 1.0), (0, 0, 0)),
     ((0.8, 1.2, 1.05), (20, -20, 0))],
    ids=["warm", "identity", "strong"],
)
def test_fit_gain_offset_recovers_a_tone_shift(gain, offset):
    rng = np.random.default_rng(1)
    src = rng.integers(30, 200, (40, 40, 3)).astype(np.uint8)
    dst = np.clip(src * np.array(gain) + np.array(offset), 0, 255).astype(np.uint8)
    fit = comp.fit_gain_offset(src, dst, np.ones((40, 40), bool))
    assert np.allclose(fit.gain, gain, atol=0.02) and np.allclose(fit.offset, offset, atol=2)
    assert np.abs(fit.apply(src).astype(int) - dst).max() <= 2


def test_fit_is_clamped_and_needs_samples():
    src = np.random.default_rng(2).integers(0, 255, (20, 20, 3)).astype(np.uint8)
    fit = comp.fit_gain_offset(src, 255 - src, np.ones((20, 20), bool))
    assert (fit.gain >= comp.GAIN_RANGE[0]).all() and (np.abs(fit.offset) <= 40).all()
    few = np.zeros((20, 20), bool)
    few[0, :5] = True
    assert comp.fit_gain_offset(src, src // 2, few).is_identity


def test_flat_ring_fits_offset_only():
    src = np.full((10, 10, 3), 100, np.uint8)
    fit = comp.fit_gain_offset(src, src + 7, np.ones((10, 10), bool))
    assert np.allclose(fit.gain, 1) and np.allclose(fit.offset, 7)


@pytest.mark.parametrize("channels", [3, 4], ids=["rgb", "rgba"])
def test_composite_is_exact_at_0_and_255(channels):
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (6, 6, channels)).astype(np.uint8)
    patch = rng.integers(0, 256, (6, 6, 4)).astype(np.uint8)
    patch[..., 3] = 255
    mask = np.zeros((6, 6), np.uint8)
    mask[:, 2] = 255
    mask[:, 3] = 128
    out = comp.composite(base, patch, mask)
    assert np.array_equal(out[:, :2], base[:, :2]) and np.array_equal(out[:, 4:], base[:, 4:])
    assert np.array_equal(out[:, 2], patch[:, 2, :channels])
    mid = out[:, 3, :3].astype(int)
    lo = np.minimum(base[:, 3, :3], patch[:, 3, :3]).astype(int)
    hi = np.maximum(base[:, 3, :3], patch[:, 3, :3]).astype(int)
    assert ((mid >= lo - 1) & (mid <= hi + 1)).all()


def test_composite_rgba_ignores_colour_of_transparent_pixels():
    base = np.zeros((1, 1, 4), np.uint8)
    base[..., :3] = 255  # white but fully transparent
    patch = np.array([[[10, 20, 30, 255]]], np.uint8)
    out = comp.composite(base, patch, np.array([[128]], np.uint8))
    assert out[0, 0, :3].tolist() == [10, 20, 30] and out[0, 0, 3] == 128
