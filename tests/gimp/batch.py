"""What the end-to-end tests share: the batch-script library that drives the plug-in's
procedures inside GIMP, the canary key, and the folders a batch run reads and writes."""

from __future__ import annotations

import base64
import shutil
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np

KEY = "sk-GIMP-CANARY-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
FILL = (255, 0, 255)
SUCCESS, EXECUTION_ERROR, CALLING_ERROR = 3, 0, 1

# Shared by every batch script: PDB calls, dumps and a fingerprint of the whole image.
LIB = r'''
import hashlib, json, os
from gi.repository import Gimp, Gio, Gegl
OUT = os.environ["BX_OUT"]
DATA = os.environ["BX_DATA"]

def load(name):
    return Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(DATA + "/" + name))

def call(name, image=None, drawables=(), **props):
    proc = Gimp.get_pdb().lookup_procedure(name)
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    if image is not None:
        cfg.set_property("image", image)
    if proc.get_name() not in ("bianxie-settings",) or drawables:
        try:
            cfg.set_core_object_array("drawables", list(drawables))
        except Exception:
            pass
    for key, value in props.items():
        cfg.set_property(key.replace("_", "-"), value)
    res = proc.run(cfg)
    status = int(res.index(0))
    message = ""
    if status != 3 and res.length() > 1:
        err = res.index(1)
        message = getattr(err, "message", None) or str(err)
    return status, message

def server(url):
    status, message = call("bianxie-settings", base_url=url)
    assert status == 3, message

def pixels(drawable, fmt="R'G'B'A u8"):
    w, h = drawable.get_width(), drawable.get_height()
    return bytes(drawable.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0, fmt,
                                           Gegl.AbyssPolicy.NONE))

def dump(tag, drawable, fmt="R'G'B'A u8"):
    with open(OUT + "/" + tag + ".raw", "wb") as f:
        f.write(pixels(drawable, fmt))
    ok, x, y = drawable.get_offsets()
    mark("dump", json.dumps({"tag": tag, "w": drawable.get_width(), "h": drawable.get_height(),
                             "x": x, "y": y}))

def tree(items=None, image=None):
    out = []
    for item in (items if items is not None else image.get_layers()):
        ok, x, y = item.get_offsets()
        node = [item.get_name(), item.get_width(), item.get_height(), x, y, item.get_visible(),
                hashlib.sha256(pixels(item)).hexdigest()[:16]]
        if item.is_group():
            node.append(tree(item.get_children()))
        out.append(node)
    return out

def fingerprint(image):
    sel = Gimp.Selection.bounds(image)
    sel_px = hashlib.sha256(pixels(image.get_selection(), "Y u8")).hexdigest()[:16]
    return json.dumps([tree(image=image), list(sel)[1:], sel_px])

def meta(item):
    p = item.get_parasite("bianxie-request")
    return json.loads(bytes(p.get_data()).decode("utf-8")) if p else None
'''


DATA = Path(__file__).resolve().parents[1] / "data"


def out_folder(gimp_env, name):
    """A fresh folder inside the root with the test photos; (inner path, host path)."""
    inner = f"/tmp/bx-out-{name}-{int(time.time() * 1000)}"
    host = gimp_env.host_path(inner)
    shutil.copytree(DATA, host)
    return inner, host


def batch_env(inner, home, **extra):
    return dict(extra, BX_OUT=inner, BX_DATA=inner, BIANXIE_API_KEY=KEY, LANG="C.UTF-8",
                BIANXIE_HOME=home)


def jobs_after_gimp(home: Path, timeout: float = 15.0) -> list:
    """The job folders left once GIMP has exited: a request worker waiting for GIMP's next
    edit (see bianxie_core/standby.py) leaves within a second or two and takes its folder."""
    folder = home / "jobs"
    deadline = time.monotonic() + timeout
    while True:
        left = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def raw(out, dumps, tag, channels=4):
    info = dumps[tag]
    data = (out / f"{tag}.raw").read_bytes()
    return np.frombuffer(data, np.uint8).reshape(info["h"], info["w"], channels), info


def key_forms(key):
    raw = key.encode()
    forms = {key, quote(key, safe=""), base64.b64encode(raw).decode(),
             base64.urlsafe_b64encode(raw).decode()}
    return {f.rstrip("=").encode() for f in forms}
