#!/usr/bin/env python3
"""Install the 便携AI plug-in into every GIMP 3 profile on this computer.

    python3 install.py              install or upgrade (run it again after a GIMP update)
    python3 install.py --check      what is installed where, and whether it works
    python3 install.py --uninstall  remove the plug-in (your settings stay)

Standard library only; any Python >= 3.9. Each GIMP profile gets:

    <profile>/plug-ins/bianxie_gimp/
        bianxie_gimp.py     the plug-in (executable; GIMP needs folder name == file name)
        bianxie_core/       the core package with its data files
        locale/             the plug-in's translations
        vendor/py3.13/      requests, Pillow, numpy, PySocks (SOCKS proxies) and, for Python
                            3.10+, truststore (the system's certificate store), built for the
                            Python that GIMP runs, named by its version; only what it lacks

The plug-in puts vendor/py{major}.{minor} and its own folder on sys.path, then imports
bianxie_core. When a GIMP update brings a new Python, the vendor folder for it is missing and
the plug-in says "run install.py again".

Profiles: $GIMP3_DIRECTORY, Linux $XDG_CONFIG_HOME/GIMP/3.x (~/.config), Flatpak
~/.var/app/org.gimp.GIMP/config/GIMP/3.x, Snap ~/snap/gimp/current/[.config/]GIMP/3.x,
Windows %APPDATA%\\GIMP\\3.x, macOS ~/Library/Application Support/GIMP/3.x. When GIMP 3 is
installed but was never started, its profile folder is created so the plug-in is there on the
first start.

GIMP's Python: on Linux the first python3 on PATH (the plug-in's shebang is
``#!/usr/bin/env python3``); Flatpak the runtime's python3; Windows the bundled python.exe named
in lib/gimp/3.0/interpreters/pygimp.interp; macOS GIMP.app/Contents/MacOS/python3. Override
with --gimp-python. Missing packages are installed with pip run by the Python running this
script (pip's wheel is fetched from the package index when that Python has no pip), with
--python-version/--platform when GIMP's Python is a different one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import plistlib
import re
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import List, Mapping, NamedTuple, Optional, Sequence, Tuple

PLUGIN = "bianxie_gimp"
HERE = Path(__file__).resolve().parent
SOURCE_PLUGIN = HERE / "plugin" / PLUGIN
SOURCE_CORE = HERE / "bianxie_core"
DEPS = (("requests", "requests"), ("PIL", "pillow"), ("numpy", "numpy"),
        ("socks", "PySocks"))  # (import, pip name)
# The system's certificate store (a company's CA on Windows and macOS); it needs Python 3.10+.
TRUSTSTORE = ("truststore", "truststore")
FLATPAK_APP = "org.gimp.GIMP"
SERIES = re.compile(r"^3\.\d+$")
DEFAULT_INDEX = "https://pypi.org/simple"
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "vendor")


class InstallError(Exception):
    """An expected failure: printed as one sentence, never as a traceback."""


class System(NamedTuple):
    """Where to look: injected so that discovery can be tested with fake trees."""

    home: Path
    env: Mapping[str, str]
    platform: str  # sys.platform: "linux", "win32", "darwin"
    root: Path = Path("/")  # prefix for system-wide paths (/Applications, /var/lib/flatpak)

    @classmethod
    def current(cls) -> "System":
        return cls(Path.home(), os.environ, sys.platform)


class Profile(NamedTuple):
    path: Path
    kind: str  # linux, flatpak, snap, windows, macos, GIMP3_DIRECTORY, --gimp-profile
    series: Optional[str]  # "3.0", "3.2"; None when the folder name doesn't say
    exists: bool = True

    @property
    def plugin_dir(self) -> Path:
        return self.path / "plug-ins" / PLUGIN


class Python(NamedTuple):
    """How to run the Python that GIMP runs for a profile."""

    argv: Tuple[str, ...]  # e.g. ("/usr/bin/python3",) or ("flatpak", "run", ...)
    label: str


class PyInfo(NamedTuple):
    version: str  # "3.13"
    implementation: str  # "cp"
    platform: str  # sysconfig.get_platform(): "linux-x86_64", "win-amd64", "macosx-11.0-arm64"
    libc: str  # glibc version "2.41", "" elsewhere
    executable: str
    has: Tuple[str, ...]  # which of numpy/PIL/requests/socks/truststore import without vendor/


# --- discovery ------------------------------------------------------------------------------


def _series_dirs(base: Path) -> List[Path]:
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and SERIES.match(p.name))


def profile_bases(system: System) -> List[Tuple[str, Path]]:
    """Folders that hold GIMP/3.x profile folders, with the kind of GIMP using each."""
    home, env = system.home, system.env
    if system.platform == "win32":
        appdata = env.get("APPDATA")
        base = Path(appdata) if appdata else home / "AppData" / "Roaming"
        return [("windows", base / "GIMP")]
    if system.platform == "darwin":
        return [("macos", home / "Library" / "Application Support" / "GIMP")]
    xdg = env.get("XDG_CONFIG_HOME")
    return [
        ("linux", (Path(xdg) if xdg else home / ".config") / "GIMP"),
        ("flatpak", home / ".var" / "app" / FLATPAK_APP / "config" / "GIMP"),
        ("snap", home / "snap" / "gimp" / "current" / ".config" / "GIMP"),
        ("snap", home / "snap" / "gimp" / "current" / "GIMP"),
    ]


def gimp3_directory(system: System) -> Optional[Path]:
    value = system.env.get("GIMP3_DIRECTORY")
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else system.home / path


def find_profiles(system: System) -> List[Profile]:
    """Existing GIMP 3 profiles. With $GIMP3_DIRECTORY set, GIMP uses only that folder."""
    forced = gimp3_directory(system)
    if forced:
        series = forced.name if SERIES.match(forced.name) else None
        return [Profile(forced, "GIMP3_DIRECTORY", series, forced.is_dir())]
    found = []
    for kind, base in profile_bases(system):
        found.extend(Profile(p, kind, p.name) for p in _series_dirs(base))
    return found


def _series_from_name(name: str) -> Optional[str]:
    m = re.match(r"gimp(?:-console)?-(3\.\d+)(?:\.exe)?$", name, re.I)
    return m.group(1) if m else None


def _series_from_version_output(text: str) -> Optional[str]:
    m = re.search(r"version\s+(3\.\d+)\.\d+", text)
    return m.group(1) if m else None


def binary_series(path: Path) -> Optional[str]:
    """"3.0"/"3.2" for a GIMP binary: from its name, else from ``--version``."""
    series = _series_from_name(path.name)
    if series:
        return series
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True,
                             timeout=60, errors="replace")
    except (OSError, subprocess.SubprocessError):
        return None
    return _series_from_version_output(out.stdout + out.stderr)


def _path_dirs(system: System) -> List[Path]:
    sep = ";" if system.platform == "win32" else ":"
    return [Path(d) for d in system.env.get("PATH", "").split(sep) if d]


def find_gimps(system: System) -> List[Tuple[str, str]]:
    """Installed GIMP 3 series as (kind, series), found without starting GIMP where possible."""
    found: List[Tuple[str, str]] = []

    def add(kind: str, series: Optional[str]) -> None:
        if series and (kind, series) not in found:
            found.append((kind, series))

    root, home = system.root, system.home
    if system.platform == "win32":
        bases = [system.env.get(v) for v in ("ProgramFiles", "ProgramW6432", "LOCALAPPDATA")]
        for base in filter(None, bases):
            for binary in Path(base).glob("*GIMP 3*/bin/gimp-*3.*.exe"):
                add("windows", _series_from_name(binary.name))
            for binary in Path(base).glob("Programs/GIMP 3*/bin/gimp-*3.*.exe"):
                add("windows", _series_from_name(binary.name))
        return found
    if system.platform == "darwin":
        for apps in (root / "Applications", home / "Applications"):
            for app in sorted(apps.glob("GIMP*.app")):
                add("macos", _macos_series(app))
        return found
    for d in _path_dirs(system):
        for binary in sorted(d.glob("gimp*")):
            if binary.name in ("gimp", "gimp-console") or _series_from_name(binary.name):
                kind = "snap" if binary.parts[1:2] == ("snap",) else "linux"
                add(kind, binary_series(binary))
    for flatpak in (root / "var/lib/flatpak/app", home / ".local/share/flatpak/app"):
        for binary in (flatpak / FLATPAK_APP).glob("current/active/files/bin/gimp-3.*"):
            add("flatpak", _series_from_name(binary.name))
    for binary in (root / "snap/gimp/current/usr/bin").glob("gimp-3.*"):
        add("snap", _series_from_name(binary.name))
    return found


def _macos_series(app: Path) -> Optional[str]:
    try:
        with open(app / "Contents" / "Info.plist", "rb") as f:
            version = str(plistlib.load(f).get("CFBundleShortVersionString", ""))
    except (OSError, plistlib.InvalidFileException, ValueError):
        return None
    m = re.match(r"(3\.\d+)", version)
    return m.group(1) if m else None


def plan_profiles(system: System, explicit: Optional[Path] = None) -> List[Profile]:
    """Profiles to install into: existing ones, plus new folders for GIMPs never started."""
    if explicit:
        series = explicit.name if SERIES.match(explicit.name) else None
        return [Profile(explicit, "--gimp-profile", series, explicit.is_dir())]
    profiles = find_profiles(system)
    gimps = find_gimps(system)
    if gimp3_directory(system):
        if profiles and profiles[0].series is None and gimps:
            profiles = [profiles[0]._replace(series=gimps[0][1])]
        return profiles
    bases = dict(reversed(profile_bases(system)))  # first base of each kind wins
    have = {(p.kind, p.series) for p in profiles}
    for kind, series in gimps:
        if (kind, series) not in have:
            profiles.append(Profile(bases[kind] / series, kind, series, exists=False))
    return profiles


# --- GIMP's Python -------------------------------------------------------------------------


def _without_venv(system: System) -> str:
    venv = system.env.get("VIRTUAL_ENV")
    dirs = [str(d) for d in _path_dirs(system)]
    if venv:
        dirs = [d for d in dirs if not d.startswith(venv)]
    return os.pathsep.join(dirs)


def gimp_python(profile: Profile, system: System, override: Optional[str] = None
                ) -> Optional[Python]:
    """The Python that GIMP runs for this profile's plug-ins, or None when not found."""
    if override:
        return Python((override,), override)
    kind = profile.kind
    if kind in ("GIMP3_DIRECTORY", "--gimp-profile"):
        kind = {"win32": "windows", "darwin": "macos"}.get(system.platform, "linux")
    if kind == "flatpak":
        argv = ("flatpak", "run", "--command=python3", FLATPAK_APP)
        return Python(argv, "Flatpak python3") if shutil.which("flatpak") else None
    if kind == "snap":
        snap_py = system.root / "snap/gimp/current/usr/bin/python3"
        if snap_py.exists():
            return Python((str(snap_py),), str(snap_py))
    if kind == "windows":
        exe = windows_python(system)
        return Python((str(exe),), str(exe)) if exe else None
    if kind == "macos":
        for apps in (system.root / "Applications", system.home / "Applications"):
            for app in sorted(apps.glob("GIMP*.app")):
                exe = app / "Contents" / "MacOS" / "python3"
                if exe.exists():
                    return Python((str(exe),), str(exe))
        return None
    found = shutil.which("python3", path=_without_venv(system))
    return Python((found,), found) if found else None


