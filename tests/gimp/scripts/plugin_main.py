"""test_gimp_plugin.py's main run: the procedures on real images, one case after another.
BX_OK, BX_NO_N and BX_ERR are fake servers: a good one, a relay refusing n > 1, a failing one."""

import hashlib
import json
import os

from gi.repository import Gimp, Gio

from tests.gimp.scripts.lib import (
    DATA, OUT, call, dump, fingerprint, load, mark, meta, pixels, server)

server(os.environ["BX_OK"])

# 1. selection edit on a real photo
img = load("coffee.png")
src = img.get_layers()[0]
before = hashlib.sha256(pixels(src)).hexdigest()
img.select_rectangle(Gimp.ChannelOps.REPLACE, 200, 120, 150, 100)
status, message = call("bianxie-edit-selection", img, [src], prompt="a red apple on the table")
mark("sel-status", status)
layers = img.get_layers()
mark("sel-layers", json.dumps([lay.get_name() for lay in layers]))
mark("sel-source-same", hashlib.sha256(pixels(src)).hexdigest() == before)
new = layers[0]
dump("sel-source", src)
dump("sel-layer", new)
mark("sel-has-mask", new.get_mask() is not None)
if new.get_mask() is not None:
    dump("sel-mask", new.get_mask(), "Y u8")
mark("sel-meta", json.dumps(meta(new)))

# 2. whole layer: no selection
img2 = load("chelsea.png")
Gimp.Selection.none(img2)
status, message = call("bianxie-edit-selection", img2, [img2.get_layers()[0]], prompt="winter")
mark("whole-status", status)
top = img2.get_layers()[0]
mark("whole-layer", json.dumps([top.get_width(), top.get_height(), top.get_offsets()[1:],
                                 top.get_mask() is not None]))

# 3. a layer with offsets, smaller than the canvas
img3 = load("coffee.png")
extra = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, img3,
                             Gio.File.new_for_path(DATA + "/chelsea.png"))
img3.insert_layer(extra, None, 0)
extra.set_offsets(100, 50)
img3.select_rectangle(Gimp.ChannelOps.REPLACE, 260, 180, 80, 60)
status, message = call("bianxie-edit-selection", img3, [extra], prompt="a hat")
mark("offset-status", status)
dump("offset-source", extra)
dump("offset-layer", img3.get_layers()[0])
dump("offset-mask", img3.get_layers()[0].get_mask(), "Y u8")

# 4. references: three layers, the first one edited
img4 = load("coffee.png")
for name in ("chelsea.png", "astronaut.png"):
    ref = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, img4,
                               Gio.File.new_for_path(DATA + "/" + name))
    img4.insert_layer(ref, None, -1)
layers4 = img4.get_layers()
img4.select_rectangle(Gimp.ChannelOps.REPLACE, 100, 100, 200, 150)
status, message = call("bianxie-edit-with-references", img4, layers4,
                       prompt="put the cat and the astronaut into the cup")
mark("refs-status", status)
mark("refs-layers", json.dumps([[lay.get_name() for lay in layers4],
                                  [lay.get_name() for lay in img4.get_layers()]]))

# 5. generate into a new image, with a transparent background
count = len(Gimp.get_images())
status, message = call("bianxie-generate", prompt="a sticker of a fox", background="transparent",
                       size="1024x1024")
mark("gen-status", status)
images = Gimp.get_images()
mark("gen-new-images", len(images) - count)
gen = [i for i in images if i.get_id() not in (img.get_id(), img2.get_id(), img3.get_id(),
                                                 img4.get_id())][0]
dump("gen-layer", gen.get_layers()[0])

# 6. three variants arrive as a group, the first visible
def variants(prompt, n):
    """Edit with ``n`` variants: (status, [[name, visible] of each variant], or None: no
    group came)."""
    img = load("coffee.png")
    img.select_rectangle(Gimp.ChannelOps.REPLACE, 50, 50, 100, 100)
    status, message = call("bianxie-edit-selection", img, [img.get_layers()[0]], prompt=prompt,
                           n=n, stream=False)
    top = img.get_layers()[0]
    if not top.is_group():
        return status, None
    return status, [[c.get_name(), c.get_visible()] for c in top.get_children()]


status, found = variants("a cookie", 3)
mark("var-status", status)
mark("var-group", json.dumps([found is not None, found or []]))

# 7. grayscale and 16-bit images
img7 = load("coffee.png")
img7.convert_grayscale()
img7.select_rectangle(Gimp.ChannelOps.REPLACE, 50, 50, 100, 100)
status, message = call("bianxie-edit-selection", img7, [img7.get_layers()[0]], prompt="gray")
mark("gray-status", status)
mark("gray-result", json.dumps([[lay.get_name() for lay in img7.get_layers()],
                                img7.get_base_type() == Gimp.ImageBaseType.GRAY]))
img8 = load("coffee.png")
img8.convert_precision(Gimp.Precision.U16_NON_LINEAR)
img8.select_rectangle(Gimp.ChannelOps.REPLACE, 50, 50, 100, 100)
status, message = call("bianxie-edit-selection", img8, [img8.get_layers()[0]], prompt="deep")
mark("u16-status", status)
mark("u16-layers", json.dumps([lay.get_name() for lay in img8.get_layers()]))

# 8. a relay that refuses n > 1
server(os.environ["BX_NO_N"])
status, found = variants("tea", 2)
mark("non-status", status)
mark("non-children", json.dumps([name for name, _visible in found or []]))

# 9. a server error leaves everything as it was
server(os.environ["BX_ERR"])
img9 = load("coffee.png")
img9.select_rectangle(Gimp.ChannelOps.REPLACE, 200, 120, 150, 100)
fp = fingerprint(img9)
status, message = call("bianxie-edit-selection", img9, [img9.get_layers()[0]], prompt="boom")
mark("err-status", status)
mark("err-message", message.replace("\n", " "))
mark("err-same", fingerprint(img9) == fp)

# the edited image, with its result layer and parasites, saved as XCF
Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, img, Gio.File.new_for_path(OUT + "/edited.xcf"), None)
mark("xcf-saved", os.path.getsize(OUT + "/edited.xcf"))
