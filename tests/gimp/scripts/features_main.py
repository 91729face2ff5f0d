"""test_gimp_features.py's main run: Expand, Remove, Re-run (and on a foreign layer).
BX_OK is the fake server."""

import json
import os

from gi.repository import Gimp

from tests.gimp.scripts.lib import call, dump, load, mark, meta, server

server(os.environ["BX_OK"])

# Expand: 100 px on the left and right of a 600x400 photo
img = load("coffee.png")
layer = img.get_layers()[0]
status, message = call("bianxie-expand", img, [layer], left=100, right=100, stream=False)
mark("exp-status", status)
mark("exp-message", message)
mark("exp-canvas", json.dumps([img.get_width(), img.get_height()]))
mark("exp-source-offsets", json.dumps(list(layer.get_offsets()[1:])))
top = img.get_layers()[0]
dump("exp-layer", top)
dump("exp-mask", top.get_mask(), "Y u8")

# Remove: no prompt needed
img2 = load("coffee.png")
img2.select_rectangle(Gimp.ChannelOps.REPLACE, 200, 120, 150, 100)
status, message = call("bianxie-edit-selection", img2, [img2.get_layers()[0]], prompt="",
                       remove=True, stream=False)
mark("rem-status", status)
mark("rem-message", message)
mark("rem-layers", json.dumps([lay.get_name() for lay in img2.get_layers()]))

# Re-run the result layer of an edit with a new prompt: a sibling, same area
img3 = load("coffee.png")
img3.select_rectangle(Gimp.ChannelOps.REPLACE, 200, 120, 150, 100)
status, message = call("bianxie-edit-selection", img3, [img3.get_layers()[0]], prompt="a cup",
                       stream=False)
first = img3.get_layers()[0]
Gimp.Selection.none(img3)
status, message = call("bianxie-rerun-layer", img3, [first], prompt="a blue cup")
mark("rerun-status", status)
mark("rerun-message", message)
mark("rerun-layers", json.dumps([[lay.get_name(), list(lay.get_offsets()[1:]), lay.get_width(),
                                  lay.get_height()] for lay in img3.get_layers()]))
m = meta(img3.get_layers()[0])
mark("rerun-meta", json.dumps({k: m.get(k) for k in ("usage", "price", "selection",
                                                       "session_total")}))

# Re-run on a layer this plug-in did not make
status, message = call("bianxie-rerun-layer", img3, [img3.get_layers()[-1]])
mark("rerun-foreign-status", status)
mark("rerun-foreign-message", message)
