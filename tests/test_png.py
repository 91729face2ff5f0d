"""The upload PNG encoder: lossless, valid for strict decoders, as small as Pillow's."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bianxie_core import png

DATA = Path(__file__).resolve().parent / "data"


def chunks(data: bytes) -> list:
    assert data[:8] == png.SIGNATURE
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        out.append((kind, body))
        pos += 12 + length
    return out


def decoded(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    image.load()
    return np.asarray(image)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7, 3), (9, 1, 4), (5, 3, 2), (300, 200, 3),
                                   (1024, 1536, 4), (2, 70000, 1), (4000, 5, 3)])
def test_random_pixels_round_trip(shape, monkeypatch):
    monkeypatch.setattr(png, "MIN_BAND_BYTES", 64)  # many bands even for small images
    pixels = np.random.default_rng(sum(shape)).integers(0, 256, shape, np.uint8)
    data = png.encode(pixels)
    assert np.array_equal(decoded(data).reshape(shape), pixels)
    found = chunks(data)
    kinds = [kind for kind, _ in found]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and set(kinds[1:-1]) == {b"IDAT"}
    assert all(len(body) <= png.IDAT_BYTES for kind, body in found)
    zlib.decompress(b"".join(body for kind, body in found if kind == b"IDAT"))  # Adler-32


@pytest.mark.parametrize("bands", [1, 2, 3, 7])
def test_any_number_of_bands_gives_the_same_image(bands, monkeypatch):
    photo = np.asarray(Image.open(DATA / "chelsea.png").convert("RGB"))
    monkeypatch.setattr(png, "_band_count", lambda nbytes, height: bands)
    data = png.encode(photo)
    assert np.array_equal(decoded(data), photo)
    raw = zlib.decompress(b"".join(body for kind, body in chunks(data) if kind == b"IDAT"))
    assert raw[0] == 4 and len(raw) == photo.shape[0] * (photo.shape[1] * 3 + 1)


@pytest.mark.parametrize("name", ["chelsea.png", "coffee.png", "rocket.jpg"])
def test_photos_compress_as_well_as_pillows_fastest_setting(name):
    photo = Image.open(DATA / name).convert("RGB")
    ours = len(png.encode(np.asarray(photo)))
    out = io.BytesIO()
    photo.save(out, "PNG", compress_level=1)
    assert ours < len(out.getvalue())
    assert ours < photo.width * photo.height * 3 * 0.7


def test_flat_areas_compress_to_almost_nothing():
    mask = np.full((1024, 1536, 4), 255, np.uint8)
    mask[300:700, 500:900, 3] = 0
    data = png.encode(mask)
    assert len(data) < 20_000
    assert np.array_equal(decoded(data), mask)


@pytest.mark.parametrize("shape", [(0, 4, 3), (4, 0, 3), (4, 4, 5), (4, 4, 3, 1)])
def test_unencodable_shapes_are_refused(shape):
    with pytest.raises(ValueError):
        png.encode(np.zeros(shape, np.uint8))


def test_only_8_bit_pixels_are_encoded():
    with pytest.raises(ValueError):
        png.encode(np.zeros((4, 4, 3), np.float32))
