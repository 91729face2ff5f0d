"""The selection-to-result pipeline, with the server simulated in-process.

Each simulated server takes the Upload and answers with an image, as a relay might: fill the
masked area, shift the tone, ignore the mask, echo, or answer in another size.
"""

from __future__ import annotations

import io
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bianxie_core import compositing as comp
from bianxie_core import planning
from bianxie_core.errors import ResponseError, UsageError
from bianxie_core.geometry import Bounds, Extent
from bianxie_core.models import free_size_problem, get_model
from bianxie_core.planning import (
    MAX_EXPAND_PIXELS,
    RegionOptions,
    free_size_for,
    plan_edit,
    plan_expand,
)
from bianxie_core.image_codec import encode_image
from bianxie_core.placement import Placer, apply_placement, place, recovered_position
from bianxie_core.upload import fit_reference, prepare

DATA = Path(__file__).resolve().parent / "data"
FIXED = get_model("gpt-image-1.5")
FREE = get_model("gpt-image-2")
MODELS = pytest.mark.parametrize("model", [FIXED, FREE], ids=["fixed", "free"])
FILL = (200, 60, 40)
# JPEG uploads are ~5x faster to encode than PNG; PNG (the default) is used by the alignment
# tests and test_upload_formats.
OPTIONS = RegionOptions(upload_format="jpeg")
PNG = RegionOptions()
BAND = OPTIONS.grow + OPTIONS.feather


def photo(name: str) -> np.ndarray:
    return np.asarray(Image.open(DATA / name).convert("RGB"))


# --- simulated servers ---------------------------------------------------------------------


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def edit_area(upload) -> np.ndarray:
    """Where the uploaded mask lets the model edit, at the uploaded size."""
    image = _decode(upload.image)
    if upload.mask is None:
        return np.ones(image.shape[:2], bool)
    return _decode(upload.mask)[..., 3] == 0


def asked_size(upload) -> tuple[int, int]:
    width, height = upload.size.split("x")
    return int(width), int(height)


def received(upload) -> tuple[Image.Image, np.ndarray]:
    """What a model works on: the image at the size asked for, and where the mask lets it
    edit (the mask scaled the same way, nearest neighbour)."""
    image = Image.open(io.BytesIO(upload.image)).convert("RGB")
    size = asked_size(upload)
    if upload.mask is None:
        where = np.ones((size[1], size[0]), bool)
    else:
        alpha = Image.open(io.BytesIO(upload.mask)).getchannel("A")
        where = np.asarray(alpha.resize(size, Image.Resampling.NEAREST)) == 0
    return image.resize(size, Image.Resampling.LANCZOS), where


def fill(colour=FILL, gain=1.0, offset=0.0, everywhere=False, size=None):
    """Paint ``colour`` where the mask allows (or everywhere), then shift every pixel's tone
    by ``gain``/``offset``, then answer in ``size`` when given (else the size asked for)."""

    def server(upload):
        base, where = received(upload)
        image = np.asarray(base).astype(np.float32)
        image[np.ones(where.shape, bool) if everywhere else where] = colour
        out = Image.fromarray(np.clip(np.rint(image * gain + offset), 0, 255).astype(np.uint8))
        return out.resize(size, Image.Resampling.LANCZOS) if size else out

    return server


def echo(size=None):
    def server(upload):
        out, _where = received(upload)
        return out.resize(size, Image.Resampling.LANCZOS) if size else out

    return server


def run(layer, coverage, server, model=FIXED, options=OPTIONS, selection="auto"):
    """The host's part: plan, read only the crop, send, place, composite."""
    if selection == "auto":
        selection = None if coverage is None else bbox(coverage)
    plan = plan_edit(Extent(layer.shape[1], layer.shape[0]), selection, model, options)
    pixels = layer[plan.crop.slices]
    cov = None if coverage is None else coverage[plan.crop.slices]
    upload = prepare(plan, pixels, cov, options)
    placement = place(plan, pixels, cov, server(upload), options)
    return apply_placement(layer, placement), placement, plan, upload


