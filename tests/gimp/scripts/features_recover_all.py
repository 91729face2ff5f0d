"""Recover Results: every paid image waiting in the history."""

import json

from tests.gimp.scripts.lib import call, load, mark

img = load("coffee.png")
status, message = call("bianxie-recover-results", img, [img.get_layers()[0]])
mark("recover", json.dumps([status, len(img.get_layers()), message]))
