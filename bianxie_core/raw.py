"""Raw 8-bit pixels as the host reads and writes them (GEGL buffers), without numpy.

The plug-in reads a crop and a selection as bytes, hands them to the request worker and gets
the placed patch back as bytes, so it never loads numpy or Pillow for a region edit. In a job
folder they are ``job_folder.RawFile``s.
"""

from __future__ import annotations

from typing import NamedTuple


class RawPixels(NamedTuple):
    data: bytes  # rows top to bottom, ``channels`` bytes a pixel, no padding
    width: int
    height: int
    channels: int  # 1 (coverage, mask), 3 (RGB) or 4 (RGBA)

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
