"""Edit, Expand and Generate while the import fails (BIANXIE_TEST_FAULT=insert)."""

import json
import os

from gi.repository import Gimp

from tests.gimp.scripts.lib import call, fingerprint, load, mark, server

server(os.environ["BX_OK"])
img = load("coffee.png")
img.select_rectangle(Gimp.ChannelOps.REPLACE, 200, 120, 150, 100)
fp = fingerprint(img)
status, message = call("bianxie-edit-selection", img, [img.get_layers()[0]], prompt="a pear",
                       n=2, stream=False)
mark("edit", json.dumps([status, fingerprint(img) == fp, message]))
status, message = call("bianxie-expand", img, [img.get_layers()[0]], left=50, stream=False)
mark("expand", json.dumps([status, fingerprint(img) == fp, img.get_width(), message]))
count = len(Gimp.get_images())
status, message = call("bianxie-generate", prompt="a plum", stream=False)
mark("generate", json.dumps([status, len(Gimp.get_images()) - count, message]))