def windows_python(system: System) -> Optional[Path]:
    """The bundled python named in pygimp.interp; python.exe rather than pythonw.exe."""
    bases = [system.env.get(v) for v in ("ProgramFiles", "ProgramW6432", "LOCALAPPDATA")]
    for base in filter(None, bases):
        for interp in sorted(Path(base).glob("**/lib/gimp/3.*/interpreters/pygimp.interp")):
            for line in interp.read_text(errors="replace").splitlines():
                key, _, value = line.partition("=")
                if key.strip() in ("python", "python3") and value.strip():
                    exe = Path(value.strip())
                    console = exe.with_name("python.exe")
                    return console if console.exists() else exe
    return None


PROBE = r"""
import importlib, json, platform, sys, sysconfig
has = []
for name in ("numpy", "PIL", "requests", "socks", "truststore"):
    try:
        importlib.import_module(name)
        has.append(name)
    except Exception:
        pass
print(json.dumps(dict(
    version="%d.%d" % sys.version_info[:2],
    implementation={"cpython": "cp", "pypy": "pp"}.get(sys.implementation.name, "cp"),
    platform=sysconfig.get_platform(), libc=platform.libc_ver()[1] or "",
    executable=sys.executable, has=has)))
"""


def probe(python: Python) -> PyInfo:
    try:
        out = subprocess.run([*python.argv, "-c", PROBE], capture_output=True, text=True,
                             timeout=120, errors="replace")
        data = json.loads(out.stdout.strip().splitlines()[-1])
        return PyInfo(**{**data, "has": tuple(data["has"])})
    except (OSError, subprocess.SubprocessError, ValueError, IndexError, TypeError, KeyError):
        raise InstallError(f"Could not run GIMP's Python ({python.label}); "
                           "point to it with --gimp-python PATH.") from None


