"""The image bytes of a region edit: the server's answer decoded (16-bit grey scaled, not
clipped), arrays encoded as PNG, WebP or JPEG, and layer pixels flattened to the RGB sent.

Alpha: the image sent is RGB; RGBA layers are flattened over mid-grey by their alpha (opaque
pixels are sent unchanged).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from bianxie_core import png
from bianxie_core.errors import ResponseError
from bianxie_core.i18n import _

_PNG_MODES = ("L", "LA", "RGB", "RGBA")


def flatten_rgb(pixels: np.ndarray) -> np.ndarray:
    """RGB uint8 of grey/RGB(A) pixels; alpha composited over mid-grey (128)."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    channels = pixels.shape[2]
    colour = pixels[..., :3] if channels >= 3 else np.repeat(pixels[..., :1], 3, axis=2)
    if channels in (2, 4):
        alpha = pixels[..., -1:]
        if alpha.min() != 255:
            a = alpha.astype(np.uint16)
            return ((colour * a + 128 * (255 - a) + 127) // 255).astype(np.uint8)
    return np.ascontiguousarray(colour)


def decode_result(result: bytes | Image.Image) -> Image.Image:
    """The server's image as RGB."""
    if isinstance(result, Image.Image):
        image = result
    else:
        try:
            image = Image.open(io.BytesIO(result))
            image.load()
        except Exception:  # noqa: BLE001 - Pillow raises many types for corrupt data
            raise ResponseError(
                _("The server's answer is not an image that can be read: try again.")
            ) from None
    image = eight_bit(image)
    return image if image.mode == "RGB" else image.convert("RGB")


def eight_bit(image: Image.Image) -> Image.Image:
    """16-bit grey (Pillow's I;16 and I modes) scaled to 8 bits: Pillow's own conversion clips,
    which turned a dark 16-bit image white. Other modes are returned as they are (Pillow reads
    48- and 64-bit colour PNGs as RGB and RGBA already)."""
    if not image.mode.startswith("I"):
        return image
    values = np.asarray(image, dtype=np.float64)
    sixteen = image.mode.startswith("I;16") or values.max(initial=0) > 255
    values = values / 257.0 if sixteen else values
    return Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8), "L")


def encode_image(array, fmt: str = "png") -> bytes:
    """PNG (fast compression), WebP or JPEG (quality 92) bytes of an array or PIL image."""
    fmt = "jpeg" if fmt == "jpg" else fmt
    if fmt == "png":
        if isinstance(array, Image.Image):
            array = array if array.mode in _PNG_MODES else array.convert("RGBA")
        return png.encode(np.asarray(array))
    image = array if isinstance(array, Image.Image) else Image.fromarray(np.asarray(array))
    out = io.BytesIO()
    if fmt == "webp":
        image.save(out, "WEBP", quality=92, method=4)
    elif fmt == "jpeg":
        if image.mode not in ("RGB", "L"):  # transparency flattened onto white
            white = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
        image.save(out, "JPEG", quality=92)
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return out.getvalue()
