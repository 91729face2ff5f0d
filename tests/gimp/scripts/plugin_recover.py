"""Recover Results into a fresh image."""

import json

from tests.gimp.scripts.lib import call, dump, load, mark

img = load("coffee.png")
status, message = call("bianxie-recover-results", img, [img.get_layers()[0]])
mark("rec-status", status)
mark("rec-layers", json.dumps([lay.get_name() for lay in img.get_layers()]))
dump("rec-layer", img.get_layers()[0])
