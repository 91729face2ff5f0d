"""Placing answers from a model that redraws: aligned, diagnosed, or left alone when there is
nothing to align to (tests/alignment_cases.py, tests/fakeapi/redraw.py)."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from bianxie_core import config as configmod
from bianxie_core.placement import apply_placement, place
from bianxie_core.upload import prepare
from bianxie_core.geometry import Extent
from bianxie_core.planning import RegionOptions, plan_expand
from tests.alignment_cases import (
    DRIFTS,
    PAINT,
    OTHER_SHAPE,
    Edit,
    ellipse,
    mean_error,
    paint_offset,
    photo,
)
from tests.fakeapi.redraw import REALISTIC, Redraw
from tests.test_client import DATA, run_cli

IGNORED = "it may ignore the mask"
MOVED = [name for name in DRIFTS if name != "none" and name not in OTHER_SHAPE]


@pytest.fixture(scope="module")
def issue_edit():
    """The issue's case: a 741×500 photo, an elliptic selection, answers at 1536x1024."""
    pixels = photo("coffee.png", (741, 500))
    return Edit(pixels, ellipse(pixels.shape))


@pytest.fixture(scope="module")
def astronaut_edit():
    pixels = photo("astronaut.png")
    return Edit(pixels, ellipse(pixels.shape))


@pytest.mark.parametrize("redraw", [
    Redraw(),
    replace(REALISTIC, dx=0, dy=0, scale=1.0, rotation=0.0, spill=0),
], ids=["exact", "re-toned, soft, noisy, recompressed"])
def test_an_answer_that_did_not_drift_is_placed_as_before(issue_edit, redraw):
    answer = issue_edit.answer(redraw)
    aligned, placement = issue_edit.place(answer, "align")
    before, _unaligned = issue_edit.place(answer, "off")
    assert placement.alignment["status"] == "aligned"
    assert "note" not in placement.alignment and placement.warnings == ()
    assert np.abs(aligned.astype(int) - before.astype(int)).max() <= 1


@pytest.mark.parametrize("name", MOVED)
def test_a_drift_within_range_is_taken_out_of_an_edit_that_changes_nothing(issue_edit, name):
    answer = issue_edit.answer(DRIFTS[name])
    aligned, placement = issue_edit.place(answer, "align")
    before, _unaligned = issue_edit.place(answer, "off")
    inside = issue_edit.selected()
    error = mean_error(aligned, issue_edit.pixels, inside)
    assert error <= 3.0
    if name.startswith("sub-pixel"):  # 0.4 px of the answer: 0.16 px of the photo
        assert placement.alignment["status"] in ("aligned", "corrected")
    else:
        assert placement.alignment["status"] == "corrected"
        assert mean_error(before, issue_edit.pixels, inside) > error + 3


@pytest.mark.parametrize("name", ["issue (6 px, 2.5 %, 0.6°)", "limit (3 %, 3 %, 2°)",
                                  "realistic fake"])
def test_drifts_on_another_photo(astronaut_edit, name):
    aligned, placement = astronaut_edit.place(astronaut_edit.answer(DRIFTS[name]), "align")
    assert mean_error(aligned, astronaut_edit.pixels, astronaut_edit.selected()) <= 3.0


@pytest.mark.parametrize("name", ["shift (6, -4 px)", "issue, larger (8 px, 2 %)",
                                  "limit (3 %, 3 %, 2°)", "realistic fake"])
@pytest.mark.parametrize("centre", [(0.5, 0.5), (0.2, 0.25)], ids=["middle", "near a corner"])
def test_the_painted_area_lands_where_it_was_asked(name, centre):
    pixels = photo("coffee.png", (741, 500))
    edit = Edit(pixels, ellipse(pixels.shape, centre, (0.12, 0.15)))
    asked = edit.answer(Redraw(spill=DRIFTS[name].spill), PAINT)
    answer = edit.answer(DRIFTS[name], PAINT)
    assert paint_offset(edit, answer, asked, "align") <= 0.5
    assert paint_offset(edit, answer, asked, "off") > 1.0


