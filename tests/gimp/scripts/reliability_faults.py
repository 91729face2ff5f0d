"""The fault matrix (cases from BX_OUT/cases.json, one server each), then BX_SOAK_EDITS edits
against BX_SOAK."""

import json
import os
import time

from gi.repository import Gimp, Gio

from tests.gimp.scripts.lib import DATA, OUT, fingerprint, load, mark
from tests.gimp.scripts.reliability_lib import (
    configure, edit, jobs_left, photo, sidecars, top, waiting_workers)

configure(api_key="", timeout=300.0, history_cap_mb=1)
for case in json.load(open(OUT + "/cases.json")):
    configure(base_url=case["url"], timeout=case["timeout"] or 300.0)
    if case["big"]:
        img = load("noise-0.png")
        for i in range(1, case["layers"]):
            lay = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, img,
                                       Gio.File.new_for_path(DATA + "/noise-%d.png" % i))
            img.insert_layer(lay, None, -1)
        proc, drawables = "bianxie-edit-with-references", img.get_layers()
    else:
        img = photo()
        proc, drawables = "bianxie-edit-selection", [img.get_layers()[0]]
    before = fingerprint(img)
    images = len(Gimp.get_images())
    t0 = time.monotonic()
    status, message = edit(img, drawables, proc, stream=case["stream"], n=case["n"])
    seconds = time.monotonic() - t0
    after = fingerprint(img)
    b, a = json.loads(before), json.loads(after)
    mark("fault", json.dumps({
        "id": case["id"], "status": status, "message": message, "seconds": seconds,
        "same": after == before, "rest_same": a[0][1:] == b[0] and a[1:] == b[1:],
        "layers": len(img.get_layers()), "top": top(img), "jobs": jobs_left(),
        "new_images": len(Gimp.get_images()) - images}))
    img.delete()

mark("pending-before-soak", json.dumps(sorted(k for k, v in sidecars().items()
                                              if not v.get("imported"))))
configure(base_url=os.environ["BX_SOAK"], timeout=300.0)
img = photo("coffee.png", (200, 120, 150, 100))
statuses, waiting = [], []
for i in range(int(os.environ["BX_SOAK_EDITS"])):
    status, message = edit(img, [img.get_layers()[-1]], prompt="soak %d" % i)
    statuses.append([status, message])
    waiting.append(waiting_workers())
mark("soak", json.dumps({"statuses": statuses, "layers": len(img.get_layers()),
                         "jobs": jobs_left(), "waiting": waiting}))