def deps_for(info: PyInfo) -> List[Tuple[str, str]]:
    """(import, pip name) of every package the plug-in needs in this Python."""
    version = tuple(int(x) for x in info.version.split(".")[:2])
    return list(DEPS) + ([TRUSTSTORE] if version >= (3, 10) else [])


def deps_label(info: PyInfo) -> str:
    names = {"PIL": "Pillow", "socks": "PySocks"}
    return ", ".join(names.get(mod, mod) for mod, _pkg in deps_for(info))


def vendor_dir(profile: Profile, info: PyInfo) -> Path:
    return profile.plugin_dir / "vendor" / f"py{info.version}"


def import_check(python: Python, plugin_dir: Path, info: PyInfo,
                 modules: Optional[Sequence[str]] = None) -> Optional[str]:
    """None when GIMP's Python imports ``modules`` (default: every dependency and the core)
    as the plug-in will; else the error line."""
    if modules is None:
        modules = [mod for mod, _pkg in deps_for(info)] + ["bianxie_core"]
    paths = [str(plugin_dir / "vendor" / f"py{info.version}"), str(plugin_dir)]
    code = (f"import sys; sys.path[:0] = {paths!r}\n"
            f"import {', '.join(modules)}")
    try:
        out = subprocess.run([*python.argv, "-c", code], capture_output=True, text=True,
                             timeout=180, errors="replace")
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)
    if out.returncode == 0:
        return None
    lines = out.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit {out.returncode}"


