"""Registration against answers and pictures meant to fool it: it refuses or stays right, and
never leaves a result worse than placing without it (tests/alignment_cases.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from bianxie_core import registration as reg
from tests.alignment_cases import PAINT, Edit, ellipse, mean_error, paint_offset, photo
from tests.fakeapi.redraw import REALISTIC, Redraw
from tests.test_registration import drifted, kept_around, similarity


def bricks(shape=(500, 741), width=24, height=12) -> np.ndarray:
    """A wall of identical bricks: every period of it looks the same."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    shifted = xx + (yy // height % 2) * (width // 2)
    mortar = (yy % height < 2) | (shifted % width < 2)
    return np.where(mortar[..., None], np.uint8(200),
                    np.array([170, 80, 60], np.uint8)).astype(np.uint8)


def stripes(shape=(400, 600), period=14) -> np.ndarray:
    """Vertical stripes: a shift along them cannot be told."""
    h, w = shape
    xx = np.arange(w)[None, :].repeat(h, 0)
    grey = (128 + 80 * np.sin(2 * np.pi * xx / period)).astype(np.uint8)
    return np.dstack([grey] * 3)


@pytest.mark.parametrize("shift", [(14, 0), (0, 8), (5, 3)])
def test_a_repeating_texture_is_refused_rather_than_aliased(shift):
    pixels = bricks()
    edit = Edit(pixels, ellipse(pixels.shape, (0.5, 0.5), (0.15, 0.18)))
    k = edit.plan.api_size.width / edit.plan.canvas.width  # answer px a layer px
    drift = Redraw(dx=shift[0] * k, dy=shift[1] * k)
    placement = edit.placer("align").place(edit.answer(drift))
    assert placement.alignment["status"] == "refused"
    assert placement.alignment["reason"] == "ambiguous"
    assert "repeats itself" in placement.alignment["note"]
    painted, asked = edit.answer(drift, PAINT), edit.answer(Redraw(), PAINT)
    assert paint_offset(edit, painted, asked, "align") == pytest.approx(
        paint_offset(edit, painted, asked, "off"), abs=1e-6)


def test_stripes_leave_the_shift_along_them_unknown():  # the predicted error says so
    original = stripes()
    h, w = original.shape[:2]
    kept = kept_around(original.shape)
    answer = drifted(original, similarity(0, 9, 1.0, 0.0, (w / 2, h / 2)))
    found = reg.Registrar(reg.luma(original), kept).estimate(reg.luma(answer))
    assert found.status == "refused"


