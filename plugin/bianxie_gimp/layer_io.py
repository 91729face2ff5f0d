"""GIMP's side of the pixels: GEGL reads and writes, result layers, parasites, and the checks
on what GIMP hands the plug-in. No image maths: that is the core's."""

import json

from gi.repository import Gegl, Gimp

from bianxie_core.geometry import Bounds
from bianxie_core.raw import RawPixels
from failure import Failure
from plugin_i18n import _

PARASITE = "bianxie-request"
RGBA = "R'G'B'A u8"
COVERAGE = "Y u8"  # the selection and layer masks are linear


# -- pixels ---------------------------------------------------------------------------------


def read_rgba(drawable, bounds):
    """8-bit sRGB pixels of ``bounds`` as ``RawPixels``: RGBA when the layer has alpha, else
    RGB (babl sets up an RGB → RGBA conversion slowly, so a layer without alpha is read as it
    is)."""
    fmt, channels = (RGBA, 4) if drawable.has_alpha() else ("R'G'B' u8", 3)
    rect = Gegl.Rectangle.new(bounds.x, bounds.y, bounds.width, bounds.height)
    data = drawable.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.CLAMP)
    return RawPixels(bytes(data), bounds.width, bounds.height, channels)


def read_coverage(image, bounds, dx, dy):
    rect = Gegl.Rectangle.new(bounds.x + dx, bounds.y + dy, bounds.width, bounds.height)
    data = image.get_selection().get_buffer().get(rect, 1.0, COVERAGE, Gegl.AbyssPolicy.NONE)
    return RawPixels(bytes(data), bounds.width, bounds.height, 1)


def write(drawable, pixels, fmt):
    """``pixels`` (``RawPixels`` of the drawable's size) into the drawable."""
    buf = drawable.get_buffer()
    buf.set(Gegl.Rectangle.new(0, 0, pixels.width, pixels.height), fmt, pixels.data)
    buf.flush()
    drawable.update(0, 0, pixels.width, pixels.height)


def layer_type(image):
    gray = image.get_base_type() == Gimp.ImageBaseType.GRAY
    return Gimp.ImageType.GRAYA_IMAGE if gray else Gimp.ImageType.RGBA_IMAGE


def new_layer(image, name, pixels, x, y, mask=None):
    """A layer of ``pixels`` (RGBA ``RawPixels``) at (x, y), and the function that fills it
    once it is in the image; ``mask`` (coverage) becomes its layer mask."""
    layer = Gimp.Layer.new(image, name, pixels.width, pixels.height, layer_type(image), 100.0,
                           Gimp.LayerMode.NORMAL)
    layer.set_offsets(x, y)
    return layer, (lambda: _fill_layer(layer, pixels, mask))


def _fill_layer(layer, pixels, mask):
    write(layer, pixels, RGBA)
    if mask is not None:
        layer_mask = layer.create_mask(Gimp.AddMaskType.WHITE)
        layer.add_mask(layer_mask)
        write(layer_mask, mask, COVERAGE)
        # adding a mask makes it the active drawable: Filters > Repeat Last would then refuse
        # ("the active item is a mask"); the result layer itself stays active, as GIMP leaves
        # a new layer
        layer.set_edit_mask(False)


def attach_meta(item, meta):
    # ASCII only: PyGObject passes parasite data as signed chars, so a byte above 127 (any
    # UTF-8 prompt in Chinese) raises OverflowError; \uXXXX escapes round-trip through json.
    data = json.dumps(meta, ensure_ascii=True).encode("ascii")
    item.attach_parasite(Gimp.Parasite.new(PARASITE, Gimp.PARASITE_PERSISTENT, list(data)))


def read_meta(item):
    parasite = item.get_parasite(PARASITE)
    if parasite is None:
        return None
    return json.loads(bytes(parasite.get_data()).decode("utf-8"))


# -- checks on what GIMP hands us ------------------------------------------------------------


def editable_layer(image, drawables):
    if image is None:
        raise Failure(_("Open an image first."), Gimp.PDBStatusType.CALLING_ERROR)
    if not drawables:
        raise Failure(_("Select a layer in the Layers dock first."),
                      Gimp.PDBStatusType.CALLING_ERROR)
    drawable = drawables[0]
    if isinstance(drawable, Gimp.LayerMask) or isinstance(drawable, Gimp.Channel):
        raise Failure(_("The active item is a mask or channel: select a layer instead."),
                      Gimp.PDBStatusType.CALLING_ERROR)
    if not isinstance(drawable, Gimp.Layer):
        raise Failure(_("Select a layer in the Layers dock first."),
                      Gimp.PDBStatusType.CALLING_ERROR)
    if drawable.is_group():
        raise Failure(_("The active layer is a layer group: select one of its layers, or "
                        "merge the group first."), Gimp.PDBStatusType.CALLING_ERROR)
    if image.get_base_type() == Gimp.ImageBaseType.INDEXED:
        raise Failure(_("Indexed images are not supported: convert the image with Image › "
                        "Mode › RGB first."), Gimp.PDBStatusType.CALLING_ERROR)
    return drawable


def selection_in_layer(image, layer):
    """The selection's bounding box in layer coordinates, or None when nothing is selected."""
    _ok, non_empty, x1, y1, x2, y2 = Gimp.Selection.bounds(image)
    if not non_empty:
        return None
    _ok, ox, oy = layer.get_offsets()
    return Bounds.from_corners(x1 - ox, y1 - oy, x2 - ox, y2 - oy)


def decode(data):
    """An image file's bytes as RGBA ``RawPixels`` (loads Pillow)."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        rgba = im.convert("RGBA")
        return RawPixels(rgba.tobytes(), rgba.width, rgba.height, 4)