# --- pip -----------------------------------------------------------------------------------


def same_python(info: PyInfo, python: Python) -> bool:
    """Whether pip running here builds for GIMP's Python without --python-version/--platform."""
    if len(python.argv) != 1:
        return False  # runs in a sandbox (Flatpak): its paths and libc are not ours
    if os.path.realpath(python.argv[0]) == os.path.realpath(sys.executable):
        return True
    import sysconfig

    here = "%d.%d" % sys.version_info[:2]
    return (info.version, info.platform) == (here, sysconfig.get_platform()) and \
        info.implementation == "cp" and sys.implementation.name == "cpython"


def platform_tags(info: PyInfo) -> List[str]:
    """pip --platform values for a Python that is not the one running pip."""
    plat = info.platform
    if plat.startswith("win"):
        return [plat.replace("-", "_").replace(".", "_")]
    if plat.startswith("macosx"):
        _, version, arch = plat.split("-", 2)
        major = int(version.split(".")[0])
        archs = [arch, "universal2"] if arch in ("arm64", "x86_64") else [arch]
        versions = [f"{m}_0" for m in range(max(major, 11) + 4, 10, -1)]
        versions += [f"10_{m}" for m in range(16, 8, -1)] if "x86_64" in archs else []
        return [f"macosx_{v}_{a}" for a in archs for v in versions]
    arch = plat.split("-", 1)[1].replace("-", "_")
    glibc = info.libc or "2.17"
    top = int(glibc.split(".")[1]) if glibc.count(".") else 17
    tags = [f"manylinux_2_{m}_{arch}" for m in range(top, 16, -1)]
    return tags + [f"manylinux2014_{arch}"]