def test_a_textured_wall_whose_bricks_differ_is_still_aligned():
    pixels = bricks().astype(np.int16)
    rng = np.random.default_rng(1)
    h, w = pixels.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    row = yy // 12
    tone = rng.normal(0, 6, (row.max() + 1, (w + 12) // 24 + 1))
    pixels = np.clip(pixels + tone[row, (xx + row % 2 * 12) // 24][..., None], 0, 255)
    pixels = pixels.astype(np.uint8)
    edit = Edit(pixels, ellipse(pixels.shape, (0.5, 0.5), (0.15, 0.18)))
    k = edit.plan.api_size.width / edit.plan.canvas.width
    answer = edit.answer(Redraw(dx=20 * k))
    result, placement = edit.place(answer, "align")
    assert placement.alignment["status"] == "corrected"
    assert placement.alignment["dx"] == pytest.approx(20, abs=0.1)
    assert mean_error(result, pixels, edit.selected()) < 3


@pytest.fixture(scope="module")
def issue_edit():
    pixels = photo("coffee.png", (741, 500))
    return Edit(pixels, ellipse(pixels.shape, (0.2, 0.25), (0.12, 0.15)))


def _toned(answer: Image.Image, kind: str) -> Image.Image:
    a = np.asarray(answer).astype(np.float32)
    h, w = a.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    if kind == "vignette":
        gain = 1 - 0.4 * (((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2)
    else:
        gain = 0.7 + 0.6 * xx / w
    return Image.fromarray(np.clip(np.rint(a * gain[..., None]), 0, 255).astype(np.uint8))


@pytest.mark.parametrize("kind", ["vignette", "ramp"])
def test_a_tone_drift_without_a_geometric_one_is_not_taken_for_a_drift(issue_edit, kind):
    answer = _toned(issue_edit.answer(Redraw()), kind)
    result, placement = issue_edit.place(answer, "align")
    off, _placement = issue_edit.place(answer, "off")
    assert placement.alignment["status"] == "aligned"
    assert placement.alignment["moved"] < 0.1
    assert np.abs(result.astype(int) - off.astype(int)).max() <= 1


def _answers(edit: Edit) -> dict:
    a = np.asarray(edit.answer(REALISTIC))
    return {
        "mirrored": Image.fromarray(np.ascontiguousarray(a[:, ::-1])),
        "rotated 90°": Image.fromarray(np.ascontiguousarray(np.rot90(a))),
        "another picture": Image.fromarray(photo("astronaut.png", a.shape[1::-1])),
        "black": Image.fromarray(np.zeros_like(a)),
        "float NaN": Image.fromarray(np.full(a.shape[:2], np.nan, np.float32)),
        "shifted 10 %": edit.answer(Redraw(dx=0.1 * a.shape[1])),
        "scaled 10 %": edit.answer(Redraw(scale=1.1)),
    }


@pytest.mark.parametrize("name", ["mirrored", "rotated 90°", "another picture", "black",
                                  "float NaN", "shifted 10 %", "scaled 10 %"])
def test_an_answer_that_cannot_be_aligned_is_placed_as_without_registration(issue_edit, name):
    answer = _answers(issue_edit)[name]
    result, placement = issue_edit.place(answer, "align")
    off, _placement = issue_edit.place(answer, "off")
    assert placement.alignment["status"] == "refused"
    assert np.array_equal(result, off)
    assert all(math.isfinite(v) for v in placement.alignment.values() if isinstance(v, float))


def test_a_drift_beyond_the_stated_range_is_refused_or_still_right(issue_edit):
    answer = issue_edit.answer(Redraw(rotation=5.0))  # the range stated is 2°
    result, placement = issue_edit.place(answer, "align")
    off, _placement = issue_edit.place(answer, "off")
    found = placement.alignment
    if found["status"] == "corrected":
        assert found["rotation"] == pytest.approx(5.0, abs=0.05)
    selected = issue_edit.selected()
    assert mean_error(result, issue_edit.pixels, selected) <= mean_error(
        off, issue_edit.pixels, selected)


def _box(shape, x0, y0, x1, y1) -> np.ndarray:
    out = np.zeros(shape[:2], np.uint8)
    out[y0:y1, x0:x1] = 255
    return out


@pytest.mark.parametrize("box", [(0, 0, 12, 12), (729, 200, 741, 215), (300, 100, 301, 400),
                                 (100, 250, 600, 251), (8, 6, 733, 494)],
                         ids=["tiny corner", "tiny edge", "1xN", "Nx1", "95 %"])
def test_odd_selections_are_never_made_worse(box):
    pixels = photo("coffee.png", (741, 500))
    edit = Edit(pixels, _box(pixels.shape, *box))
    answer = edit.answer(REALISTIC)
    result, placement = edit.place(answer, "align")
    again, _placement = edit.place(answer, "align")
    off, _placement = edit.place(answer, "off")
    assert np.array_equal(result, again)  # deterministic
    selected = edit.selected()
    assert mean_error(result, pixels, selected) <= mean_error(off, pixels, selected) + 0.05
    outside = ~np.zeros(pixels.shape[:2], bool)
    outside[edit.plan.region.slices] = False
    assert np.array_equal(result[outside], pixels[outside])


@pytest.mark.parametrize("size", [(432, 1024), (1024, 432)], ids=["3:7", "7:3"])
def test_a_square_canvas_cropped_to_3_7_is_aligned_on_what_the_answer_holds(size):
    from dataclasses import replace
    pixels = photo("astronaut.png")
    edit = Edit(pixels, ellipse(pixels.shape))
    assert tuple(edit.plan.api_size) == (1024, 1024)
    answer = edit.answer(replace(REALISTIC, framing="cover"), size=size)
    result, placement = edit.place(answer, "align")
    off, _placement = edit.place(answer, "off")
    found = placement.alignment
    assert (found["status"], found.get("framing")) == ("corrected", "cover")
    selected = edit.selected()
    assert mean_error(result, pixels, selected) < mean_error(off, pixels, selected) / 3


@pytest.mark.parametrize("colour_type", [0, 2], ids=["grey 16-bit", "RGB 48-bit"])
def test_a_drifted_16_bit_answer_is_aligned_like_its_8_bit_version(issue_edit, colour_type):
    from tests.test_region_align import _png16
    answer = np.asarray(issue_edit.answer(REALISTIC))
    if colour_type == 0:
        answer = np.asarray(Image.fromarray(answer).convert("L"))
    placer = issue_edit.placer("align")
    eight = placer.place(Image.fromarray(answer).convert("RGB"))
    sixteen = placer.place(_png16(answer.astype(np.uint16) * 257, colour_type))
    assert eight.alignment["status"] == sixteen.alignment["status"] == "corrected"
    assert np.abs(sixteen.patch.astype(int) - eight.patch.astype(int)).max() <= 1
