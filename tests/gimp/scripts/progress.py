"""test_gimp_progress.py's run: a plain edit, then a streamed one, against BX_URL, a fake that
writes its answers slowly."""

import json
import os

from gi.repository import Gimp

from tests.gimp.scripts.lib import call, load, mark, server

server(os.environ["BX_URL"])
for tag, stream in (("plain", False), ("stream", True)):
    img = load("coffee.png")
    img.select_rectangle(Gimp.ChannelOps.REPLACE, 40, 40, 96, 64)
    status, message = call("bianxie-edit-selection", img, [img.get_layers()[0]],
                           prompt="a tiny boat", stream=stream)
    mark(tag + "-status", status)
    mark(tag + "-message", message.replace("\n", " "))
    mark(tag + "-layers", json.dumps([lay.get_name() for lay in img.get_layers()]))
