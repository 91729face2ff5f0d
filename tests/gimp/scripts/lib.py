"""Shared by the batch scripts: PDB calls, dumps and a fingerprint of the whole image.

Runs inside GIMP after the harness's prelude, which defines ``mark`` (``MARK name value``
lines on stdout, see tests/gimp/harness.py). ``BX_OUT`` and ``BX_DATA`` name the folders.
"""

import hashlib
import json
import os

from gi.repository import Gegl, Gimp, Gio

if "mark" not in globals():  # the harness's prelude defines it; the same protocol elsewhere
    def mark(name, value=""):
        print("MARK", name, value, flush=True)

OUT = os.environ["BX_OUT"]
DATA = os.environ["BX_DATA"]


def load(name):
    return Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(DATA + "/" + name))


def call(name, image=None, drawables=(), **props):
    proc = Gimp.get_pdb().lookup_procedure(name)
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    if image is not None:
        cfg.set_property("image", image)
    if proc.get_name() not in ("bianxie-settings",) or drawables:
        try:
            cfg.set_core_object_array("drawables", list(drawables))
        except Exception:
            pass
    for key, value in props.items():
        cfg.set_property(key.replace("_", "-"), value)
    res = proc.run(cfg)
    status = int(res.index(0))
    message = ""
    if status != 3 and res.length() > 1:
        err = res.index(1)
        message = getattr(err, "message", None) or str(err)
    return status, message


def server(url):
    status, message = call("bianxie-settings", base_url=url)
    assert status == 3, message


def pixels(drawable, fmt="R'G'B'A u8"):
    w, h = drawable.get_width(), drawable.get_height()
    return bytes(drawable.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0, fmt,
                                           Gegl.AbyssPolicy.NONE))


def dump(tag, drawable, fmt="R'G'B'A u8"):
    with open(OUT + "/" + tag + ".raw", "wb") as f:
        f.write(pixels(drawable, fmt))
    ok, x, y = drawable.get_offsets()
    mark("dump", json.dumps({"tag": tag, "w": drawable.get_width(), "h": drawable.get_height(),
                             "x": x, "y": y}))


def tree(items=None, image=None):
    out = []
    for item in (items if items is not None else image.get_layers()):
        ok, x, y = item.get_offsets()
        node = [item.get_name(), item.get_width(), item.get_height(), x, y, item.get_visible(),
                hashlib.sha256(pixels(item)).hexdigest()[:16]]
        if item.is_group():
            node.append(tree(item.get_children()))
        out.append(node)
    return out


def fingerprint(image):
    sel = Gimp.Selection.bounds(image)
    sel_px = hashlib.sha256(pixels(image.get_selection(), "Y u8")).hexdigest()[:16]
    return json.dumps([tree(image=image), list(sel)[1:], sel_px])


def meta(item):
    p = item.get_parasite("bianxie-request")
    return json.loads(bytes(p.get_data()).decode("utf-8")) if p else None
