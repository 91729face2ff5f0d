"""The X desktop inside a GIMP GUI root: Xvfb and openbox, windows found by title, captured
with ImageMagick and closed with Escape (tests/gimp/screenshots.py, test_gimp_dialogs.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from tests.gimp.harness import Background, GimpRoot

SCREEN = "1280x800x24"
SHOTS_IN_ROOT = "/tmp/bx-shots"
WAIT_WINDOW = 90.0  # s; GIMP's first start in a fresh profile is slow


def plain_title(title: str) -> str:
    """A title without mnemonics: "_Edit Selection…" and "编辑选区(_E)…" lose the marker."""
    return re.sub(r"\(_.\)|_", "", title).strip()



class Desktop:
    """Xvfb and openbox inside a GIMP root; X clients run in the root with DISPLAY set."""

    def __init__(self, root: GimpRoot, screen: str = SCREEN):
        self.root = root
        self.screen = screen
        self.display = ""
        self.procs: List[Background] = []
        self.proc_mounted = False

    def env(self, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        return {"DISPLAY": self.display, **(extra or {})}

    def start(self) -> "Desktop":
        self._mount_proc()
        sockets = self.root.host_path("/tmp/.X11-unix")
        number = next(n for n in range(90, 200) if not (sockets / f"X{n}").exists()
                      and not self.root.host_path(f"/tmp/.X{n}-lock").exists())
        self.display = f":{number}"
        self.procs.append(self.root.start(["Xvfb", self.display, "-screen", "0", self.screen,
                                           "-nolisten", "tcp", "-ac"]))
        deadline = time.monotonic() + 30
        while not (sockets / f"X{number}").exists():
            if time.monotonic() > deadline or self.procs[0].proc.poll() is not None:
                raise RuntimeError(f"Xvfb did not start: {self.procs[0].stderr}")
            time.sleep(0.1)
        self.procs.append(self.root.start(["openbox"], env=self.env()))
        return self

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.__exit__(None, None, None)
        self.procs = []
        if self.proc_mounted:
            subprocess.run(["umount", "-l", str(self.root.host_path("/proc"))], check=False)
            self.proc_mounted = False

    def _mount_proc(self) -> None:
        """GTK in GIMP 3.2 loads icons through glycin, whose sandbox needs /proc."""
        target = self.root.host_path("/proc")
        if (target / "self").exists():
            return
        done = subprocess.run(["mount", "-t", "proc", "proc", str(target)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"cannot mount /proc in the GUI root: {done.stderr.strip()}")
        self.proc_mounted = True

    def __enter__(self) -> "Desktop":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def x(self, *argv: str, timeout: float = 30.0):
        return self.root.run(list(argv), env=self.env(), timeout=timeout)

    def windows(self) -> List[Tuple[str, str]]:
        """(id, title) of every named window, from ``xwininfo -root -tree``."""
        out = self.x("xwininfo", "-root", "-tree").stdout
        found = []
        for m in re.finditer(r'^\s*(0x[0-9a-f]+) "((?:[^"\\]|\\.)*)"', out, re.M):
            found.append((m.group(1), m.group(2).encode("latin-1", "backslashreplace")
                          .decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")
                          if "\\" in m.group(2) else m.group(2)))
        return found

    def wait_window(self, title: str, timeout: float = WAIT_WINDOW,
                    alive: Callable[[], bool] = lambda: True) -> Optional[str]:
        """The id of a window whose plain title is ``title``, once it is shown."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive():
            for wid, name in self.windows():
                if plain_title(name) == title:
                    return wid
            time.sleep(0.3)
        return None

    def capture(self, host_png: Path, window: Optional[str] = None) -> Path:
        """``import`` a window (with its frame) or the whole screen into ``host_png``."""
        inner = f"{SHOTS_IN_ROOT}/{uuid.uuid4().hex[:8]}.png"
        self.root.host_path(SHOTS_IN_ROOT).mkdir(parents=True, exist_ok=True)
        target = ["-frame", "-window", window] if window else ["-window", "root"]
        done = self.x("import", *target, inner)
        if done.returncode != 0:
            raise RuntimeError(f"import failed: {done.stderr}")
        scale = [] if window else ["-resize", "1024x"]  # the whole screen: smaller
        small = self.x("convert", inner, *scale, "-strip", "-colors", "256", "-define",
                       "png:compression-level=9", inner + ".small.png")
        if small.returncode != 0:
            raise RuntimeError(f"convert failed: {small.stderr}")
        host_png.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.root.host_path(inner + ".small.png")), host_png)
        self.root.host_path(inner).unlink(missing_ok=True)
        return host_png

    def close(self, window: str, timeout: float = 20.0) -> bool:
        """Escape to the window until it is gone."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if window not in [w for w, _n in self.windows()]:
                return True
            self.x("xdotool", "windowactivate", "--sync", window)
            self.x("xdotool", "key", "--clearmodifiers", "Escape")
            time.sleep(0.5)
        return False
