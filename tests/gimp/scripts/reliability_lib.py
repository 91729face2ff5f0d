"""Shared by the reliability batch scripts: settings written straight into config.json (a
settings call per case would start the plug-in once more), edits, job folders, history."""

import json
import os
import time

from gi.repository import Gimp

from tests.gimp.scripts.lib import call, load

HOME = os.environ["BIANXIE_HOME"]
CONFIG = {}

def configure(**values):
    CONFIG.update(values)
    os.makedirs(HOME, exist_ok=True)
    fd = os.open(HOME + "/config.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(CONFIG, f)

def edit(img, drawables, proc="bianxie-edit-selection", **kw):
    kw.setdefault("prompt", "a small red boat")
    kw.setdefault("stream", False)
    kw.setdefault("output_format", "jpeg")
    return call(proc, img, drawables, **kw)

def jobs_left():
    """Job folders, less the one a request worker waits in for the next edit (".name" while
    that worker makes it)."""
    folder = HOME + "/jobs"
    left = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if name.startswith("."):
            continue
        try:
            waiting = any(f.startswith("standby-") for f in os.listdir(folder + "/" + name))
        except OSError:  # a retiring worker removed it
            continue
        if not waiting:
            left.append(name)
    return left

def waiting_workers():
    """PIDs of request workers waiting for the next edit (see bianxie_core/standby.py)."""
    folder = HOME + "/jobs"
    deadline = time.monotonic() + 2
    while True:
        pids = []
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            try:
                if any(f.startswith("standby-") for f in os.listdir(folder + "/" + name)):
                    with open(folder + "/" + name + "/status.json") as status:
                        pids.append(json.load(status)["pid"])
            except (OSError, ValueError, KeyError):
                continue
        if pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.02)

def sidecars():
    folder = HOME + "/history"
    out = {}
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if name.endswith(".json"):
            with open(folder + "/" + name) as f:
                out[name[:-5]] = json.load(f)
    return out

def photo(name="chelsea.png", rect=(100, 80, 120, 90)):
    img = load(name)
    if rect:
        img.select_rectangle(Gimp.ChannelOps.REPLACE, *rect)
    return img

def top(img):
    lay = img.get_layers()[0]
    ok, x, y = lay.get_offsets()
    return {"name": lay.get_name(), "group": lay.is_group(), "w": lay.get_width(),
            "h": lay.get_height(), "x": x, "y": y,
            "children": len(lay.get_children()) if lay.is_group() else 0}
