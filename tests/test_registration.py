"""registration.py on known transforms: what it recovers, and when it refuses to guess."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from bianxie_core import registration as reg
from bianxie_core import resampling
from tests.alignment_cases import photo

PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]
SUPER = 3


def similarity(dx, dy, scale, degrees, centre) -> np.ndarray:
    """Original → answer: scaled and rotated about ``centre``, then shifted by (dx, dy)."""
    t = math.radians(degrees)
    c, s = scale * math.cos(t), scale * math.sin(t)
    cx, cy = centre
    return np.array([[c, -s, cx + dx - c * cx + s * cy],
                     [s, c, cy + dy - s * cx - c * cy], [0, 0, 1.0]])


def drifted(rgb: np.ndarray, matrix: np.ndarray, noise=0.0, seed=0) -> np.ndarray:
    """``rgb`` redrawn with its content moved by ``matrix`` (a margin of edge beyond).

    Resampled at 3× the size and reduced: Keys' cubic resampling at the image's own size
    would itself move fine detail by up to 0.07 px, more than the estimate may be off."""
    h, w = rgb.shape[:2]
    pad, k = 64, SUPER
    padded = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), "edge")
    big = Image.fromarray(padded).resize((padded.shape[1] * k, padded.shape[0] * k),
                                         Image.Resampling.LANCZOS)
    a, b, c, d, e, f = np.linalg.inv(matrix)[:2].ravel()
    moved = big.transform((w * k, h * k), Image.Transform.AFFINE,
                          (a, b, k * (c + pad), d, e, k * (f + pad)), Image.Resampling.BICUBIC)
    out = np.asarray(moved.reduce(k))
    if noise:
        rng = np.random.default_rng(seed)
        out = np.clip(np.rint(out + rng.normal(0, noise, out.shape)), 0, 255).astype(np.uint8)
    return out


def kept_around(shape, share=0.3) -> np.ndarray:
    """All but a centred ellipse covering about ``share`` of the image (the edit)."""
    h, w = shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    r = math.sqrt(share / math.pi)
    return ((xx + 0.5 - w / 2) / (r * w)) ** 2 + ((yy + 0.5 - h / 2) / (r * h)) ** 2 > 1


def flat(shape=(400, 600), noise=2.0) -> np.ndarray:
    """A smooth sky-like gradient with sensor noise: nothing to register on."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    base = 120 + 40 * yy / h + 10 * xx / w
    rng = np.random.default_rng(3)
    grey = np.clip(np.rint(base + rng.normal(0, noise, base.shape)), 0, 255).astype(np.uint8)
    return np.dstack([grey, grey, grey])


def estimate(original, answer, kept, area=None):
    registrar = reg.Registrar(reg.luma(original), kept, area)
    return registrar.estimate(reg.luma(answer))


KNOWN = [
    (0.3, -0.2, 1.0, 0.0),
    (7.6, -5.4, 1.0, 0.0),
    (0.0, 0.0, 1.02, 0.0),
    (0.0, 0.0, 1.0, 1.5),
    (-4.1, 2.7, 0.985, -0.8),
]


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("dx,dy,scale,degrees", KNOWN)
def test_a_known_similarity_is_recovered_to_a_tenth_of_a_pixel(name, dx, dy, scale, degrees):
    original = photo(name)
    h, w = original.shape[:2]
    centre = (w / 2, h / 2)
    answer = drifted(original, similarity(dx, dy, scale, degrees, centre), noise=1.5)
    found = estimate(original, answer, kept_around(original.shape))
    assert found.status == "corrected"
    got_dx, got_dy = found.drift.shift
    assert abs(got_dx - dx) <= 0.1 and abs(got_dy - dy) <= 0.1
    assert abs(found.drift.scale - scale) <= 0.001 * scale
    assert abs(found.drift.rotation - degrees) <= 0.05


