"""serial.py: records to JSON-ready data and back, led by the dataclass's field types."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from bianxie_core.geometry import Bounds, Extent
from bianxie_core.serial import from_data, to_data


class Colour(str, Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Inner:
    size: Extent
    where: Optional[Bounds] = None


@dataclass
class Outer:
    name: str
    colour: Colour = Colour.RED
    inner: Optional[Inner] = None
    items: List[Inner] = field(default_factory=list)
    pair: Tuple[int, int] = (0, 0)
    scale: float = 1.0
    extra: Dict[str, int] = field(default_factory=dict)
    maybe: Bounds | None = None  # the "X | None" spelling reads as well


RECORDS = [
    Outer("plain"),
    Outer("full", Colour.BLUE, Inner(Extent(3, 4), Bounds(1, 2, 3, 4)),
          [Inner(Extent(1, 1)), Inner(Extent(2, 2), Bounds(0, 0, 2, 2))], (5, -6), 0.5,
          {"a": 1}, Bounds(-1, -2, 3, 4)),
]


@pytest.mark.parametrize("record", RECORDS, ids=["defaults", "everything"])
def test_round_trip_through_json(record):
    data = json.loads(json.dumps(to_data(record)))
    back = from_data(Outer, data)
    assert back == record
    if back.inner is not None:
        assert type(back.inner.size) is Extent and type(back.inner.where) is Bounds
        assert type(back.maybe) is Bounds and back.colour is Colour.BLUE
    assert type(back.pair) is tuple


def test_plain_data_out():
    data = to_data(Outer("x", Colour.BLUE, Inner(Extent(3, 4)), pair=(1, 2)))
    assert data["colour"] == "blue" and data["pair"] == [1, 2]
    assert data["inner"] == {"size": [3, 4], "where": None}
    assert to_data(Path("/a/b")) == "/a/b"


def test_unknown_fields_are_ignored_and_missing_ones_take_their_defaults():
    back = from_data(Outer, {"name": "old", "from_a_newer_version": 1, "scale": 2})
    assert back == Outer("old", scale=2.0) and type(back.scale) is float
