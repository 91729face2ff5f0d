from __future__ import annotations

import pytest

from bianxie_core.geometry import Bounds, Extent


@pytest.mark.parametrize(
    "extent, area, aspect",
    [((1536, 1024), 1572864, 1.5), ((1, 3), 3, 1 / 3), ((640, 427), 273280, 640 / 427)],
    ids=["wide", "tall", "photo"],
)
def test_extent_area_aspect(extent, area, aspect):
    e = Extent(*extent)
    assert e.area == area
    assert e.aspect == pytest.approx(aspect)


@pytest.mark.parametrize(
    "extent, box, fitted",
    [
        ((3000, 1000), (1536, 1024), (1536, 512)),
        ((1000, 3000), (1536, 1024), (341, 1024)),
        ((100, 50), (1024, 1024), (1024, 512)),
        ((4000, 1), (1024, 1024), (1024, 1)),
    ],
    ids=["wide-down", "tall-down", "up", "thin-keeps-1px"],
)
def test_scale_to_fit(extent, box, fitted):
    assert Extent(*extent).scale_to_fit(Extent(*box)) == fitted


def test_extent_helpers():
    assert Extent(100, 50).scale(1.5) == (150, 75)
    assert str(Extent(1536, 1024)) == "1536x1024"
    assert Extent(0, 4).is_empty and not Extent(1, 1).is_empty


def test_bounds_edges_and_slices():
    b = Bounds(10, 20, 30, 40)
    assert (b.right, b.bottom, b.area, b.extent) == (40, 60, 1200, Extent(30, 40))
    assert b.slices == (slice(20, 60), slice(10, 40))
    assert Bounds.from_corners(10, 20, 40, 60) == b
    assert Bounds.of(Extent(5, 6)) == (0, 0, 5, 6)


@pytest.mark.parametrize(
    "args, expected",
    [
        ((2,), (8, 18, 34, 44)),
        ((2, 3), (8, 17, 34, 46)),
        ((1, 2, 3, 4), (9, 18, 34, 46)),
        ((-5,), (15, 25, 20, 30)),
    ],
    ids=["all", "x-y", "each", "shrink"],
)
def test_pad(args, expected):
    assert Bounds(10, 20, 30, 40).pad(*args) == expected


@pytest.mark.parametrize(
    "a, b, inter",
    [
        ((0, 0, 10, 10), (5, 5, 10, 10), (5, 5, 5, 5)),
        ((0, 0, 10, 10), (20, 20, 5, 5), None),
        ((0, 0, 10, 10), (2, 2, 3, 3), (2, 2, 3, 3)),
        ((0, 0, 10, 10), (10, 0, 5, 5), None),
    ],
    ids=["overlap", "apart", "inside", "touching"],
)
def test_intersect(a, b, inter):
    got = Bounds(*a).intersect(Bounds(*b))
    if inter is None:
        assert got.is_empty and got.area == 0
    else:
        assert got == inter


def test_clamp_translate_contains():
    layer = Extent(100, 50)
    assert Bounds(-10, -5, 50, 200).clamp(layer) == (0, 0, 40, 50)
    assert Bounds(200, 0, 5, 5).clamp(layer).is_empty
    assert Bounds(1, 2, 3, 4).translate(10, -2) == (11, 0, 3, 4)
    assert Bounds(0, 0, 10, 10).contains(Bounds(2, 2, 8, 8))
    assert not Bounds(0, 0, 10, 10).contains(Bounds(2, 2, 9, 8))
    assert Bounds(5, 5, 2, 2).relative_to(Bounds(3, 4, 10, 10)) == (2, 1, 2, 2)


@pytest.mark.parametrize(
    "bounds, aspect, limit, expected",
    [
        ((100, 100, 200, 200), 1.5, (1000, 1000), (50, 100, 300, 200)),  # centred
        ((0, 100, 200, 200), 1.5, (1000, 1000), (0, 100, 300, 200)),  # shifted in at the left
        ((900, 100, 100, 100), 1.5, (1000, 1000), (850, 100, 150, 100)),  # in at the right
        ((0, 0, 100, 100), 1.5, (120, 100), (-15, 0, 150, 100)),  # too narrow: centred on layer
        ((100, 100, 300, 100), 1.0, (1000, 1000), (100, 0, 300, 300)),  # taller, in at the top
        ((0, 0, 300, 100), 1.0, (300, 100), (0, -100, 300, 300)),
    ],
    ids=["centred", "left-edge", "right-edge", "layer-too-narrow", "top-edge", "pad-both"],
)
def test_fit_aspect(bounds, aspect, limit, expected):
    got = Bounds(*bounds).fit_aspect(aspect, Extent(*limit))
    assert got == expected
    assert got.contains(Bounds(*bounds))