def bbox(mask) -> Bounds:
    ys, xs = np.nonzero(mask)
    return Bounds.from_corners(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def rect(shape, x, y, w, h, value=255):
    m = np.zeros(shape[:2], np.uint8)
    m[y:y + h, x:x + w] = value
    return m


def outside_band(coverage, width=BAND):
    return ~comp.dilate(coverage > 0, width)


def core(coverage):
    full = coverage == 255
    return full & ~comp.dilate(~full, 1)


def assert_outside_untouched(out, layer, coverage):
    assert out.shape == layer.shape and out.dtype == np.uint8
    keep = outside_band(coverage)
    assert keep.any()
    assert np.array_equal(out[keep], layer[keep])


def assert_core_is(out, coverage, colour=FILL, tol=3):
    c = core(coverage)
    assert c.any()
    diff = np.abs(out[c][:, :3].astype(int) - np.array(colour)).max()
    assert diff <= tol, diff


# --- rule 3: outside untouched, core = the fill, for every kind of answer -------------------

SERVERS = {
    "fill": (fill(), False),
    "fill+tone-shift": (fill(gain=1.1, offset=12), False),
    "ignore-mask": (fill(everywhere=True), True),
    "other-size": (fill(size=(800, 600)), False),
    "other-size+ignore": (fill(everywhere=True, size=(1280, 720)), True),
}


def test_a_placer_made_before_the_answer_places_every_variant_as_place_does():
    layer = photo("chelsea.png")
    coverage = rect(layer.shape, 150, 100, 120, 90)
    plan = plan_edit(Extent(layer.shape[1], layer.shape[0]), bbox(coverage), FIXED, OPTIONS)
    pixels, cov = layer[plan.crop.slices], coverage[plan.crop.slices]
    upload = prepare(plan, pixels, cov, OPTIONS)
    placer = Placer(plan, pixels, cov, OPTIONS)  # before any answer exists
    for name, (server, _ignored) in SERVERS.items():
        answer = server(upload)
        got, want = placer.place(answer), place(plan, pixels, cov, answer, OPTIONS)
        assert np.array_equal(got.patch, want.patch), name
        assert np.array_equal(got.mask, want.mask) and got.warnings == want.warnings, name
        assert got.bounds == want.bounds


@MODELS
@pytest.mark.parametrize("server_name", list(SERVERS), ids=list(SERVERS))
def test_outside_untouched_and_core_filled(model, server_name):
    server, ignores_mask = SERVERS[server_name]
    layer = photo("coffee.png")
    yy, xx = np.mgrid[: layer.shape[0], : layer.shape[1]]
    coverage = ((((xx - 260) / 70) ** 2 + ((yy - 190) / 45) ** 2) <= 1).astype(np.uint8) * 255
    out, placement, _plan, _up = run(layer, coverage, server, model)
    assert_outside_untouched(out, layer, coverage)
    assert_core_is(out, coverage)
    mask_warning = any("outside the selection" in w for w in placement.warnings)
    assert mask_warning == ignores_mask
    size_warning = any("instead of" in w for w in placement.warnings)
    assert size_warning == server_name.startswith("other-size")


def test_no_op_server_fails_the_core_check():
    layer = photo("coffee.png")
    coverage = rect(layer.shape, 200, 150, 100, 80)
    out, *_ = run(layer, coverage, echo())
    with pytest.raises(AssertionError):
        assert_core_is(out, coverage)


# --- rule 1 and 5: edges, corners, tiny, islands, soft, alpha --------------------------------

EDGE_CASES = {
    "top-left": (0, 0), "top": (250, 0), "top-right": (520, 0), "left": (0, 160),
    "right": (520, 160), "bottom-left": (0, 330), "bottom": (250, 330),
    "bottom-right": (520, 330), "centre": (250, 160),
}


@pytest.mark.parametrize("where", list(EDGE_CASES), ids=list(EDGE_CASES))
def test_selection_at_edges_and_corners(where):
    layer = photo("coffee.png")  # 600×400
    x, y = EDGE_CASES[where]
    coverage = rect(layer.shape, x, y, 80, 70)
    out, placement, plan, _ = run(layer, coverage, fill())
    assert Bounds.of(plan.layer).contains(plan.crop)
    assert Bounds.of(plan.layer).contains(placement.bounds)
    assert plan.crop.contains(plan.selection)
    assert_outside_untouched(out, layer, coverage)
    assert_core_is(out, coverage)


@MODELS
def test_one_pixel_selection(model):
    layer = photo("astronaut.png")
    coverage = rect(layer.shape, 300, 200, 1, 1)
    out, _placement, plan, upload = run(layer, coverage, fill(), model)
    assert plan.crop == Bounds(300 - 64, 200 - 64, 129, 129)
    assert edit_area(upload).any()
    assert_outside_untouched(out, layer, coverage)
    assert np.abs(out[200, 300].astype(int) - FILL).max() <= 3


def test_disjoint_islands():
    layer = photo("rocket.jpg")
    coverage = rect(layer.shape, 100, 100, 40, 40) | rect(layer.shape, 400, 250, 60, 30)
    coverage |= rect(layer.shape, 300, 60, 5, 50)
    # PNG: the colour match fitted on the thin island's ring would see JPEG's own error
    out, _placement, plan, _ = run(layer, coverage, fill(), options=PNG)
    assert plan.selection == Bounds(100, 60, 360, 220)
    assert_outside_untouched(out, layer, coverage)
    assert_core_is(out, coverage)
    between = np.zeros(coverage.shape, bool)
    between[180:230, 180:280] = True  # inside the bounding box, far from every island
    assert np.array_equal(out[between], layer[between])


def test_soft_selection():
    layer = photo("chelsea.png")
    yy, xx = np.mgrid[: layer.shape[0], : layer.shape[1]]
    r = np.hypot(xx - 220, yy - 150)
    coverage = np.clip((60 - r) * 255 / 20, 0, 255).astype(np.uint8)  # 20 px soft edge
    out, placement, plan, upload = run(layer, coverage, fill())
    assert_outside_untouched(out, layer, coverage)
    assert_core_is(out, coverage)
    shown = placement.mask[Bounds(190, 120, 1, 1).relative_to(plan.crop).slices]
    assert shown == 255
    mask = np.unique(_decode(upload.mask)[..., 3])
    assert mask.tolist() == [0, 255]  # the API mask is binary


def test_faint_selection_still_edits():
    layer = photo("chelsea.png")
    coverage = rect(layer.shape, 150, 100, 60, 60, value=70)
    out, _placement, _plan, upload = run(layer, coverage, fill())
    assert edit_area(upload).any()
    assert_outside_untouched(out, layer, coverage)
    inside = out[130, 180].astype(int)
    expected = (layer[130, 180].astype(int) * (255 - 70) + np.array(FILL) * 70) / 255
    assert np.abs(inside - expected).max() <= 4  # shown at the selection's own opacity


def test_rgba_layer():
    rgb = photo("coffee.png")
    alpha = np.tile(np.linspace(0, 255, rgb.shape[1]).astype(np.uint8), (rgb.shape[0], 1))
    alpha[:, :50] = 0
    layer = np.dstack([rgb, alpha])
    coverage = rect(layer.shape, 20, 150, 200, 100)  # partly over fully transparent pixels
    out, _placement, _plan, upload = run(layer, coverage, fill())
    assert out.shape[2] == 4
    assert_outside_untouched(out, layer, coverage)
    c = core(coverage)
    assert (out[c][:, 3] == 255).all()
    assert_core_is(out, coverage)
    assert _decode(upload.image).shape[2] == 3


def test_whole_layer_mode():
    layer = photo("chelsea.png")  # 451×300: one row of padding for 1536×1024

    def invert(upload):
        assert upload.mask is None
        return Image.fromarray(255 - _decode(upload.image))

    out, placement, plan, _upload = run(layer, None, invert)
    assert plan.mode == "layer" and plan.crop == Bounds(0, 0, 451, 300)
    assert placement.mask is None and placement.bounds == Bounds(0, 0, 451, 300)
    assert np.abs(out.astype(int) - (255 - layer.astype(int))).mean() < 2


# --- rule 3: alignment ----------------------------------------------------------------------


def _gray(a):
    return a[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def phase_shift(a, b, band=0.25, step=0.02):
    """(dy, dx) that moves ``b`` onto ``a``, sub-pixel.

    Phase correlation, band-limited to ``band`` cycles/px (an upscaled photo has no energy
    above it, and whitened noise there would bias the peak), then the peak is found on a
    ``step``-px grid by evaluating the inverse DFT directly around the integer peak.
    """
    a, b = _gray(a), _gray(b)
    h, w = a.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    cross = np.fft.fft2((a - a.mean()) * window) * np.conj(np.fft.fft2((b - b.mean()) * window))
    fy, fx = np.fft.fftfreq(h), np.fft.fftfreq(w)
    ky, kx = np.abs(fy) < band, np.abs(fx) < band
    r = cross[np.ix_(ky, kx)]
    r = r / np.maximum(np.abs(r), 1e-12)
    fy, fx = fy[ky], fx[kx]
    coarse = np.arange(-8, 9)

    def correlation(ys, xs):
        ey = np.exp(2j * np.pi * np.outer(ys, fy))
        ex = np.exp(2j * np.pi * np.outer(fx, xs))
        return (ey @ r @ ex).real

    c = correlation(coarse, coarse)
    iy, ix = np.unravel_index(np.argmax(c), c.shape)
    fine = np.arange(-1, 1 + step / 2, step)
    ys, xs = coarse[iy] + fine, coarse[ix] + fine
    c = correlation(ys, xs)
    iy, ix = np.unravel_index(np.argmax(c), c.shape)
    return ys[iy], xs[ix]


def _centre(a, side=384):
    h, w = a.shape[:2]
    y, x = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return a[y:y + side, x:x + side]


def fourier_shift(a, dy, dx):
    out = np.empty(a.shape, np.float64)
    fy = np.fft.fftfreq(a.shape[0])[:, None]
    fx = np.fft.fftfreq(a.shape[1])[None, :]
    phase = np.exp(-2j * np.pi * (fy * dy + fx * dx))
    for c in range(a.shape[2]):
        out[..., c] = np.fft.ifft2(np.fft.fft2(a[..., c]) * phase).real
    return np.clip(out, 0, 255)


@pytest.mark.parametrize("dy, dx", [(0, 1), (0.5, 0), (-0.7, 0.3)], ids=["1px", "half", "mixed"])
def test_phase_shift_measures_known_shifts(dy, dx):
    a = photo("astronaut.png")[100:300, 150:400].astype(np.float64)
    got = phase_shift(fourier_shift(a, dy, dx), a)
    assert got == pytest.approx((dy, dx), abs=0.05)


def _upscaled_rocket():
    r = Image.open(DATA / "rocket.jpg").convert("RGB")
    return np.asarray(r.resize((r.width * 3, r.height * 3), Image.Resampling.BICUBIC))


ALIGN = {
    # name: (photo, selection, options, server)
    "square-up": ("astronaut.png", (200, 180, 60, 60), PNG, echo()),
    "wide": ("astronaut.png", (100, 220, 240, 60), OPTIONS, echo()),
    "tall-edge": ("rocket.jpg", (0, 40, 70, 300), OPTIONS, echo()),
    "corner-padded": ("rocket.jpg", (560, 340, 80, 87), replace(OPTIONS, context="300"), echo()),
    "layer-context-down": ("rocket3x", (900, 500, 300, 200), replace(OPTIONS, context="layer"),
                           echo()),
    "other-aspect-answer": ("rocket.jpg", (250, 150, 160, 90), PNG, echo(size=(1000, 1000))),
}


@MODELS
@pytest.mark.parametrize("case", list(ALIGN), ids=list(ALIGN))
def test_echo_maps_back_within_half_a_pixel(model, case):
    name, sel, options, server = ALIGN[case]
    layer = _upscaled_rocket() if name == "rocket3x" else photo(name)
    coverage = rect(layer.shape, *sel)
    _out, placement, plan, _ = run(layer, coverage, server, model, options)
    original = layer[plan.crop.slices]
    patch = placement.patch[..., :3]
    assert patch.shape == original.shape
    dy, dx = phase_shift(_centre(patch), _centre(original))
    assert abs(dy) < 0.5 and abs(dx) < 0.5, (dy, dx, plan)
    assert abs(dy) < 0.1 and abs(dx) < 0.1, (dy, dx)  # in practice it is exact


# --- rule 4: the seam -----------------------------------------------------------------------


@MODELS
def test_colour_match_removes_a_tone_shift_at_the_seam(model):
    layer = photo("rocket.jpg")
    coverage = rect(layer.shape, 260, 120, 120, 160)

    def seam_error(color_match):
        opts = RegionOptions(color_match=color_match, upload_format="jpeg")
        reference, placement, plan, _ = run(layer, coverage, fill(), model, opts)
        shifted, *_ = run(layer, coverage, fill(gain=1.12, offset=14), model, opts)
        band = np.zeros(coverage.shape, bool)
        band[plan.region.slices] = (placement.mask > 0) & (placement.mask < 255)
        return np.abs(shifted[band].astype(int) - reference[band].astype(int)).mean()

    with_match, without = seam_error(True), seam_error(False)
    assert without > 5  # the shift is visible without matching
    assert with_match * 5 <= without, (with_match, without)


# --- rule 1: the table of sizes and crops ---------------------------------------------------

SIZES = [
    # (model, selection on 4000×3000, api size, crop)
    (FIXED, (1900, 1400, 200, 200), (1024, 1024), (1800, 1300, 400, 400)),
    (FIXED, (1700, 1400, 600, 200), (1536, 1024), (1400, 1100, 1200, 800)),
    (FIXED, (1900, 1200, 200, 600), (1024, 1536), (1600, 900, 800, 1200)),
    (FIXED, (1800, 1400, 240, 200), (1024, 1024), (1680, 1260, 480, 480)),
    (FIXED, (1000, 1000, 2000, 1000), (1536, 1024), (0, 167, 4000, 2667)),
    (FREE, (1900, 1400, 200, 200), (1024, 1024), (1800, 1300, 400, 400)),
    (FREE, (1700, 1400, 600, 200), (1776, 592), (1400, 1300, 1200, 400)),
    (FREE, (1900, 1200, 200, 600), (592, 1776), (1800, 900, 400, 1200)),
    (FREE, (1000, 1000, 2000, 1000), (2688, 1344), (0, 500, 4000, 2000)),
]


@pytest.mark.parametrize(
    "model, selection, api, crop", SIZES,
    ids=["fixed-square", "fixed-wide", "fixed-tall", "fixed-1.2-is-square", "fixed-large",
         "free-square", "free-wide", "free-tall", "free-large-capped"],
)
def test_size_and_crop_table(model, selection, api, crop):
    plan = plan_edit(Extent(4000, 3000), Bounds(*selection), model)
    assert plan.api_size == api and plan.size_param == "{}x{}".format(*api)
    assert plan.crop == crop and plan.canvas == crop
    if model.free_size:
        assert free_size_problem(*plan.api_size) is None
    assert plan.canvas.width / plan.canvas.height == pytest.approx(plan.api_size.aspect, 0.01)


@pytest.mark.parametrize(
    "context, crop",
    [("auto", (936, 936, 148, 148)), ("100", (900, 900, 220, 220)),
     ("200%", (960, 960, 100, 100)), ("5", (970, 970, 80, 80)), ("layer", (0, 0, 2000, 2000))],
    ids=["auto-min-64", "px", "percent", "px-raised-to-the-band", "layer"],
)
def test_context_options(context, crop):
    plan = plan_edit(Extent(2000, 2000), Bounds(1000, 1000, 20, 20), FIXED,
                     RegionOptions(context=context))
    assert plan.crop == crop


@pytest.mark.parametrize("size", ["1536x1024", "1024x1536"], ids=["wide", "tall"])
def test_fixed_size_option_overrides_the_aspect(size):
    plan = plan_edit(Extent(2000, 2000), Bounds(900, 900, 200, 200), FIXED,
                     RegionOptions(size=size))
    assert plan.size_param == size
    assert plan.canvas.width / plan.canvas.height == pytest.approx(plan.api_size.aspect, 0.01)


def test_layer_too_small_for_the_aspect_pads_and_never_composites_padding():
    layer = photo("rocket.jpg")[:, :150]  # 150×427, tall: crop is narrower than 1024×1536
    coverage = rect(layer.shape, 40, 150, 60, 60)
    seen = {}

    def paint_outside(upload):
        image = _decode(upload.image).copy()
        seen["image"] = image
        image[~edit_area(upload)] = (0, 255, 0)  # repaint the padding too
        image[edit_area(upload)] = FILL
        return Image.fromarray(image)

    options = RegionOptions(context="layer", upload_format="jpeg")
    out, placement, plan, _ = run(layer, coverage, paint_outside, options=options)
    assert plan.canvas.width > plan.crop.width and plan.crop == Bounds(0, 0, 150, 427)
    assert placement.bounds == plan.crop
    assert_outside_untouched(out, layer, coverage)
    assert_core_is(out, coverage)
    left = seen["image"][:, :10]  # edge-replicated padding, not black
    assert left.mean() > 10


@pytest.mark.parametrize(
    "crop",
    [(100, 100), (1200, 800), (4000, 1000), (300, 4000), (3840, 2160), (9000, 9000), (17, 5000)],
    ids=["tiny", "photo", "wide-4", "tall-13", "4k", "huge", "sliver"],
)
@pytest.mark.parametrize(
    "max_pixels", [2560 * 1440, 3840 * 2160, 1024 * 1024], ids=["default", "4k", "least"]
)
def test_free_size_is_always_valid(crop, max_pixels):
    size = free_size_for(Extent(*crop), max_pixels)
    assert free_size_problem(*size) is None
    assert size.area <= max_pixels
    aspect = min(max(crop[0] / crop[1], 1 / 3), 3)
    assert size.aspect == pytest.approx(aspect, rel=0.03)
    assert size.area >= 0.9 * min(max(crop[0] * crop[1], 1024 * 1024), max_pixels)


# --- pixels read ----------------------------------------------------------------------------


def test_pixels_to_read_is_the_crop_not_the_layer():
    layer = Extent(8000, 6000)
    plan = plan_edit(layer, Bounds(3700, 2800, 600, 400), FIXED)
    assert plan.pixels_to_read == plan.crop.area == 1200 * 800
    assert plan.pixels_to_read * 40 < layer.area
    cover = np.zeros((plan.crop.height, plan.crop.width), np.uint8)
    cover[200:600, 300:900] = 255
    pixels = np.full(cover.shape + (3,), 90, np.uint8)
    upload = prepare(plan, pixels, cover)  # the crop is all it needs
    placement = place(plan, pixels, cover, fill()(upload))
    assert placement.bounds == plan.crop
    with pytest.raises(ValueError):
        prepare(plan, np.zeros((6000, 8000, 3), np.uint8), cover)


# --- rule 5: expand -------------------------------------------------------------------------


@MODELS
@pytest.mark.parametrize(
    "margins, aspect",
    [((100, 0, 100, 0), None), ((0, 40, 0, 0), None), (None, 16 / 9)],
    ids=["sides", "top", "aspect-16:9"],
)
def test_expand_fills_the_margin(model, margins, aspect):
    layer = photo("coffee.png")
    plan = plan_expand(Extent(600, 400), model, margins=margins, aspect=aspect)
    pixels = layer[plan.crop.slices]
    assert plan.crop == Bounds(0, 0, 600, 400) and plan.pixels_to_read == 240000
    upload = prepare(plan, pixels, None, OPTIONS)
    placement = place(plan, pixels, None, fill()(upload), OPTIONS)
    out = apply_placement(layer, placement)
    new = plan.layer
    assert out.shape == (new.height, new.width, 3)
    ox, oy = plan.origin
    new_area = np.ones(out.shape[:2], bool)
    new_area[oy:oy + 400, ox:ox + 600] = False
    assert np.abs(out[new_area].astype(int) - FILL).max() <= 3  # the fill, not edge padding
    inner = out[oy + BAND:oy + 400 - BAND, ox + BAND:ox + 600 - BAND]
    assert np.array_equal(inner, layer[BAND:400 - BAND, BAND:600 - BAND])
    if aspect:
        assert new.width / new.height == pytest.approx(aspect, 0.01)


def test_expand_fills_transparent_pixels_of_an_rgba_layer():
    rgb = photo("chelsea.png")
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[100:150, 200:260] = 0
    layer = np.dstack([rgb, alpha])
    plan = plan_expand(Extent(451, 300), FIXED, margins=(0, 0, 60, 0))
    upload = prepare(plan, layer, None, OPTIONS)
    placement = place(plan, layer, None, fill()(upload), OPTIONS)
    out = apply_placement(layer, placement)
    assert (out[110:140, 210:250, 3] == 255).all()
    assert np.abs(out[110:140, 210:250, :3].astype(int) - FILL).max() <= 3
    assert (out[:, 455:, 3] == 255).all()


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"margins": (1, 0, 0, 0), "aspect": 1.0}, {"margins": (0, 0, 0, 0)},
     {"margins": (-5, 0, 10, 0)}, {"aspect": 1.5}],
    ids=["neither", "both", "zero", "negative", "same-aspect"],
)
def test_expand_rejects(kwargs):
    with pytest.raises(UsageError):
        plan_expand(Extent(600, 400), FIXED, **kwargs)


