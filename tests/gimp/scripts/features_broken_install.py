"""The procedures without the vendored packages: still registered, and using one says why not."""

import json

from gi.repository import Gimp

from tests.gimp.scripts.lib import call, load, mark

img = load("coffee.png")
names = [n for n in Gimp.get_pdb().query_procedures("bianxie-.*", "", "", "", "", "", "", "")]
mark("registered", json.dumps(sorted(names)))
status, message = call("bianxie-edit-selection", img, [img.get_layers()[0]], prompt="x")
mark("status", status)
mark("message", message)
mark("layers", len(img.get_layers()))
