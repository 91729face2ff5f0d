"""Hostile and ordinary servers (cases from BX_OUT/hostile.json)."""

import json
import time

from tests.gimp.scripts.lib import OUT, fingerprint, mark
from tests.gimp.scripts.reliability_lib import configure, edit, jobs_left, photo, top

configure(api_key="", timeout=300.0)
for case in json.load(open(OUT + "/hostile.json")):
    configure(base_url=case["url"], timeout=case["timeout"] or 300.0)
    img = photo()
    before = fingerprint(img)
    t0 = time.monotonic()
    status, message = edit(img, [img.get_layers()[0]], n=case["n"])
    seconds = time.monotonic() - t0
    mark("hostile", json.dumps({
        "id": case["id"], "status": status, "message": message, "seconds": seconds,
        "same": fingerprint(img) == before, "layers": len(img.get_layers()), "top": top(img),
        "jobs": jobs_left()}))
    img.delete()
