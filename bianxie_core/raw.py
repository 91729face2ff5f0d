"""Raw 8-bit pixels as the host reads and writes them (GEGL buffers), without numpy.

The plug-in reads a crop and a selection as bytes, hands them to the request worker and gets
the placed patch back as bytes, so it never loads numpy or Pillow for a region edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class RawPixels(NamedTuple):
    data: bytes  # rows top to bottom, ``channels`` bytes a pixel, no padding
    width: int
    height: int
    channels: int  # 1 (coverage, mask), 3 (RGB) or 4 (RGBA)

    def save(self, path: Path) -> dict:
        """Write the bytes to ``path``; the description ``load`` needs."""
        if len(self.data) != self.width * self.height * self.channels:
            raise ValueError(f"{len(self.data)} bytes are not {self.width}x{self.height}"
                             f"x{self.channels}")
        Path(path).write_bytes(self.data)
        return {"file": Path(path).name, "width": self.width, "height": self.height,
                "channels": self.channels}

    @classmethod
    def load(cls, folder: Path, spec: dict) -> RawPixels:
        data = (Path(folder) / spec["file"]).read_bytes()
        raw = cls(data, int(spec["width"]), int(spec["height"]), int(spec["channels"]))
        if len(data) != raw.width * raw.height * raw.channels:
            raise ValueError(f"{spec['file']} holds {len(data)} bytes, not {raw.width}x"
                             f"{raw.height}x{raw.channels}")
        return raw

    def array(self):
        """The pixels as a read-only numpy array, (h, w) for one channel else (h, w, c)."""
        import numpy as np

        shape = (self.height, self.width) + ((self.channels,) if self.channels > 1 else ())
        return np.frombuffer(self.data, np.uint8).reshape(shape)

    @classmethod
    def of(cls, array) -> RawPixels:
        """From a numpy array of uint8, (h, w) or (h, w, c)."""
        import numpy as np

        array = np.ascontiguousarray(array, np.uint8)
        channels = 1 if array.ndim == 2 else array.shape[2]
        return cls(array.tobytes(), array.shape[1], array.shape[0], channels)