@pytest.mark.parametrize("name", sorted(OTHER_SHAPE))
def test_an_answer_of_another_shape_is_framed_and_aligned(issue_edit, name):
    answer = issue_edit.answer(DRIFTS[name], size=issue_edit.other_size())
    aligned, placement = issue_edit.place(answer, "align")
    assert placement.alignment["framing"] == DRIFTS[name].framing
    assert mean_error(aligned, issue_edit.pixels, issue_edit.selected()) <= 3.0
    assert any("framed its own way" in w for w in placement.warnings)
    assert not any("stretched" in w for w in placement.warnings)


def test_a_corrected_drift_is_recorded_and_only_a_large_one_warned_about(issue_edit):
    _result, small = issue_edit.place(issue_edit.answer(DRIFTS["shift (6, -4 px)"]), "align")
    assert small.alignment["status"] == "corrected" and small.warnings == ()
    assert small.alignment["dx"] == pytest.approx(6 * 600 / 1536, abs=0.1)
    assert "moved back into place" in small.alignment["note"]
    _result, large = issue_edit.place(issue_edit.answer(DRIFTS["limit (3 %, 3 %, 2°)"]), "align")
    assert large.alignment["rotation"] == pytest.approx(-2.0, abs=0.05)
    assert len(large.warnings) == 1 and large.warnings[0] == large.alignment["warning"]
    assert large.warnings[0].startswith(large.alignment["note"])


def test_a_pure_drift_is_no_longer_taken_for_an_ignored_mask(astronaut_edit):
    answer = astronaut_edit.answer(DRIFTS["issue, larger (8 px, 2 %)"])
    _result, before = astronaut_edit.place(answer, "off")
    _result, placement = astronaut_edit.place(answer, "align")
    assert any(IGNORED in w for w in before.warnings)  # the wrong diagnosis, before
    assert not any(IGNORED in w for w in placement.warnings)


def test_an_answer_that_redrew_the_surroundings_still_gets_the_warning(issue_edit):
    source = Image.open(io.BytesIO(issue_edit.upload.image)).convert("RGB")
    inverted = Image.fromarray(255 - np.asarray(source.resize((1536, 1024))))
    result, placement = issue_edit.place(inverted, "align")
    before, _unaligned = issue_edit.place(inverted, "off")
    assert placement.alignment["status"] == "refused"
    assert any(IGNORED in w for w in placement.warnings)
    assert np.array_equal(result, before)


def _flat_photo(shape=(500, 741)) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(5)
    grey = 110 + 50 * yy / h + 20 * xx / w + rng.normal(0, 1.5, (h, w))
    grey = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    return np.dstack([grey, np.clip(grey.astype(int) + 10, 0, 255).astype(np.uint8), grey])


@pytest.mark.parametrize("pixels,coverage,reason", [
    (_flat_photo(), ellipse((500, 741)), "flat"),
    (photo("coffee.png", (741, 500)), np.pad(np.full((480, 721), 255, np.uint8), 10),
     "little-kept"),
], ids=["flat surroundings", "a large edit"])
def test_nothing_to_align_to_leaves_the_answer_as_before(pixels, coverage, reason):
    edit = Edit(pixels, coverage)
    answer = edit.answer(DRIFTS["issue (6 px, 2.5 %, 0.6°)"])
    result, placement = edit.place(answer, "align")
    before, _unaligned = edit.place(answer, "off")
    assert placement.alignment["status"] == "refused"
    assert placement.alignment["reason"] == reason
    assert placement.alignment["note"] and placement.warnings == _unaligned.warnings
    assert np.array_equal(result, before)


def test_align_off_places_the_raw_answer(issue_edit):
    answer = issue_edit.answer(DRIFTS["shift (6, -4 px)"])
    off = replace(issue_edit.options, align=False)
    placement = place(issue_edit.plan, issue_edit.crop_pixels, issue_edit.crop_coverage,
                             answer, off)
    assert placement.alignment is None
    _result, before = issue_edit.place(answer, "off")
    assert np.array_equal(placement.patch, before.patch)