@pytest.mark.parametrize("kwargs", [{"margins": (100_000, 0, 0, 0)}, {"aspect": 400.0},
                                    {"margins": (0, 8192, 0, 8192)}],
                         ids=["huge-margin", "extreme-aspect", "tall-strip-of-a-small-layer"])
def test_expand_refuses_a_canvas_too_big_to_work_on(kwargs):
    """A 600x400 layer grown by 100,000 px asked numpy for 19 GiB before anything failed."""
    with pytest.raises(UsageError, match="too much"):
        plan_expand(Extent(600, 400), FIXED, **kwargs)


def test_expand_allows_big_photos_within_the_limit():
    plan = plan_expand(Extent(8000, 6000), FIXED, aspect=16 / 9)
    assert plan.layer == Extent(10667, 6000) and plan.canvas.area <= MAX_EXPAND_PIXELS


# --- usage errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "selection, options, model",
    [
        (Bounds(700, 0, 10, 10), OPTIONS, FIXED),
        (Bounds(10, 10, 10, 10), RegionOptions(context="wide"), FIXED),
        (Bounds(10, 10, 10, 10), RegionOptions(size="2048x1152"), FIXED),
        (Bounds(10, 10, 10, 10), RegionOptions(size="1000x1000"), FREE),
        (Bounds(10, 10, 10, 10), RegionOptions(upload_format="gif"), FIXED),
        (Bounds(10, 10, 10, 10), RegionOptions(grow=-1), FIXED),
    ],
    ids=["selection-off-layer", "bad-context", "size-not-for-model", "free-size-not-16",
         "bad-format", "negative-grow"],
)
def test_usage_errors(selection, options, model):
    with pytest.raises(UsageError) as info:
        plan_edit(Extent(600, 400), selection, model, options)
    assert str(info.value).endswith(".")