@pytest.mark.parametrize("name", PHOTOS)
def test_random_drifts_within_range_are_recovered(name):
    """3 % of the longer side, 3 % scale, 2°, with noise and a tone drift: every corner of the
    image lands within 0.25 px of where it should."""
    original = photo(name)
    h, w = original.shape[:2]
    kept = kept_around(original.shape)
    registrar = reg.Registrar(reg.luma(original), kept)
    rng = np.random.default_rng(sum(map(ord, name)))
    for _ in range(6):
        dx, dy = rng.uniform(-0.03, 0.03, 2) * max(w, h)
        scale, degrees = 1 + rng.uniform(-0.03, 0.03), rng.uniform(-2, 2)
        truth = similarity(dx, dy, scale, degrees, (w / 2, h / 2))
        answer = drifted(original, truth, noise=2.0, seed=int(rng.integers(1 << 30)))
        answer = np.clip(answer * 1.06 - 4, 0, 255).astype(np.uint8)
        found = registrar.estimate(reg.luma(answer))
        assert found.status == "corrected", (dx, dy, scale, degrees, found)
        error = reg.Drift(found.drift.matrix @ np.linalg.inv(truth), (0, 0))
        assert error.displacement((0, 0, w, h)) <= 0.25, (dx, dy, scale, degrees)


def test_no_drift_is_aligned_and_leaves_nothing_to_do():
    original = photo("coffee.png")
    answer = drifted(original, np.eye(3), noise=2.0)
    found = estimate(original, answer, kept_around(original.shape))
    assert found.status == "aligned"
    assert found.displacement < reg.ALIGNED


@pytest.mark.parametrize("seed", range(4))
def test_flat_surroundings_are_refused_whatever_the_drift(seed):
    original = flat()
    rng = np.random.default_rng(seed)
    truth = similarity(*rng.uniform(-12, 12, 2), 1 + rng.uniform(-0.03, 0.03),
                       rng.uniform(-2, 2), (300, 200))
    found = estimate(original, drifted(original, truth, noise=2.0, seed=seed),
                     kept_around(original.shape))
    assert (found.status, found.reason) == ("refused", "flat")


def test_a_large_edit_leaves_too_little_to_register_on():
    original = photo("astronaut.png")
    kept = np.zeros(original.shape[:2], bool)
    kept[:60, :60] = True  # a corner of 3600 pixels, 1.4 %
    found = estimate(original, original, kept)
    assert (found.status, found.reason) == ("refused", "little-kept")


def test_an_answer_that_redrew_everything_is_not_aligned_to_anything():
    original = photo("coffee.png")
    other = np.asarray(Image.fromarray(photo("rocket.jpg")).resize(original.shape[1::-1]))
    found = estimate(original, other, kept_around(original.shape))
    assert found.status == "refused" and found.reason in ("no-match", "no-gain")


def test_only_the_kept_area_counts():
    """An edit that spills a different picture over most of the edited ellipse does not pull
    the estimate: it is measured on the kept area only."""
    original = photo("astronaut.png")
    h, w = original.shape[:2]
    truth = similarity(5.3, -2.2, 1.01, 0.4, (w / 2, h / 2))
    answer = drifted(original, truth, noise=1.0).copy()
    edit = ~kept_around(original.shape)
    answer[edit] = 255 - answer[edit]
    found = estimate(original, answer, kept_around(original.shape))
    assert found.status == "corrected"
    error = reg.Drift(found.drift.matrix @ np.linalg.inv(truth), (0, 0))
    assert error.displacement((0, 0, w, h)) <= 0.1


def test_warp_takes_the_drift_out():
    original = photo("chelsea.png")
    h, w = original.shape[:2]
    truth = similarity(3.5, -2.25, 1.0, 0.0, (w / 2, h / 2))
    answer = drifted(original, truth)
    back = resampling.warp(answer, truth)
    inner = (slice(10, h - 10), slice(10, w - 10))
    error = np.abs(back[inner].astype(int) - original[inner].astype(int)).mean()
    assert error < 2.0
    assert np.abs(answer[inner].astype(int) - original[inner].astype(int)).mean() > 8


