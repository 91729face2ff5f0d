"""What the end-to-end tests share: the batch-script library that drives the plug-in's
procedures inside GIMP, the canary key, and the folders a batch run reads and writes."""

from __future__ import annotations

import ast
import base64
import shutil
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np

KEY = "sk-GIMP-CANARY-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
FILL = (255, 0, 255)
SUCCESS, EXECUTION_ERROR, CALLING_ERROR = 3, 0, 1

SCRIPTS = Path(__file__).resolve().parent / "scripts"
PACKAGE = "tests.gimp.scripts."
LIB_MODULE = PACKAGE + "lib"


def script(name: str, lib: bool = True) -> str:
    """The script ``scripts/<name>.py`` as GIMP (or the root's python3) runs it: the shared
    scripts it imports from this folder (``lib.py`` and the like) go first, and those imports
    (there for linters) go. ``lib``: whether it must import ``lib.py``."""
    parts: list = []
    _gather(name, parts, set())
    if lib and LIB_MODULE not in {module for module, _ in parts}:
        raise ValueError(f"{name}.py does not import {LIB_MODULE}, which runs before it")
    return "\n".join(body for _, body in parts)


def _gather(name: str, parts: list, seen: set) -> None:
    """Add ``name``'s body to ``parts`` after the bodies of the shared scripts it imports."""
    seen.add(PACKAGE + name)
    text = (SCRIPTS / f"{name}.py").read_text("utf-8")
    drop = set()
    for node in ast.parse(text).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
            drop.update(range(node.lineno, node.end_lineno + 1))
            if node.module not in seen:
                _gather(node.module[len(PACKAGE):], parts, seen)
    parts.append((PACKAGE + name, "".join(
        line for number, line in enumerate(text.splitlines(True), 1) if number not in drop)))


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