def test_empty_coverage_is_a_usage_error():
    plan = plan_edit(Extent(600, 400), Bounds(100, 100, 50, 50), FIXED)
    pixels = np.zeros((plan.crop.height, plan.crop.width, 3), np.uint8)
    with pytest.raises(UsageError):
        prepare(plan, pixels, np.zeros(pixels.shape[:2], np.uint8))


def test_undecodable_answer_is_a_response_error():
    plan = plan_edit(Extent(600, 400), Bounds(10, 10, 10, 10), FIXED)
    pixels = np.zeros((plan.crop.height, plan.crop.width, 3), np.uint8)
    cover = np.full(pixels.shape[:2], 255, np.uint8)
    with pytest.raises(ResponseError):
        place(plan, pixels, cover, b"<html>bad gateway</html>")


@MODELS
def test_an_answer_at_the_size_sent_is_placed_without_a_warning(model):
    """Some relays answer at the size of the image sent rather than the size asked for."""
    layer = photo("coffee.png")
    coverage = rect(layer.shape, 200, 150, 120, 80)

    def at_upload_size(upload):
        image = _decode(upload.image).copy()
        image[edit_area(upload)] = FILL
        return Image.fromarray(image)

    out, placement, plan, upload = run(layer, coverage, at_upload_size, model, PNG)
    assert plan.upload_size != plan.api_size  # the case this is about
    assert placement.warnings == ()
    assert_outside_untouched(out, layer, coverage)
    assert_core_is(out, coverage)


