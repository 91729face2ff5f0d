"""In GIMP's python3 with the vendored packages: ``diagnose`` for each case.
argv[1]: JSON {"path": [vendor, plug-in], "cases": [[name, url, options]]}; the key is
BX_KEY."""

import json
import os
import sys

ARGS = json.loads(sys.argv[1])
sys.path[:0] = ARGS["path"]

from bianxie_core.diagnose import diagnose  # noqa: E402

for name, url, kw in ARGS["cases"]:
    found = diagnose(url, os.environ["BX_KEY"], connect_timeout=5, timeout=10, **kw)
    print("MARK", name, json.dumps([found.failure.kind if found.failure else "ok",
                                    [s.step for s in found.steps], found.summary()]))
