"""Build and cache Debian roots that hold a real GIMP 3 for the end-to-end tests.

    python3 -m tests.gimp.provision [--roots DIR] [trixie|forky ...]

trixie gives GIMP 3.0.x with Python 3.13, forky GIMP 3.2.x with Python 3.14. Each root is a
``debootstrap --variant=minbase`` tree with GIMP, PyGObject and the GIMP/GEGL typelibs, but
deliberately WITHOUT numpy, Pillow, requests and pip: install.py must bring those itself.

Roots live in ``/var/cache/bianxie-gimp-roots`` (env ``BIANXIE_GIMP_ROOTS``). A finished root
has a stamp file recording the recipe; a root whose stamp matches is reused in seconds, anything
else (a half-built tree, an old recipe) is rebuilt. Needs root (debootstrap, chroot).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

DEFAULT_ROOTS = Path("/var/cache/bianxie-gimp-roots")
RECIPE_VERSION = 1
PACKAGES = ("gimp", "python3", "python3-gi", "gir1.2-gimp-3.0", "gir1.2-gegl-0.4",
            "ca-certificates")
FORBIDDEN = ("python3-numpy", "python3-pil", "python3-requests", "python3-pip")
FORBIDDEN_IMPORTS = ("numpy", "PIL", "requests", "pip")
GUI_RECIPE_VERSION = 2
GUI_PACKAGES = ("xvfb", "xauth", "imagemagick", "openbox", "xdotool", "x11-utils",
                "fonts-noto-cjk", "fonts-dejavu-core", "locales")
# GIMP's own (C gettext) translations need a real locale; C.UTF-8 ignores LANGUAGE.
GUI_LOCALES = ("en_US.UTF-8 UTF-8", "zh_CN.UTF-8 UTF-8")
DEBOOTSTRAP_SCRIPTS = Path("/usr/share/debootstrap/scripts")
HOST_EXTRA_CAS = Path("/usr/local/share/ca-certificates")
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
APT_CONF = 'Acquire::Check-Valid-Until "false";\nAPT::Install-Recommends "false";\n'


class Spec(NamedTuple):
    suite: str
    name: str  # the GIMP series, also the profile folder name: ~/.config/GIMP/<name>
    script: str  # debootstrap script (Debian 12's debootstrap has no forky script)


SPECS: Dict[str, Spec] = {
    "trixie": Spec("trixie", "3.0", "sid"),
    "forky": Spec("forky", "3.2", "sid"),
}


class RootInfo(NamedTuple):
    suite: str
    name: str
    path: Path
    gimp_console: str  # path inside the root, e.g. /usr/bin/gimp-console-3.0
    gimp_version: str  # "3.0.4"
    python_version: str  # "3.13.5"


class ProvisionError(RuntimeError):
    """A root could not be built; the message names the step and the log file."""


def roots_dir(override: Optional[str] = None) -> Path:
    return Path(override or os.environ.get("BIANXIE_GIMP_ROOTS") or DEFAULT_ROOTS)


def recipe(spec: Spec) -> dict:
    return {"recipe": RECIPE_VERSION, "suite": spec.suite, "packages": list(PACKAGES),
            "forbidden": list(FORBIDDEN)}


def host_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian archive URI from the host's own apt sources (deb822 first, then one-line)."""
    env = os.environ.get("BIANXIE_DEBIAN_MIRROR")
    if env:
        return env
    uris: List[str] = []
    for f in sorted((sources_dir / "sources.list.d").glob("*.sources")):
        for m in re.finditer(r"^URIs:\s*(.+)$", f.read_text(errors="replace"), re.M):
            uris.extend(m.group(1).split())
    lists = [sources_dir / "sources.list", *sorted((sources_dir / "sources.list.d").glob("*.list"))]
    for f in lists:
        if f.is_file():
            for m in re.finditer(r"^\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)", f.read_text(errors="replace"),
                                 re.M):
                uris.append(m.group(1))
    for uri in uris:
        if re.match(r"https?://", uri) and uri.rstrip("/").endswith("/debian"):
            return uri
    raise ProvisionError(
        "no Debian archive found in the host's apt sources; set BIANXIE_DEBIAN_MIRROR")


def read_stamp(path: Path) -> Optional[dict]:
    try:
        return json.loads((path / ".bianxie-stamp.json").read_text())
    except (OSError, ValueError):
        return None


def load(suite: str, base: Optional[Path] = None) -> Optional[RootInfo]:
    """The finished root for ``suite``, or None when it is missing, half-built or outdated."""
    spec = SPECS[suite]
    path = (base or roots_dir()) / suite
    stamp = read_stamp(path)
    if not stamp or stamp.get("recipe_key") != recipe(spec):
        return None
    if not (path / stamp["gimp_console"].lstrip("/")).exists():
        return None
    return RootInfo(suite, spec.name, path, stamp["gimp_console"], stamp["gimp_version"],
                    stamp["python_version"])


