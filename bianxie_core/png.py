"""A PNG encoder for uploads: as small as Pillow's fastest setting, in a fraction of its time.

Every row gets PNG's Paeth filter (computed with numpy on the raw rows, so no row depends on
another's output) and the filtered rows are deflated at zlib level 1 with run-length
matching. Bands of rows are filtered and deflated on separate threads; each band but the last
ends on a full flush, so the raw deflate streams join into one valid zlib stream (as pigz
does) whose Adler-32 is combined from the bands'. numpy and zlib release the GIL, so the bands
run in parallel.
"""

from __future__ import annotations

import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> grey, grey+alpha, RGB, RGBA
MIN_BAND_BYTES = 256 * 1024  # smaller images are encoded on the calling thread
BLOCK_ROWS = 64
IDAT_BYTES = 65536  # the chunk size most encoders write (Pillow, libpng's default buffer)
_ADLER_BASE = 65521
_pool: Optional[ThreadPoolExecutor] = None


def encode(pixels: np.ndarray) -> bytes:
    """PNG bytes of an 8-bit ``(h, w)`` or ``(h, w, channels)`` array (1 to 4 channels)."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        raise ValueError(f"cannot encode {pixels.dtype} pixels as an 8-bit PNG")
    pixels = np.ascontiguousarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    h, w, channels = pixels.shape
    if channels not in COLOUR_TYPES or h == 0 or w == 0:
        raise ValueError(f"cannot encode an array of shape {pixels.shape} as PNG")
    rows = pixels.reshape(h, w * channels)
    bands = _band_count(rows.nbytes, h)
    cuts = [h * i // bands for i in range(bands + 1)]
    jobs = [(rows, cuts[i], cuts[i + 1], channels, i == bands - 1) for i in range(bands)]
    if bands == 1:
        parts = [_deflate_band(*jobs[0])]
    else:
        parts = list(threads().map(lambda job: _deflate_band(*job), jobs))
    adler = 1
    for _body, band_adler, length in parts:
        adler = _adler32_combine(adler, band_adler, length)
    stream = b"\x78\x01" + b"".join(body for body, _a, _n in parts) + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", w, h, 8, COLOUR_TYPES[channels], 0, 0, 0)
    data = [_chunk(b"IDAT", stream[i:i + IDAT_BYTES]) for i in range(0, len(stream), IDAT_BYTES)]
    return SIGNATURE + _chunk(b"IHDR", header) + b"".join(data) + _chunk(b"IEND", b"")


def _band_count(nbytes: int, height: int) -> int:
    cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8, height, nbytes // MIN_BAND_BYTES))


def threads() -> ThreadPoolExecutor:
    """The process's threads for bands of pixel work (here, and resampling.warp)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, 8),
                                   thread_name_prefix="png")
    return _pool


def _deflate_band(rows: np.ndarray, start: int, stop: int, channels: int, last: bool
                  ) -> tuple[bytes, int, int]:
    deflate = zlib.compressobj(1, zlib.DEFLATED, -15, 8, zlib.Z_RLE)
    body, adler, length = [], 1, 0
    for block in range(start, stop, BLOCK_ROWS):  # small blocks stay in the CPU's cache
        filtered = paeth_filter(rows, block, min(block + BLOCK_ROWS, stop), channels)
        body.append(deflate.compress(filtered))
        adler, length = zlib.adler32(filtered, adler), length + filtered.nbytes
    body.append(deflate.flush(zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH))
    return b"".join(body), adler, length


def paeth_filter(rows: np.ndarray, start: int, stop: int, channels: int) -> np.ndarray:
    """Rows ``start:stop`` of the image, each prefixed by filter type 4 and Paeth-filtered."""
    above = max(start - 1, 0)
    x = rows[above:stop].astype(np.int16)
    left = np.zeros_like(x)
    left[:, channels:] = x[:, :-channels]
    if start == 0:  # the first row has zeros above it
        up, up_left = np.zeros_like(x), np.zeros_like(x)
        up[1:], up_left[1:] = x[:-1], left[:-1]
        here, left_here = x, left
    else:
        here, up, left_here, up_left = x[1:], x[:-1], left[1:], left[:-1]
    pa = np.abs(up - up_left)
    pb = np.abs(left_here - up_left)
    pc = np.abs(left_here + up - 2 * up_left)
    # the choice as arithmetic (a + (b - a) * choose): a sixth of np.where's time
    predicted = up - up_left
    predicted *= pb <= pc
    predicted += up_left
    choose_left = pa <= pb
    choose_left &= pa <= pc
    chosen = left_here - predicted
    chosen *= choose_left
    predicted += chosen
    out = np.empty((stop - start, rows.shape[1] + 1), np.uint8)
    out[:, 0] = 4
    np.subtract(here, predicted, out=out[:, 1:], casting="unsafe")
    return out


def _adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two buffers joined, from each one's (zlib's adler32_combine)."""
    rem = second_length % _ADLER_BASE
    sum1 = first & 0xFFFF
    sum2 = (rem * sum1) % _ADLER_BASE
    sum1 += (second & 0xFFFF) + _ADLER_BASE - 1
    sum2 += ((first >> 16) & 0xFFFF) + ((second >> 16) & 0xFFFF) + _ADLER_BASE - rem
    sum1 %= _ADLER_BASE
    sum2 %= _ADLER_BASE
    return sum1 | (sum2 << 16)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind))))