# --- encoding and references ----------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt, name, mime", [("png", "image.png", "image/png"), ("webp", "image.webp", "image/webp"),
                        ("jpeg", "image.jpg", "image/jpeg")], ids=["png", "webp", "jpeg"],
)
def test_upload_formats(fmt, name, mime):
    layer = photo("chelsea.png")
    plan = plan_edit(Extent(451, 300), Bounds(100, 100, 50, 50), FIXED,
                     RegionOptions(upload_format=fmt))
    cover = rect(layer.shape, 100, 100, 50, 50)[plan.crop.slices]
    upload = prepare(plan, layer[plan.crop.slices], cover, RegionOptions(upload_format=fmt))
    assert (upload.image_name, upload.image_type, upload.size) == (name, mime, "1024x1024")
    image = Image.open(io.BytesIO(upload.image))
    assert image.format == fmt.upper() and image.size == (178, 178)  # the canvas, as it is
    mask = Image.open(io.BytesIO(upload.mask))
    assert mask.format == "PNG" and mask.mode == "RGBA" and mask.size == image.size


@MODELS
@pytest.mark.parametrize("side", [300, 1200, 3000], ids=["small", "under-api", "over-api"])
def test_upload_is_the_canvas_scaled_down_never_up(model, side):
    """The model sees no more detail in an upscaled copy: a canvas that fits in the API size
    goes as it is (same pixels), a bigger one is scaled down to exactly the API size."""
    layer = np.tile(photo("rocket.jpg"), (8, 6, 1))[:side, :side * 3 // 2]
    selection = Bounds(side // 4, side // 4, side // 2, side // 4)
    plan = plan_edit(Extent(layer.shape[1], layer.shape[0]), selection, model, PNG)
    cover = rect(layer.shape, *selection)[plan.crop.slices]
    upload = prepare(plan, layer[plan.crop.slices], cover, PNG)
    sent = _decode(upload.image)
    mask = _decode(upload.mask)
    fits = plan.canvas.width <= plan.api_size.width and plan.canvas.height <= plan.api_size.height
    want = plan.canvas.extent if fits else plan.api_size
    assert plan.upload_size == want and (sent.shape[1], sent.shape[0]) == want
    assert mask.shape[:2] == sent.shape[:2]
    assert upload.size == plan.size_param
    if fits and plan.canvas == plan.crop:
        assert np.array_equal(sent, layer[plan.crop.slices])
    editable = mask[..., 3] == 0
    if fits:
        assert np.array_equal(editable, comp.dilate(cover > 0, PNG.grow))
    else:  # scaled down: the selection scaled the same way, grown by `grow` scaled too
        sx = plan.upload_size.width / plan.canvas.width
        sy = plan.upload_size.height / plan.canvas.height
        grow = math.ceil(PNG.grow * max(sx, sy))
        inner = selection.translate(-plan.canvas.x, -plan.canvas.y)
        xs = (np.arange(editable.shape[1]) + 0.5) / sx  # upload pixel centres, canvas units
        ys = (np.arange(editable.shape[0]) + 0.5) / sy
        dx = np.maximum(np.maximum(inner.x - xs, xs - inner.right), 0) * sx
        dy = np.maximum(np.maximum(inner.y - ys, ys - inner.bottom), 0) * sy
        distance = np.maximum(dx[None, :], dy[:, None])  # in upload pixels, as the dilation
        assert editable[distance <= grow - 1].all()
        assert not editable[distance > grow + 1].any()


@pytest.mark.parametrize("side", [3, 40, 60], ids=["3px", "40px", "60px"])
def test_tiny_canvases_go_at_the_api_size(side):
    layer = np.tile(photo("chelsea.png"), (1, 2, 1))[:side, :side * 2]
    plan = plan_edit(Extent(layer.shape[1], layer.shape[0]), None, FIXED, PNG)
    assert min(plan.canvas.extent) < planning.MIN_UPLOAD_SIDE
    upload = prepare(plan, layer[plan.crop.slices], None, PNG)
    assert _decode(upload.image).shape[1::-1] == tuple(plan.api_size)


def test_only_a_stretched_or_softer_answer_warns():
    """An answer of another size warns when it comes out stretched or softer than both the
    size asked for and the canvas; one at the shape asked for does not, even where a tiny
    canvas's whole pixels give it a slightly other shape."""
    tiny = photo("chelsea.png")[:10, :40]
    coffee = photo("coffee.png")
    coverage = rect(coffee.shape, 200, 150, 120, 80)
    cases = [(tiny, None, (1024, 683), False), (tiny, None, (400, 270), False),
             (tiny, None, (1000, 1000), True),
             (coffee, coverage, "half", True), (coffee, coverage, "sent", False),
             (coffee, coverage, (2048, 2048), False), (coffee, coverage, (800, 600), True)]
    for layer, cover, size, warns in cases:
        def server(upload, size=size):
            image = Image.open(io.BytesIO(upload.image)).convert("RGB")
            if size == "half":
                size = (image.width // 2, image.height // 2)
            return image if size == "sent" else image.resize(size, Image.Resampling.LANCZOS)

        _out, placement, plan, upload = run(layer, cover, server, FIXED, PNG)
        warned = any("instead of" in w for w in placement.warnings)
        assert warned == warns, (layer.shape, size, plan.canvas, plan.upload_size)


@pytest.mark.parametrize(
    "size, mode, fmt, expected",
    [((3000, 1000), "RGB", "png", (1536, 512)), ((500, 2000), "RGBA", "png", (256, 1024)),
     ((300, 200), "RGBA", "jpeg", (300, 200)), ((1536, 1024), "RGB", "webp", (1536, 1024))],
    ids=["wide-down", "tall-down-keeps-alpha", "small-unchanged-jpeg", "exact"],
)
def test_fit_reference_scales_never_crops(size, mode, fmt, expected):
    img = Image.new(mode, size, (10, 20, 30, 128)[: len(mode)])
    data, _name, mime = fit_reference(img, Extent(1536, 1024), fmt)
    out = Image.open(io.BytesIO(data))
    assert out.size == expected and mime.endswith(out.format.lower())
    assert out.mode == (mode if fmt == "png" else "RGB")
    arr, _, _ = fit_reference(np.zeros((2000, 2000, 3), np.uint8), Extent(1024, 1536))
    assert Image.open(io.BytesIO(arr)).size == (1024, 1024)


def test_encode_image_roundtrip_png():
    a = photo("chelsea.png")
    assert np.array_equal(_decode(encode_image(a, "png")), a)


def test_a_recovered_edit_goes_back_over_its_canvas_scaled_to_it():
    pixels = np.zeros((1024, 1536, 3), np.uint8)
    pixels[:, 768:] = 200
    x, y, scaled = recovered_position([10, 20, 300, 200], [5, 7], pixels)
    assert (x, y) == (15, 27) and scaled.shape == (200, 300, 3)
    assert scaled[:, :140].max() == 0 and scaled[:, 160:].min() == 200
    assert recovered_position(None, [5, 7], pixels)[:2] == (0, 0)
