"""Rectangle maths in integer pixels: sizes (``Extent``) and rectangles (``Bounds``).

Pure value types with no host or image dependency; hosts convert their own rectangles at the
edge (``Bounds(x, y, w, h)``).
"""

from __future__ import annotations

from typing import NamedTuple


class Extent(NamedTuple):
    width: int
    height: int

    @property
    def area(self) -> int:
        return self.width * self.height

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def is_empty(self) -> bool:
        return self.width <= 0 or self.height <= 0

    def scale(self, factor: float) -> Extent:
        return Extent(round(self.width * factor), round(self.height * factor))

    def scale_to_fit(self, box: Extent) -> Extent:
        """The largest extent of this aspect inside ``box`` (each side at least 1)."""
        factor = min(box.width / self.width, box.height / self.height)
        return Extent(
            max(1, min(box.width, round(self.width * factor))),
            max(1, min(box.height, round(self.height * factor))),
        )

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


class Bounds(NamedTuple):
    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        """One past the last column."""
        return self.x + self.width

    @property
    def bottom(self) -> int:
        """One past the last row."""
        return self.y + self.height

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    @property
    def extent(self) -> Extent:
        return Extent(self.width, self.height)

    @property
    def is_empty(self) -> bool:
        return self.width <= 0 or self.height <= 0

    @property
    def slices(self) -> tuple:
        """``array[bounds.slices]`` selects this rectangle of a row-major image."""
        return slice(self.y, self.bottom), slice(self.x, self.right)

    @staticmethod
    def from_corners(x0: int, y0: int, x1: int, y1: int) -> Bounds:
        return Bounds(x0, y0, x1 - x0, y1 - y0)

    @staticmethod
    def of(extent: Extent) -> Bounds:
        return Bounds(0, 0, extent.width, extent.height)

    def pad(self, left: int, top: int | None = None, right: int | None = None,
            bottom: int | None = None) -> Bounds:
        """Grow each side (CSS order: one value for all, or left/top[/right/bottom])."""
        top = left if top is None else top
        right = left if right is None else right
        bottom = top if bottom is None else bottom
        return Bounds.from_corners(self.x - left, self.y - top, self.right + right,
                                   self.bottom + bottom)

    def translate(self, dx: int, dy: int) -> Bounds:
        return Bounds(self.x + dx, self.y + dy, self.width, self.height)

    def intersect(self, other: Bounds) -> Bounds:
        """The overlap; empty bounds (width or height 0) when there is none."""
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.right, other.right), min(self.bottom, other.bottom)
        return Bounds.from_corners(x0, y0, max(x0, x1), max(y0, y1))

    def clamp(self, extent: Extent) -> Bounds:
        """Restricted to ``(0, 0, extent.width, extent.height)``."""
        return self.intersect(Bounds.of(extent))

    def contains(self, other: Bounds) -> bool:
        return (self.x <= other.x and self.y <= other.y and other.right <= self.right
                and other.bottom <= self.bottom)

    def relative_to(self, outer: Bounds) -> Bounds:
        """These bounds in the coordinates of ``outer``'s top-left corner."""
        return self.translate(-outer.x, -outer.y)

    def fit_aspect(self, aspect: float, limit: Extent) -> Bounds:
        """Grown (never shrunk) along one axis to ``aspect``, centred, kept inside ``limit``
        where ``limit`` is big enough; the caller clamps what sticks out of ``limit``."""
        x, y, w, h = self
        if w / h < aspect:
            new_w = max(w, round(h * aspect))
            x = _place(x - (new_w - w) // 2, new_w, limit.width)
            return Bounds(x, y, new_w, h)
        new_h = max(h, round(w / aspect))
        y = _place(y - (new_h - h) // 2, new_h, limit.height)
        return Bounds(x, y, w, new_h)


def _place(start: int, length: int, limit: int) -> int:
    """Shift a span into ``[0, limit)``; a span longer than ``limit`` is centred on it."""
    if length >= limit:
        return -((length - limit) // 2)
    return min(max(start, 0), limit - length)
