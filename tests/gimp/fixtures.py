"""pytest fixtures for real GIMP: ``gimp_root`` and ``gimp_env`` (ids gimp-3.0, gimp-3.2).

Without root rights or a root that can be provisioned the tests are skipped, except under
``CI=true``, where a missing root is built and any problem fails the tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Set

import pytest

from tests.gimp import provision
from tests.gimp.batch import script
from tests.gimp.harness import Background, BatchResult, GimpRoot

__all__ = ["gimp_root", "gimp_env", "GimpEnv", "install_into", "registered_procedures",
           "pytest_terminal_summary"]

REPO = Path(__file__).resolve().parents[2]
SOURCE_IN_ROOT = f"/tmp/bx-src-{os.getpid()}"  # one per run: runs may share a root
PIP_CACHE_IN_ROOT = "/var/cache/bx-pip"  # persists between sessions: pip's and pip-wheel cache
ROOT_IDS = {"trixie": "gimp-3.0", "forky": "gimp-3.2"}
_used: Dict[str, GimpRoot] = {}
_notes: Set[str] = set()
STUB_PLUGIN = """#!/usr/bin/env python3
import sys
import gi
gi.require_version("Gimp", "3.0")
from gi.repository import Gimp


class Stub(Gimp.PlugIn):
    def do_query_procedures(self):
        return []


Gimp.main(Stub.__gtype__, sys.argv)
"""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def _load_root(suite: str) -> GimpRoot:
    if os.geteuid() != 0:
        _unavailable("real GIMP tests need root (debootstrap roots run with chroot)")
    info = provision.load(suite)
    if info is None and os.environ.get("BIANXIE_GIMP_NO_PROVISION") and not in_ci():
        _unavailable(f"no {suite} GIMP root, and provisioning it failed before this run")
    if info is None:
        try:
            info = provision.provision(suite)
        except (provision.ProvisionError, OSError, subprocess.CalledProcessError) as e:
            _unavailable(f"could not provision the {suite} GIMP root: {e}")
    return GimpRoot.from_info(info)


def copy_source(root: GimpRoot) -> str:
    """Copy install.py, plugin/ and bianxie_core/ into the root (fresh, so edits count)."""
    dest = root.host_path(SOURCE_IN_ROOT)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "vendor")
    shutil.copy2(REPO / "install.py", dest / "install.py")
    shutil.copy2(REPO / "README.md", dest / "README.md")  # install.py ships it for Help
    shutil.copytree(REPO / "plugin", dest / "plugin", ignore=skip)
    shutil.copytree(REPO / "bianxie_core", dest / "bianxie_core", ignore=skip)
    main = dest / "plugin" / "bianxie_gimp" / "bianxie_gimp.py"
    if not main.exists():  # until the plug-in exists: a valid one that registers nothing
        main.write_text(STUB_PLUGIN)
        _notes.add("plugin/bianxie_gimp/bianxie_gimp.py is missing: tests used a stub")
    return SOURCE_IN_ROOT


@pytest.fixture(scope="session", params=list(ROOT_IDS), ids=list(ROOT_IDS.values()))
def gimp_root(request: pytest.FixtureRequest) -> GimpRoot:
    """A provisioned root with the repo's source copied to SOURCE_IN_ROOT inside it."""
    root = _load_root(request.param)
    copy_source(root)
    _used[root.name] = root
    yield root
    shutil.rmtree(root.host_path(SOURCE_IN_ROOT), ignore_errors=True)


@dataclass
class GimpEnv:
    """A fresh user inside a root, with the plug-in installed by install.py."""

    root: GimpRoot
    home: str  # inside the root
    install: subprocess.CompletedProcess  # the install.py run

    @property
    def profile(self) -> str:
        return f"{self.home}/.config/GIMP/{self.root.name}"

    @property
    def plugin_dir(self) -> str:
        return f"{self.profile}/plug-ins/bianxie_gimp"

    @property
    def vendor_dir(self) -> str:
        major, minor = self.root.python_version.split(".")[:2]
        return f"{self.plugin_dir}/vendor/py{major}.{minor}"

    def host_path(self, inner: str) -> Path:
        return self.root.host_path(inner)

    def run(self, argv: Sequence[str], env: Optional[Mapping[str, str]] = None,
            timeout: float = 120.0, input: Optional[str] = None) -> subprocess.CompletedProcess:
        return self.root.run(argv, env=env, timeout=timeout, home=self.home, input=input)

    def run_batch(self, code_or_script, env: Optional[Mapping[str, str]] = None,
                  timeout: float = 180.0) -> BatchResult:
        return self.root.run_batch(code_or_script, env=env, timeout=timeout, home=self.home)

    def start(self, argv: Sequence[str], env: Optional[Mapping[str, str]] = None) -> Background:
        return self.root.start(argv, env=env, home=self.home)

    def start_batch(self, code: str, env: Optional[Mapping[str, str]] = None) -> Background:
        """GIMP running ``code`` in the background (kill it, or its plug-in, mid-request)."""
        return self.start(self.root.batch_argv(self.root.write_script(code)), env=env)

    def plugin_pids(self) -> List[int]:
        """Host PIDs of the running bianxie_gimp.py plug-in process(es) in this root."""
        return self.root.pids("bianxie_gimp.py")

    def install_py(self, *args: str, timeout: float = 600.0) -> subprocess.CompletedProcess:
        """Run the copied install.py inside the root with the root's python3, as a user would."""
        return self.run(["python3", f"{SOURCE_IN_ROOT}/install.py", *args],
                        env=_install_env(), timeout=timeout)


def _install_env() -> Dict[str, str]:
    env = {"PIP_CACHE_DIR": PIP_CACHE_IN_ROOT, "XDG_CACHE_HOME": PIP_CACHE_IN_ROOT}
    for var in ("PIP_INDEX_URL",):
        if os.environ.get(var):
            env[var] = os.environ[var]
    return env


def install_into(root: GimpRoot) -> GimpEnv:
    """A new user HOME in the root, then ``python3 install.py`` there; fails if it fails."""
    home = f"/tmp/bx-home-{uuid.uuid4().hex[:8]}"
    root.host_path(home).mkdir(parents=True)
    env = GimpEnv(root, home, subprocess.CompletedProcess([], 0))
    env.install = env.install_py()
    if env.install.returncode != 0:
        pytest.fail(f"install.py failed in the {root.suite} root (exit {env.install.returncode})"
                    f"\n{env.install.stdout}\n{env.install.stderr}", pytrace=False)
    return env


@pytest.fixture(scope="session")
def gimp_env(gimp_root: GimpRoot):
    """One installed user per root and session; its HOME is removed afterwards."""
    env = install_into(gimp_root)
    yield env
    shutil.rmtree(gimp_root.host_path(env.home), ignore_errors=True)


def registered_procedures(gimp_env: GimpEnv) -> List[str]:
    """Names of the PDB procedures starting with "bianxie-" that GIMP registered."""
    result = gimp_env.run_batch(script("list_procedures", lib=False))
    if not result.ok:
        raise AssertionError(f"listing procedures failed\n{result.describe()}")
    return result.values("procedure")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    for name, root in sorted(_used.items()):
        terminalreporter.write_line(f"GIMP root {root.suite}: {root.label} ({root.path})")
    for note in sorted(_notes):
        terminalreporter.write_line(f"NOTE: {note}")
