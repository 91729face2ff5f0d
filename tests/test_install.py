"""install.py: profile discovery on fake trees, pip bootstrap, and installs with the host Python."""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import json
import os
import plistlib
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bx_install", REPO / "install.py")
install = importlib.util.module_from_spec(_spec)
sys.modules["bx_install"] = install
_spec.loader.exec_module(install)


def make(tmp: Path, *dirs: str) -> None:
    for d in dirs:
        (tmp / d).mkdir(parents=True, exist_ok=True)


def system(tmp: Path, platform: str = "linux", **env: str) -> "install.System":
    env = {k: v.replace("{tmp}", str(tmp)) for k, v in env.items()}
    env.setdefault("PATH", str(tmp / "empty-path"))
    return install.System(tmp / "home", env, platform, root=tmp / "sysroot")


def found(tmp: Path, profiles) -> List[Tuple[str, str, bool]]:
    return [(p.kind, str(p.path.relative_to(tmp)), p.exists) for p in profiles]


DISCOVERY = [
    ("linux", ["home/.config/GIMP/3.0", "home/.config/GIMP/3.2", "home/.config/GIMP/2.10"],
     "linux", {}, [("linux", "home/.config/GIMP/3.0"), ("linux", "home/.config/GIMP/3.2")]),
    ("xdg-config-home", ["xdg/GIMP/3.0", "home/.config/GIMP/3.2"], "linux",
     {"XDG_CONFIG_HOME": "{tmp}/xdg"}, [("linux", "xdg/GIMP/3.0")]),
    ("flatpak", ["home/.var/app/org.gimp.GIMP/config/GIMP/3.0"], "linux", {},
     [("flatpak", "home/.var/app/org.gimp.GIMP/config/GIMP/3.0")]),
    ("snap-dot-config", ["home/snap/gimp/current/.config/GIMP/3.2"], "linux", {},
     [("snap", "home/snap/gimp/current/.config/GIMP/3.2")]),
    ("snap-plain", ["home/snap/gimp/current/GIMP/3.0"], "linux", {},
     [("snap", "home/snap/gimp/current/GIMP/3.0")]),
    ("windows-appdata", ["Roaming/GIMP/3.0", "home/.config/GIMP/3.2"], "win32",
     {"APPDATA": "{tmp}/Roaming"}, [("windows", "Roaming/GIMP/3.0")]),
    ("macos", ["home/Library/Application Support/GIMP/3.0"], "darwin", {},
     [("macos", "home/Library/Application Support/GIMP/3.0")]),
    ("gimp3-directory", ["custom", "home/.config/GIMP/3.0"], "linux",
     {"GIMP3_DIRECTORY": "{tmp}/custom"}, [("GIMP3_DIRECTORY", "custom")]),
    ("gimp3-directory-relative", ["home/rel/prof"], "linux", {"GIMP3_DIRECTORY": "rel/prof"},
     [("GIMP3_DIRECTORY", "home/rel/prof")]),
    ("nothing", ["home/.config/GIMP/2.10"], "linux", {}, []),
]


@pytest.mark.parametrize("dirs, platform, env, expected",
                         [c[1:] for c in DISCOVERY], ids=[c[0] for c in DISCOVERY])
def test_find_profiles(tmp_path: Path, dirs, platform, env, expected) -> None:
    make(tmp_path, "home", *dirs)
    profiles = install.find_profiles(system(tmp_path, platform, **env))
    assert found(tmp_path, profiles) == [(k, p, True) for k, p in expected]


