"""An edit with and without alignment against BX_URL, a fake that redraws the canvas drifted.
BX_SELECTION: the ellipse's bounds, as JSON."""

import json
import os

from gi.repository import Gimp

from tests.gimp.scripts.lib import call, dump, load, mark, meta, server

server(os.environ["BX_URL"])
for tag, align in (("on", True), ("off", False)):
    img = load("coffee.png")
    layer = img.get_layers()[0]
    if tag == "on":
        dump("source", layer)
    img.select_ellipse(Gimp.ChannelOps.REPLACE, *json.loads(os.environ["BX_SELECTION"]))
    status, message = call("bianxie-edit-selection", img, [layer], prompt="keep everything",
                           stream=False, align=align)
    mark(tag + "-status", status)
    mark(tag + "-message", message)
    top = img.get_layers()[0]
    mark(tag + "-meta", json.dumps(meta(top)))
    dump(tag + "-mask", top.get_mask(), "Y u8")
    mark(tag + "-mask-offsets", json.dumps(list(top.get_offsets()[1:])))
    merged = img.merge_visible_layers(Gimp.MergeType.CLIP_TO_IMAGE)
    dump(tag + "-merged", merged)