def test_expand_aligns_on_the_old_canvas():
    pixels = photo("coffee.png")
    options = RegionOptions()
    from bianxie_core.models import get_model

    plan = plan_expand(Extent(600, 400), get_model("gpt-image-1.5"), options,
                       margins=(100, 0, 100, 0))
    crop = pixels[plan.crop.slices]
    upload = prepare(plan, crop, None, options)
    first = Image.open(io.BytesIO(upload.image))
    mask = Image.open(io.BytesIO(upload.mask))
    from tests.fakeapi.redraw import render

    answer = Image.fromarray(render(first, mask, tuple(plan.api_size),
                                    Redraw(dx=8, dy=-5, scale=1.015, rotation=0.4)))
    errors = {}
    for align in (True, False):
        placement = place(plan, crop, None, answer, replace(options, align=align))
        result = apply_placement(np.dstack([pixels, np.full((400, 600), 255, np.uint8)]),
                                        placement)
        ox, oy = placement.origin
        old = result[oy:oy + 400, ox:ox + 600, :3]
        mask_old = placement.mask[oy - placement.y:oy - placement.y + 400,
                                  ox - placement.x:ox - placement.x + 600]
        errors[align] = mean_error(old, pixels, mask_old > 0)
        if align:
            assert placement.alignment["status"] == "corrected"
    assert errors[True] <= 3.0 < errors[False]


# --- 16-bit answers --------------------------------------------------------------------------


def _png16(values: np.ndarray, colour_type: int) -> bytes:
    """A 16-bit PNG of ``values`` (uint16; grey, or RGB with colour type 2)."""
    h, w = values.shape[:2]
    rows = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("colour_type", [0, 2], ids=["grey I;16", "RGB 48-bit"])
def test_a_16_bit_answer_is_placed_like_its_8_bit_version(issue_edit, colour_type):
    answer = np.asarray(issue_edit.answer(Redraw()))
    if colour_type == 0:
        answer = np.asarray(Image.fromarray(answer).convert("L"))
    wide = answer.astype(np.uint16) * 257
    placer = issue_edit.placer("align")
    eight = placer.place(Image.fromarray(answer).convert("RGB"))
    sixteen = placer.place(_png16(wide, colour_type))
    assert np.abs(sixteen.patch.astype(int) - eight.patch.astype(int)).max() <= 1


# --- through the fake server ----------------------------------------------------------------


@pytest.mark.parametrize("setting", [True, False], ids=["align on", "config: align off"])
def test_inpaint_against_a_redrawing_fake(srv1, tmp_path, capsys, setting):  # noqa: F811
    pixels = photo("coffee.png")
    (tmp_path / "in.png").write_bytes(open(DATA / "coffee.png", "rb").read())
    coverage = ellipse(pixels.shape, radii=(0.15, 0.18))
    Image.fromarray(coverage, "L").save(tmp_path / "sel.png")
    configmod.update(align=setting)
    srv1.fill = "echo"
    srv1.redraw = Redraw(dx=14, dy=-9, scale=1.02, rotation=0.7, noise=1.0, jpeg=92)
    code, out, err = run_cli(["inpaint", "--image", str(tmp_path / "in.png"), "--selection",
                              str(tmp_path / "sel.png"), "-p", "nothing", "-m", "gpt-image-1",
                              "-q", "low", "-o", str(tmp_path / "out.png"), "--quiet"], capsys)
    assert code == 0, err
    result = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    error = mean_error(result, pixels, coverage > 0)
    assert (error <= 3.0) if setting else (error > 6.0), error
    srv1.reset()
    assert srv1.redraw is None


def test_the_config_takes_align_as_on_or_off():
    assert configmod.coerce("align", "off") is False
    assert configmod.coerce("align", "on") is True
    assert configmod.Config().align is True


def test_where_a_cropped_answer_holds_nothing_the_original_is_kept():
    pixels = photo("coffee.png", (741, 500))
    edit = Edit(pixels, ellipse(pixels.shape, (0.2, 0.25), (0.12, 0.15)))
    answer = edit.answer(DRIFTS["another shape, cropped"], size=edit.other_size())
    result, placement = edit.place(answer, "align")
    assert placement.alignment["framing"] == "cover"
    cut = (placement.mask == 0) & (edit.placer("align").mask > 0)
    assert cut.sum() > 1000  # the top of the canvas, cropped away by the model
    inside = result[placement.bounds.slices]
    assert np.array_equal(inside[cut], pixels[placement.bounds.slices][cut])