def _exe(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


def _mac_app(tmp: Path) -> None:
    plist = tmp / "sysroot/Applications/GIMP.app/Contents/Info.plist"
    plist.parent.mkdir(parents=True)
    plist.write_bytes(plistlib.dumps({"CFBundleShortVersionString": "3.0.4"}))


def _gimp_script(tmp: Path) -> None:
    _exe(tmp / "bin/gimp", "#!/bin/sh\necho 'GNU Image Manipulation Program version 3.2.6'\n")


NEVER_STARTED = [
    ("linux-console-name", lambda t: _exe(t / "bin/gimp-console-3.2"), "linux",
     {"PATH": "{tmp}/bin"}, [("linux", "home/.config/GIMP/3.2", False)]),
    ("linux-gimp-version", _gimp_script, "linux", {"PATH": "{tmp}/bin"},
     [("linux", "home/.config/GIMP/3.2", False)]),
    ("linux-xdg", lambda t: _exe(t / "bin/gimp-3.0"), "linux",
     {"PATH": "{tmp}/bin", "XDG_CONFIG_HOME": "{tmp}/xdg"}, [("linux", "xdg/GIMP/3.0", False)]),
    ("flatpak", lambda t: _exe(
        t / "sysroot/var/lib/flatpak/app/org.gimp.GIMP/current/active/files/bin/gimp-3.0"),
     "linux", {}, [("flatpak", "home/.var/app/org.gimp.GIMP/config/GIMP/3.0", False)]),
    ("windows", lambda t: _exe(t / "PF/GIMP 3/bin/gimp-3.0.exe"), "win32",
     {"ProgramFiles": "{tmp}/PF", "APPDATA": "{tmp}/Roaming"},
     [("windows", "Roaming/GIMP/3.0", False)]),
    ("macos", _mac_app, "darwin", {},
     [("macos", "home/Library/Application Support/GIMP/3.0", False)]),
]


@pytest.mark.parametrize("setup, platform, env, expected", [c[1:] for c in NEVER_STARTED],
                         ids=[c[0] for c in NEVER_STARTED])
def test_plan_creates_a_profile_for_a_gimp_never_started(tmp_path: Path, setup, platform, env,
                                                         expected) -> None:
    make(tmp_path, "home")
    setup(tmp_path)
    profiles = install.plan_profiles(system(tmp_path, platform, **env))
    assert found(tmp_path, profiles) == expected


def test_plan_uses_the_existing_profile_of_an_installed_gimp(tmp_path: Path) -> None:
    make(tmp_path, "home/.config/GIMP/3.0")
    _exe(tmp_path / "bin/gimp-console-3.0")
    profiles = install.plan_profiles(system(tmp_path, PATH="{tmp}/bin"))
    assert found(tmp_path, profiles) == [("linux", "home/.config/GIMP/3.0", True)]


def test_windows_python_comes_from_pygimp_interp(tmp_path: Path) -> None:
    bin_dir = tmp_path / "PF/GIMP 3/bin"
    _exe(bin_dir / "python.exe")
    interp = tmp_path / "PF/GIMP 3/lib/gimp/3.0/interpreters/pygimp.interp"
    interp.parent.mkdir(parents=True)
    interp.write_text(f"python={bin_dir / 'pythonw.exe'}\n/usr/bin/python=python\n")
    sysinfo = system(tmp_path, "win32", ProgramFiles="{tmp}/PF")
    assert install.windows_python(sysinfo) == bin_dir / "python.exe"


def test_linux_python_skips_the_virtualenv(tmp_path: Path) -> None:
    _exe(tmp_path / "venv/bin/python3")
    _exe(tmp_path / "usr/bin/python3")
    sysinfo = system(tmp_path, PATH="{tmp}/venv/bin:{tmp}/usr/bin", VIRTUAL_ENV="{tmp}/venv")
    profile = install.Profile(tmp_path / "p", "linux", "3.0")
    assert install.gimp_python(profile, sysinfo).argv == (str(tmp_path / "usr/bin/python3"),)


INDEXES = [
    ("default", {}, ["https://pypi.org/pypi/pip/json", "https://pypi.org/pip/json"]),
    ("mirror-simple", {"PIP_INDEX_URL": "https://m.example/pypi/simple/"},
     ["https://m.example/pypi/pypi/pip/json", "https://m.example/pypi/pip/json"]),
    ("devpi", {"PIP_INDEX_URL": "http://127.0.0.1:3141/root/pypi/+simple/"},
     ["http://127.0.0.1:3141/root/pypi/pypi/pip/json", "http://127.0.0.1:3141/root/pypi/pip/json"]),
]


@pytest.mark.parametrize("env, expected", [c[1:] for c in INDEXES], ids=[c[0] for c in INDEXES])
def test_index_json_urls(env: Dict[str, str], expected: List[str]) -> None:
    assert install.index_json_urls(env) == expected


def _release(name: str, url: str, requires: str = ">=3.9", yanked: bool = False) -> dict:
    return {"filename": name, "url": url, "requires_python": requires, "yanked": yanked,
            "digests": {"sha256": "ab" * 32}}


def test_pick_pip_wheel_resolves_relative_urls_and_skips_unsuitable_files() -> None:
    data = {"info": {"version": "30.0"}, "releases": {
        "30.0": [_release("pip-30.0-py3-none-any.whl", "../f/pip30.whl", ">=3.99")],
        "26.1b1": [_release("pip-26.1b1-py3-none-any.whl", "x")],
        "26.0": [_release("pip-26.0-py3-none-any.whl", "x", yanked=True),
                 _release("pip-26.0.tar.gz", "x")],
        "25.3": [_release("pip-25.3-py3-none-any.whl", "../../packages/pip-25.3.whl")],
        "9.0": [_release("pip-9.0-py3-none-any.whl", "y")],
    }}
    name, url, sha = install.pick_pip_wheel(data, "https://m.example/pypi/pip/json", (3, 13))
    assert (name, url, sha) == ("pip-25.3-py3-none-any.whl",
                                "https://m.example/packages/pip-25.3.whl", "ab" * 32)


INFO = install.PyInfo("3.14", "cp", "linux-x86_64", "2.41", "/nowhere/python3.14", ())
CROSS = [
    ("linux", INFO, ["manylinux_2_41_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]),
    ("windows", INFO._replace(platform="win-amd64", libc=""), ["win_amd64"]),
    ("macos", INFO._replace(platform="macosx-11.0-arm64", libc=""),
     ["macosx_11_0_arm64", "macosx_11_0_universal2"]),
]


@pytest.mark.parametrize("info, expected_tags", [c[1:] for c in CROSS], ids=[c[0] for c in CROSS])
def test_pip_args_for_another_python_name_version_and_platform(tmp_path: Path, info,
                                                               expected_tags) -> None:
    flatpak = install.Python(("flatpak", "run", "--command=python3", "org.gimp.GIMP"), "f")
    native = install.same_python(info._replace(executable=sys.executable), flatpak)
    args = install.pip_target_args(info, tmp_path, ["numpy"], native)
    assert args[:3] == ["install", "--target", str(tmp_path)]
    assert "--only-binary=:all:" in args
    assert args[args.index("--python-version") + 1] == "3.14"
    assert args[args.index("--implementation") + 1] == "cp"
    platforms = [args[i + 1] for i, a in enumerate(args) if a == "--platform"]
    assert set(expected_tags) <= set(platforms)
    assert args[-1] == "numpy"


def test_pip_args_for_the_running_python_have_no_cross_flags(tmp_path: Path) -> None:
    import sysconfig

    here = install.PyInfo("%d.%d" % sys.version_info[:2], "cp", sysconfig.get_platform(), "",
                          sys.executable, ())
    python = install.Python((sys.executable,), sys.executable)
    args = install.pip_target_args(here, tmp_path, ["requests", "pillow"],
                                   install.same_python(here, python))
    assert "--python-version" not in args and "--platform" not in args
    assert args[-2:] == ["requests", "pillow"]


@pytest.fixture
def index_server(tmp_path: Path):
    """A package index on 127.0.0.1 whose JSON API gives a relative URL for pip's wheel."""
    files: Dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def publish(wheel: bytes, sha256: str) -> str:
        files["/files/pip-25.3-py3-none-any.whl"] = wheel
        files["/idx/pypi/pip/json"] = json.dumps({"info": {"version": "25.3"}, "releases": {
            "25.3": [{"filename": "pip-25.3-py3-none-any.whl", "url": "../../../files/"
                      "pip-25.3-py3-none-any.whl", "requires_python": ">=3.9",
                      "digests": {"sha256": sha256}}]}}).encode()
        return f"http://127.0.0.1:{server.server_port}/idx/simple/"

    yield publish
    server.shutdown()


def test_fetch_pip_wheel_checks_the_sha256_and_caches(tmp_path: Path, index_server) -> None:
    wheel = b"PK fake wheel"
    index = index_server(wheel, hashlib.sha256(wheel).hexdigest())
    path = install.fetch_pip_wheel(tmp_path / "cache", {"PIP_INDEX_URL": index})
    assert path == tmp_path / "cache/pip-25.3-py3-none-any.whl"
    assert path.read_bytes() == wheel


def test_fetch_pip_wheel_refuses_a_damaged_download(tmp_path: Path, index_server) -> None:
    index = index_server(b"tampered", "00" * 32)
    with pytest.raises(install.InstallError, match="sha256"):
        install.fetch_pip_wheel(tmp_path / "cache", {"PIP_INDEX_URL": index})
    assert not (tmp_path / "cache/pip-25.3-py3-none-any.whl").exists()


def test_fetch_pip_wheel_without_an_index_says_so(tmp_path: Path) -> None:
    env = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple/"}
    with pytest.raises(install.InstallError, match="PIP_INDEX_URL"):
        install.fetch_pip_wheel(tmp_path, env)


# --- the command line, with the host Python standing in for GIMP's ---------------------------


def run_install(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"HOME": str(tmp / "home"), "PATH": str(tmp / "empty-path"), "LANG": "C.UTF-8"}
    return subprocess.run([sys.executable, str(REPO / "install.py"), *args], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args", [[], ["--check"], ["--uninstall"]],
                         ids=["install", "check", "uninstall"])
def test_no_gimp_gives_a_clear_message_and_fails(tmp_path: Path, args: List[str]) -> None:
    make(tmp_path, "home", "empty-path")
    proc = run_install(tmp_path, *args)
    assert proc.returncode == 1
    assert "No GIMP 3 found" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    make(tmp_path, "home/.config/GIMP/3.0")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/python3").symlink_to(sys.executable)
    sysinfo = system(tmp_path, PATH="{tmp}/bin")
    code = install.main(["--dry-run"], sysinfo)
    assert code == 0
    assert not (tmp_path / "home/.config/GIMP/3.0/plug-ins").exists()


def test_dry_run_output(tmp_path: Path, capsys) -> None:
    make(tmp_path, "home")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/python3").symlink_to(sys.executable)
    _exe(tmp_path / "bin/gimp-console-3.2")
    assert install.main(["--dry-run"], system(tmp_path, PATH="{tmp}/bin")) == 0
    out = capsys.readouterr().out
    assert "would create the profile folder" in out
    assert "would copy the plug-in to" in out
    assert "Dry run: nothing was changed." in out
    assert not (tmp_path / "home/.config").exists()


def test_install_check_upgrade_uninstall_with_the_host_python(tmp_path: Path) -> None:
    profile = tmp_path / "home/.config/GIMP/3.0"
    plugin = profile / "plug-ins/bianxie_gimp"
    common = ["--gimp-profile", str(profile), "--gimp-python", sys.executable]
    make(tmp_path, "home", "empty-path")

    first = run_install(tmp_path, *common)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "installing" not in first.stdout  # the host Python has the packages: no download
    assert os.access(plugin / "bianxie_gimp.py", os.X_OK)
    assert (plugin / "bianxie_core/models.json").is_file()
    assert not (plugin / "vendor").exists()

    check = run_install(tmp_path, "--check", *common)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ok: installed" in check.stdout

    (plugin / "stale.py").write_text("")
    (plugin / "vendor/py3.99").mkdir(parents=True)
    again = run_install(tmp_path, *common)
    assert again.returncode == 0
    assert not (plugin / "stale.py").exists()
    assert (plugin / "vendor/py3.99").is_dir()

    gone = run_install(tmp_path, "--uninstall", *common)
    assert gone.returncode == 0
    assert not plugin.exists() and profile.is_dir()
    after = run_install(tmp_path, "--check", *common)
    assert after.returncode == 1 and "not installed" in after.stdout


@pytest.mark.parametrize("version, has, expected", [
    ("3.13", ("numpy", "PIL", "requests"), ["PySocks", "truststore"]),
    ("3.14", (), ["requests", "pillow", "numpy", "PySocks", "truststore"]),
    ("3.9", ("numpy", "PIL", "requests"), ["PySocks"]),  # truststore needs Python 3.10+
    ("3.12", ("numpy", "PIL", "requests", "socks", "truststore"), []),
], ids=["gimp-3.0-with-requests", "bare-3.14", "python-3.9", "has-everything"])
def test_socks_and_truststore_are_vendored_where_the_python_lacks_them(
        tmp_path: Path, version, has, expected) -> None:
    info = INFO._replace(version=version, has=has)
    profile = install.Profile(tmp_path / "3.0", "linux", "3.0")
    python = install.Python((sys.executable,), sys.executable)
    assert install.missing_deps(python, profile, info) == expected


def test_the_probe_reports_socks_and_truststore(tmp_path: Path) -> None:
    info = install.probe(install.Python((sys.executable,), sys.executable))
    assert {"socks", "truststore"} <= set(info.has)  # the project's dependencies install both