def pip_target_args(info: PyInfo, target: Path, packages: Sequence[str], native: bool
                    ) -> List[str]:
    args = ["install", "--target", str(target), "--only-binary=:all:",
            "--disable-pip-version-check", "--no-warn-script-location", "--quiet"]
    if not native:
        args += ["--python-version", info.version, "--implementation", info.implementation]
        for tag in platform_tags(info):
            args += ["--platform", tag]
    return args + list(packages)


def index_json_urls(env: Mapping[str, str], project: str = "pip") -> List[str]:
    """JSON API URLs for ``project`` derived from PIP_INDEX_URL (default PyPI)."""
    index = (env.get("PIP_INDEX_URL") or DEFAULT_INDEX).rstrip("/")
    base = re.sub(r"/\+?simple$", "", index)
    urls = [f"{base}/pypi/{project}/json", f"{base}/{project}/json"]
    return list(dict.fromkeys(urls))


def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60, context=_ssl_context()) as r:
        return r.read()


def _requires_ok(spec: Optional[str], version: Tuple[int, int]) -> bool:
    for clause in (spec or "").split(","):
        m = re.match(r"\s*>=\s*(\d+)\.(\d+)", clause)
        if m and version < (int(m.group(1)), int(m.group(2))):
            return False
    return True


def pick_pip_wheel(data: dict, json_url: str, python: Tuple[int, int]) -> Tuple[str, str, str]:
    """(file name, absolute URL, sha256) of the newest pip wheel that supports ``python``."""
    releases = data.get("releases") or {data["info"]["version"]: data.get("urls", [])}

    def key(v: str) -> Tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", v)[:3])

    for version in sorted(releases, key=key, reverse=True):
        if re.search(r"[a-z]", version.lower()):
            continue  # pre-releases
        for f in releases[version]:
            name = f.get("filename", "")
            if name.endswith("-py3-none-any.whl") and not f.get("yanked") and \
                    _requires_ok(f.get("requires_python"), python):
                return name, urllib.parse.urljoin(json_url, f["url"]), f["digests"]["sha256"]
    raise InstallError("The package index lists no pip wheel for this Python.")


def fetch_pip_wheel(cache: Path, env: Mapping[str, str]) -> Path:
    """pip's wheel, from the cache or the package index, sha256-checked."""
    errors = []
    for url in index_json_urls(env):
        try:
            data = json.loads(_fetch(url))
        except (urllib.error.URLError, OSError, ValueError) as e:
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
            continue
        name, file_url, sha256 = pick_pip_wheel(data, url, sys.version_info[:2])
        wheel = cache / name
        if wheel.is_file() and hashlib.sha256(wheel.read_bytes()).hexdigest() == sha256:
            return wheel
        try:
            blob = _fetch(file_url)
        except (urllib.error.URLError, OSError) as e:
            raise InstallError(f"Could not download pip ({file_url}): "
                               f"{getattr(e, 'reason', e)}.") from None
        if hashlib.sha256(blob).hexdigest() != sha256:
            raise InstallError(f"The pip wheel from {file_url} is damaged (sha256 mismatch).")
        cache.mkdir(parents=True, exist_ok=True)
        wheel.write_bytes(blob)
        return wheel
    raise InstallError("Could not reach the package index to get pip (" + "; ".join(errors)
                       + "). Check the network, or set PIP_INDEX_URL to a mirror.")


def pip_command(system: System) -> List[str]:
    """How to run pip with the Python running this script; fetches pip's wheel if needed."""
    try:
        import pip  # noqa: F401

        return [sys.executable, "-m", "pip"]
    except ImportError:
        pass
    xdg = system.env.get("XDG_CACHE_HOME")
    cache = (Path(xdg) if xdg else system.home / ".cache") / "bianxie-gimp"
    return [sys.executable, str(fetch_pip_wheel(cache, system.env) / "pip")]


