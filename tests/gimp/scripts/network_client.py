"""In GIMP's python3 with the vendored packages: list the models through each proxy case.
argv[1]: JSON {"path": [vendor, plug-in], "cases": [[name, url, client options]]}; the key
is BX_KEY."""

import json
import os
import sys

ARGS = json.loads(sys.argv[1])
sys.path[:0] = ARGS["path"]

from bianxie_core.client import ImagesClient  # noqa: E402

for name, url, kw in ARGS["cases"]:
    try:
        found = ImagesClient(url, os.environ["BX_KEY"], connect_timeout=2, timeout=4,
                             **kw).list_models()
        print("MARK", name, json.dumps(["ok", "gpt-image-1" in found]))
    except Exception as exc:
        print("MARK", name, json.dumps([type(exc).__name__, str(exc)]))
