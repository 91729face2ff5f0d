"""An edit against a slow server (BX_SLOW); the test kills the plug-in while it waits."""

import os

from gi.repository import Gimp

from tests.gimp.scripts.lib import call, load, mark, server

server(os.environ["BX_SLOW"])
img = load("coffee.png")
img.select_rectangle(Gimp.ChannelOps.REPLACE, 200, 120, 150, 100)
mark("calling", 1)
status, message = call("bianxie-edit-selection", img, [img.get_layers()[0]], prompt="lost?",
                       stream=False)
mark("kill-status", status)
mark("kill-layers", len(img.get_layers()))