def test_warp_touches_only_the_bands_asked_for_and_the_identity_changes_nothing():
    original = photo("chelsea.png")
    assert np.array_equal(resampling.warp(original, np.eye(3)), original)
    where = np.zeros(original.shape[:2], bool)
    where[50:100, 60:200] = True
    where[150:170, 20:40] = True
    moved = resampling.warp(original, similarity(4, 4, 1, 0, (0, 0)), where)
    inside = np.zeros(original.shape[:2], bool)  # bands of 48 rows from row 50, in the
    inside[50:146, 60:200] = True  # columns that need them
    inside[146:194, 20:40] = True
    assert np.array_equal(moved[~inside], original[~inside])
    assert np.array_equal(moved[50:100, 60:200], original[54:104, 64:204])
    assert np.array_equal(moved[150:170, 20:40], original[154:174, 24:44])


def test_drift_reports_shift_scale_and_rotation_about_its_centre():
    drift = reg.Drift(similarity(2, -1, 1.02, 1.5, (100, 50)), (100, 50))
    assert drift.shift == pytest.approx((2, -1))
    assert drift.scale == pytest.approx(1.02)
    assert drift.rotation == pytest.approx(1.5)
    assert drift.summary() == {"dx": 2.0, "dy": -1.0, "scale": 1.02, "rotation": 1.5}


def test_a_large_region_is_registered_on_a_reduced_copy():
    original = np.asarray(Image.fromarray(photo("coffee.png")).resize((2100, 1400),
                                                                       Image.Resampling.LANCZOS))
    h, w = original.shape[:2]
    truth = similarity(9.3, -4.6, 1.012, 0.5, (w / 2, h / 2))
    registrar = reg.Registrar(reg.luma(original), kept_around(original.shape))
    assert registrar.step == 2
    found = registrar.estimate(reg.luma(drifted(original, truth, noise=1.0)))
    assert found.status == "corrected"
    error = reg.Drift(found.drift.matrix @ np.linalg.inv(truth), (0, 0))
    assert error.displacement((0, 0, w, h)) <= 0.25


@pytest.mark.parametrize("scale,degrees,tolerance", [
    (1.0, 0.0, 0.45), (1.013, 0.0, 0.45), (0.99, 0.7, 0.8)], ids=["shift", "scale", "rotation"])
def test_warp_puts_a_smooth_picture_where_the_matrix_says(scale, degrees, tolerance):
    """Upright drifts take Pillow's separable resize, rotated ones its affine transform; both
    sample where the matrix says (checked against the picture's formula)."""
    h, w = 300, 400
    yy, xx = np.mgrid[0:h, 0:w] + 0.5

    def picture(x, y):
        return 128 + 60 * np.sin(x / 9.0) * np.cos(y / 13.0)

    grey = np.clip(np.rint(picture(xx, yy)), 0, 255).astype(np.uint8)
    rgb = np.dstack([grey, grey, grey])
    matrix = similarity(3.3, -1.7, scale, degrees, (w / 2, h / 2))
    where = np.zeros((h, w), bool)
    where[30:270, 40:360] = True
    moved = resampling.warp(rgb, matrix, where)[..., 0].astype(float)
    px = matrix[0, 0] * xx + matrix[0, 1] * yy + matrix[0, 2]
    py = matrix[1, 0] * xx + matrix[1, 1] * yy + matrix[1, 2]
    assert np.abs(moved - picture(px, py))[where].mean() < tolerance


def test_the_coarse_peak_tells_the_right_picture_from_another():
    original = photo("coffee.png")
    kept = kept_around(original.shape)
    registrar = reg.Registrar(reg.luma(original), kept)
    h, w = original.shape[:2]
    drifted_one = drifted(original, similarity(6, -4, 1.01, 0.5, (w / 2, h / 2)))
    taller = Image.fromarray(original).resize((w, round(h * 1.3)))  # framed another way
    squeezed = np.asarray(taller.crop((0, round(h * 0.15), w, round(h * 0.15) + h)))
    assert registrar.peak(reg.luma(drifted_one)) > 0.8
    assert registrar.peak(reg.luma(drifted_one)) > registrar.peak(reg.luma(squeezed)) + 0.2
