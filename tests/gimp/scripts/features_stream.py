"""A streamed edit against BX_STREAM, which holds the final event until the test lets it go."""

import os

from gi.repository import Gimp

from tests.gimp.scripts.lib import call, load, mark, server

server(os.environ["BX_STREAM"])
img = load("coffee.png")
img.select_rectangle(Gimp.ChannelOps.REPLACE, 200, 120, 150, 100)
status, message = call("bianxie-edit-selection", img, [img.get_layers()[0]], prompt="streamed",
                       stream=True)
mark("stream-status", status)
mark("stream-message", message)
mark("stream-images", len(Gimp.get_images()))