class _Builder:
    def __init__(self, spec: Spec, base: Path, mirror: str):
        self.spec = spec
        self.final = base / spec.suite
        self.path = base / f"{spec.suite}.partial"
        self.log_path = base / f"{spec.suite}.log"
        self.mirror = mirror
        self.log = None

    def sh(self, argv: List[str], step: str, check: bool = True) -> subprocess.CompletedProcess:
        self.log.write(f"\n$ {' '.join(argv)}\n")
        self.log.flush()
        env = {"PATH": CLEAN_PATH, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8",
               "HOME": "/root"}
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                              text=True, errors="replace")
        self.log.write(proc.stdout)
        self.log.flush()
        if check and proc.returncode != 0:
            tail = "\n".join(proc.stdout.splitlines()[-15:])
            raise ProvisionError(f"{self.spec.suite}: {step} failed (exit {proc.returncode}); "
                                 f"log: {self.log_path}\n{tail}")
        return proc

    def chroot(self, *argv: str, step: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.sh(["chroot", str(self.path), *argv], step, check)

    def build(self) -> RootInfo:
        with open(self.log_path, "w") as self.log:
            if self.path.exists():
                shutil.rmtree(self.path)
            if self.final.exists():
                shutil.rmtree(self.final)
            self.sh(["debootstrap", "--variant=minbase", self.spec.suite, str(self.path),
                     self.mirror, str(DEBOOTSTRAP_SCRIPTS / self.spec.script)], "debootstrap")
            (self.path / "etc/apt/apt.conf.d/99bianxie").write_text(APT_CONF)
            shutil.copy("/etc/resolv.conf", self.path / "etc/resolv.conf")
            self.chroot("apt-get", "update", step="apt-get update")
            self.chroot("apt-get", "install", "-y", "--no-install-recommends", *PACKAGES,
                        step="apt-get install")
            self.copy_cas()
            self.chroot("update-ca-certificates", step="update-ca-certificates")
            self.check_absent()
            self.chroot("apt-get", "clean", step="apt-get clean")
            info = self.versions()
        stamp = dict(recipe_key=recipe(self.spec), gimp_console=info.gimp_console,
                     gimp_version=info.gimp_version, python_version=info.python_version,
                     built=time.strftime("%Y-%m-%dT%H:%M:%S"))
        (self.path / ".bianxie-stamp.json").write_text(json.dumps(stamp, indent=1))
        self.path.rename(self.final)
        return info._replace(path=self.final)

    def copy_cas(self) -> None:
        dest = self.path / "usr/local/share/ca-certificates"
        dest.mkdir(parents=True, exist_ok=True)
        if HOST_EXTRA_CAS.is_dir():
            for crt in HOST_EXTRA_CAS.rglob("*.crt"):
                target = dest / crt.relative_to(HOST_EXTRA_CAS)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(crt, target)

    def check_absent(self) -> None:
        for pkg in FORBIDDEN:
            q = self.chroot("dpkg-query", "-W", "-f=${Status}", pkg, step="dpkg-query",
                            check=False)
            if "install ok installed" in q.stdout:
                raise ProvisionError(f"{self.spec.suite}: {pkg} is installed, but the root must "
                                     "not have it (install.py has to bring it)")
        for mod in FORBIDDEN_IMPORTS:
            q = self.chroot("python3", "-c", f"import {mod}", step=f"import {mod}", check=False)
            if q.returncode == 0:
                raise ProvisionError(f"{self.spec.suite}: python3 can import {mod}; "
                                     "the root must not have it")

    def versions(self) -> RootInfo:
        consoles = sorted((self.path / "usr/bin").glob("gimp-console-3.*"))
        if not consoles:
            raise ProvisionError(f"{self.spec.suite}: no gimp-console-3.* in the root")
        console = "/usr/bin/" + consoles[-1].name
        out = self.chroot(console, "--version", step="gimp --version").stdout
        m = re.search(r"version\s+(3\.\d+\.\d+)", out)
        py = self.chroot("python3", "-c", "import platform; print(platform.python_version())",
                         step="python3 --version").stdout.strip()
        if not m:
            raise ProvisionError(f"{self.spec.suite}: unexpected gimp --version output: {out!r}")
        return RootInfo(self.spec.suite, self.spec.name, self.path, console, m.group(1), py)


def provision(suite: str, base: Optional[Path] = None, mirror: Optional[str] = None) -> RootInfo:
    """The root for ``suite``: reused when its stamp matches, otherwise built (minutes)."""
    base = base or roots_dir()
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f"{suite}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same root
        info = load(suite, base)
        if info:
            return info
        ensure_debootstrap()
        return _Builder(SPECS[suite], base, mirror or host_mirror()).build()


def gui_recipe(spec: Spec) -> dict:
    return {"gui_recipe": GUI_RECIPE_VERSION, "base": recipe(spec), "packages": list(GUI_PACKAGES),
            "locales": list(GUI_LOCALES)}


def load_gui(suite: str, base: Optional[Path] = None) -> Optional[RootInfo]:
    """The finished GUI variant of ``suite`` (``<suite>-gui``), or None."""
    spec = SPECS[suite]
    path = (base or roots_dir()) / f"{suite}-gui"
    stamp = read_stamp(path)
    if not stamp or stamp.get("recipe_key") != gui_recipe(spec):
        return None
    if not (path / stamp["gimp_console"].lstrip("/")).exists():
        return None
    return RootInfo(suite, spec.name, path, stamp["gimp_console"], stamp["gimp_version"],
                    stamp["python_version"])


class _GuiBuilder(_Builder):
    """A copy of the finished base root with the X11 tools and CJK fonts added."""

    def __init__(self, spec: Spec, base: Path, source: RootInfo):
        super().__init__(spec, base, "")
        self.source = source
        self.final = base / f"{spec.suite}-gui"
        self.path = base / f"{spec.suite}-gui.partial"
        self.log_path = base / f"{spec.suite}-gui.log"

    def build(self) -> RootInfo:
        with open(self.log_path, "w") as self.log:
            for old in (self.path, self.final):
                if old.exists():
                    shutil.rmtree(old)
            self.sh(["cp", "-a", "--reflink=auto", str(self.source.path), str(self.path)],
                    "copy the base root")
            for leftover in (self.path / "tmp").iterdir():  # test homes of the base root
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink()
            shutil.copy("/etc/resolv.conf", self.path / "etc/resolv.conf")
            self.chroot("apt-get", "update", step="apt-get update")
            self.chroot("apt-get", "install", "-y", "--no-install-recommends", *GUI_PACKAGES,
                        step="apt-get install (GUI)")
            (self.path / "etc/locale.gen").write_text("\n".join(GUI_LOCALES) + "\n")
            self.chroot("locale-gen", step="locale-gen")
            self.check_absent()
            self.chroot("apt-get", "clean", step="apt-get clean")
            gimp = sorted((self.path / "usr/bin").glob("gimp-3.*"))
            if not gimp:
                raise ProvisionError(f"{self.spec.suite}-gui: no gimp-3.* in the root")
            info = self.versions()
        stamp = dict(recipe_key=gui_recipe(self.spec), gimp_console=info.gimp_console,
                     gimp=f"/usr/bin/{gimp[-1].name}", gimp_version=info.gimp_version,
                     python_version=info.python_version, built=time.strftime("%Y-%m-%dT%H:%M:%S"))
        (self.path / ".bianxie-stamp.json").write_text(json.dumps(stamp, indent=1))
        self.path.rename(self.final)
        return info._replace(path=self.final)


def provision_gui(suite: str, base: Optional[Path] = None,
                  mirror: Optional[str] = None) -> RootInfo:
    """The GUI variant of ``suite``: reused when current, else built from the base root."""
    base = base or roots_dir()
    source = provision(suite, base, mirror)
    with open(base / f"{suite}-gui.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        info = load_gui(suite, base)
        if info:
            return info
        return _GuiBuilder(SPECS[suite], base, source).build()


def ensure_debootstrap() -> None:
    if shutil.which("debootstrap", path=CLEAN_PATH):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "debootstrap"], check=True, env=env)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.gimp.provision", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roots", help=f"cache folder (default {DEFAULT_ROOTS} or "
                                        "$BIANXIE_GIMP_ROOTS)")
    parser.add_argument("suites", nargs="*", metavar="SUITE",
                        help="trixie and/or forky (default: both)")
    parser.add_argument("--gui", action="store_true",
                        help="build the GUI variants (<suite>-gui) for screenshots instead")
    args = parser.parse_args(argv)
    suites = args.suites or list(SPECS)
    unknown = sorted(set(suites) - set(SPECS))
    if unknown:
        parser.error(f"unknown suite {', '.join(unknown)}; choose from {', '.join(SPECS)}")
    if os.geteuid() != 0:
        print("provision: needs root (debootstrap and chroot)", file=sys.stderr)
        return 1
    base = roots_dir(args.roots)
    started = time.monotonic()
    failed = False
    with concurrent.futures.ThreadPoolExecutor(len(suites)) as pool:
        build = provision_gui if args.gui else provision
        futures = {s: pool.submit(build, s, base) for s in suites}
        for suite, fut in futures.items():
            try:
                info = fut.result()
            except (ProvisionError, OSError, subprocess.CalledProcessError) as e:
                print(f"{suite}: FAILED: {e}", file=sys.stderr)
                failed = True
                continue
            print(f"{suite}: GIMP {info.gimp_version} / Python {info.python_version} "
                  f"({info.gimp_console}) in {info.path}")
    print(f"provision: {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
