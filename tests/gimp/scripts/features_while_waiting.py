"""An edit against a slow server (BX_SLOW) while a test hook closes the image or deletes
the layer (BIANXIE_TEST_FAULT)."""

import json
import os

from gi.repository import Gimp, Gio

from tests.gimp.scripts.lib import DATA, call, load, mark, server

server(os.environ["BX_SLOW"])
img = load("coffee.png")
extra = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, img,
                             Gio.File.new_for_path(DATA + "/chelsea.png"))
img.insert_layer(extra, None, 0)
img.select_rectangle(Gimp.ChannelOps.REPLACE, 100, 100, 150, 100)
status, message = call("bianxie-edit-selection", img, [extra], prompt="a kite", stream=False)
mark("status", status)
mark("message", message)
mark("image-valid", img.is_valid())
if img.is_valid():
    mark("layers", json.dumps([lay.get_name() for lay in img.get_layers()]))