def install_deps(profile: Profile, python: Python, info: PyInfo, missing: Sequence[str],
                 system: System, pip: List[str]) -> None:
    """Install the pip packages ``missing`` into vendor/py3.X (replacing an older one)."""
    target = vendor_dir(profile, info)
    staging = target.with_name(target.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    env = dict(system.env, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    args = pip_target_args(info, staging, missing, same_python(info, python))
    out = subprocess.run([*pip, *args], capture_output=True, text=True, env=env,
                         errors="replace")
    if out.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = "\n".join("    " + s for s in out.stderr.strip().splitlines()[-8:])
        raise InstallError(f"pip could not install {', '.join(missing)} for Python "
                           f"{info.version}:\n{tail}")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


# --- copying -------------------------------------------------------------------------------


def check_source() -> None:
    for required in (SOURCE_PLUGIN / f"{PLUGIN}.py", SOURCE_CORE / "__init__.py"):
        if not required.is_file():
            raise InstallError(f"This copy of the plug-in is incomplete: {required} is missing. "
                               "Download the whole project again.")


def copy_code(plugin_dir: Path) -> None:
    """Replace the code in ``plugin_dir``, keeping vendor/ (it is checked separately)."""
    plugin_dir.mkdir(parents=True, exist_ok=True)
    for entry in plugin_dir.iterdir():
        if entry.name == "vendor":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    for entry in SOURCE_PLUGIN.iterdir():
        if entry.name in ("__pycache__", "vendor"):
            continue
        if entry.is_dir():
            shutil.copytree(entry, plugin_dir / entry.name, ignore=SKIP)
        else:
            shutil.copy2(entry, plugin_dir / entry.name)
    shutil.copytree(SOURCE_CORE, plugin_dir / "bianxie_core", ignore=SKIP)
    if (HERE / "README.md").is_file():  # the dialogs' Help shows its words (help.py)
        shutil.copy2(HERE / "README.md", plugin_dir / "README.md")
    main = plugin_dir / f"{PLUGIN}.py"
    main.chmod(main.stat().st_mode | 0o755)


# --- commands ------------------------------------------------------------------------------


def _name(profile: Profile) -> str:
    series = f"GIMP {profile.series}" if profile.series else "GIMP 3"
    return f"{series} ({profile.kind}): {profile.path}"


def _no_gimp() -> InstallError:
    return InstallError("No GIMP 3 found on this computer. Install GIMP 3 and run this again, "
                        "or name the profile folder with --gimp-profile DIR.")


def missing_deps(python: Python, profile: Profile, info: PyInfo) -> List[str]:
    """pip names still needed: not in GIMP's Python, and no working vendor/py3.X for them."""
    need = [(mod, pkg) for mod, pkg in deps_for(info) if mod not in info.has]
    if not need:
        return []
    if vendor_dir(profile, info).is_dir() and \
            import_check(python, profile.plugin_dir, info, [m for m, _ in need]) is None:
        return []
    return [pkg for _, pkg in need]


def python_of(profile: Profile, system: System, args: argparse.Namespace
              ) -> Optional[Tuple[Python, PyInfo]]:
    """GIMP's Python for ``profile`` and what it is, or None after saying why not."""
    python = gimp_python(profile, system, args.gimp_python)
    if python is None:
        print("  ! GIMP's Python was not found; name it with --gimp-python PATH.")
        return None
    try:
        return python, probe(python)
    except InstallError as e:
        print(f"  ! {e}")
        return None


def cmd_install(profiles: List[Profile], system: System, args: argparse.Namespace) -> int:
    check_source()
    pip: Optional[List[str]] = None
    failures = 0
    for profile in profiles:
        print(_name(profile))
        found = python_of(profile, system, args)
        if found is None:
            failures += 1
            continue
        python, info = found
        if args.dry_run:
            _dry_run(profile, python, info)
            continue
        if not profile.exists:
            print("  created the profile folder (GIMP was never started)")
        copy_code(profile.plugin_dir)
        print(f"  copied the plug-in to {profile.plugin_dir}")
        missing = missing_deps(python, profile, info)
        if missing:
            print(f"  installing {', '.join(missing)} for Python {info.version} "
                  f"into vendor/py{info.version} ...", flush=True)
            if pip is None:
                pip = pip_command(system)
            install_deps(profile, python, info, missing, system, pip)
        problem = import_check(python, profile.plugin_dir, info)
        if problem:
            print(f"  ! GIMP's Python {info.version} cannot import everything: {problem}")
            failures += 1
        else:
            print(f"  ok: Python {info.version} ({python.label}) imports {deps_label(info)} "
                  "and the plug-in's core")
    if args.dry_run:
        print("Dry run: nothing was changed.")
        return 0
    if failures:
        print(f"Finished with problems in {failures} of {len(profiles)} profiles.")
        return 1
    print("Done. Restart GIMP to load the plug-in.")
    return 0


def _dry_run(profile: Profile, python: Python, info: PyInfo) -> None:
    if not profile.exists:
        print("  would create the profile folder (GIMP was never started)")
    print(f"  would copy the plug-in to {profile.plugin_dir}")
    need = [pkg for mod, pkg in deps_for(info) if mod not in info.has]
    where = f"vendor/py{info.version}"
    if need:
        print(f"  would make {', '.join(need)} importable for Python {info.version} "
              f"({python.label}) in {where}")
    else:
        print(f"  Python {info.version} ({python.label}) already has {deps_label(info)}")


def cmd_check(profiles: List[Profile], system: System, args: argparse.Namespace) -> int:
    bad = 0
    for profile in profiles:
        print(_name(profile))
        main = profile.plugin_dir / f"{PLUGIN}.py"
        if not main.is_file() or not (profile.plugin_dir / "bianxie_core").is_dir():
            print("  ! the plug-in is not installed here: run install.py")
            bad += 1
            continue
        if system.platform != "win32" and not os.access(main, os.X_OK):
            print(f"  ! {main.name} is not executable: run install.py again")
            bad += 1
            continue
        found = python_of(profile, system, args)
        if found is None:
            bad += 1
            continue
        python, info = found
        problem = import_check(python, profile.plugin_dir, info)
        if problem:
            print(f"  ! Python {info.version} ({python.label}) cannot import everything: "
                  f"{problem}. Run install.py again.")
            bad += 1
        else:
            vendor = vendor_dir(profile, info)
            deps = f"vendor/py{info.version}" if vendor.is_dir() else "GIMP's Python"
            print(f"  ok: installed; Python {info.version} ({python.label}) imports everything "
                  f"(packages from {deps})")
    return 1 if bad else 0


def cmd_uninstall(profiles: List[Profile], args: argparse.Namespace) -> int:
    removed = 0
    for profile in profiles:
        if profile.plugin_dir.exists():
            if not args.dry_run:
                shutil.rmtree(profile.plugin_dir)
            verb = "would remove" if args.dry_run else "removed"
            print(f"{verb} {profile.plugin_dir}")
            removed += 1
    if not removed:
        print("The plug-in is not installed in any GIMP 3 profile.")
    elif not args.dry_run:
        print("Uninstalled. Your settings in plug-in-settings/ were kept.")
    return 0


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="install.py", description="Install the 便携AI plug-in into GIMP 3.",
        epilog="Run it again after updating the plug-in or GIMP.")
    p.add_argument("--gimp-profile", metavar="DIR", type=Path,
                   help="install only into this profile folder (e.g. ~/.config/GIMP/3.0)")
    p.add_argument("--gimp-python", metavar="PATH",
                   help="the Python that GIMP runs plug-ins with (found automatically)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="show what is installed and whether "
                                                           "it works; exit 0 only if all is well")
    mode.add_argument("--uninstall", action="store_true", help="remove the plug-in")
    p.add_argument("--dry-run", action="store_true", help="show what would be done, change nothing")
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None, system: Optional[System] = None) -> int:
    args = parse_args(argv)
    system = system or System.current()
    profile_arg = args.gimp_profile.expanduser().absolute() if args.gimp_profile else None
    try:
        if args.check or args.uninstall:
            profiles = ([Profile(profile_arg, "--gimp-profile", None, profile_arg.is_dir())]
                        if profile_arg else find_profiles(system))
            profiles = [p for p in profiles if p.exists]
            if not profiles:
                raise _no_gimp()
            return cmd_check(profiles, system, args) if args.check else \
                cmd_uninstall(profiles, args)
        profiles = plan_profiles(system, profile_arg)
        if not profiles:
            raise _no_gimp()
        return cmd_install(profiles, system, args)
    except InstallError as e:
        print(f"install.py: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("install.py: stopped.", file=sys.stderr)
        return 130
    except OSError as e:
        print(f"install.py: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
