"""Edit and Generate while the import fails (BIANXIE_TEST_FAULT=import), then Recover."""

import json
import os

from gi.repository import Gimp

from tests.gimp.scripts.lib import call, fingerprint, mark
from tests.gimp.scripts.reliability_lib import configure, edit, photo, sidecars

configure(base_url=os.environ["BX_URL"], api_key="")
img = photo()
before = fingerprint(img)
images = len(Gimp.get_images())
status, message = edit(img, [img.get_layers()[0]])
mark("edit", json.dumps([status, message, fingerprint(img) == before]))
status, message = call("bianxie-generate", prompt="a fox", n=2, stream=False,
                       output_format="jpeg", size="1024x1024")
mark("generate", json.dumps([status, message, len(Gimp.get_images()) - images]))
mark("pending", json.dumps(sorted(k for k, v in sidecars().items() if not v.get("imported"))))
status, message = call("bianxie-recover-results", img, [img.get_layers()[0]])
mark("recover", json.dumps([status, message, len(img.get_layers())]))
mark("imported", json.dumps([v.get("imported") for v in sidecars().values()]))
