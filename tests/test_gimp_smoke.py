"""Smoke tests in real GIMP 3.0 and 3.2: versions, install.py inside the root, imports, batch."""

from __future__ import annotations

import json
import time

import pytest

from tests.gimp.fixtures import GimpEnv, registered_procedures
from tests.gimp.batch import script
from tests.gimp.harness import GimpRoot, parse_marks

pytestmark = pytest.mark.gimp


def test_root_versions_match_the_series(gimp_root: GimpRoot) -> None:
    print(f"\n{gimp_root.suite}: {gimp_root.label}")
    assert gimp_root.gimp_version.startswith(gimp_root.name + ".")
    expected_python = {"3.0": "3.13.", "3.2": "3.14."}[gimp_root.name]
    assert gimp_root.python_version.startswith(expected_python)


def test_root_lacks_the_packages_install_py_must_bring(gimp_root: GimpRoot) -> None:
    for module in ("numpy", "PIL", "requests", "pip"):
        proc = gimp_root.run(["python3", "-c", f"import {module}"])
        assert proc.returncode != 0, f"{module} is importable in the bare root"


def test_install_py_ran_inside_the_root(gimp_env: GimpEnv) -> None:
    print(gimp_env.install.stdout)
    assert f"/.config/GIMP/{gimp_env.root.name}" in gimp_env.install.stdout
    plugin = gimp_env.host_path(gimp_env.plugin_dir)
    main = plugin / "bianxie_gimp.py"
    assert main.is_file() and main.stat().st_mode & 0o111
    assert (plugin / "bianxie_core" / "__init__.py").is_file()
    assert (plugin / "bianxie_core" / "models.json").is_file()
    assert gimp_env.host_path(gimp_env.vendor_dir).is_dir()


def test_gimp_python_imports_everything_from_the_plugin_folder(gimp_env: GimpEnv) -> None:
    folders = json.dumps([gimp_env.vendor_dir, gimp_env.plugin_dir])
    proc = gimp_env.run(["python3", "-c", script("smoke_imports", lib=False), folders])
    assert proc.returncode == 0, proc.stderr
    marks = dict(parse_marks(proc.stdout))
    assert marks["python"] == ".".join(gimp_env.root.python_version.split(".")[:2])
    for module in ("numpy", "PIL", "requests"):
        assert marks[module].startswith(gimp_env.vendor_dir + "/"), marks
    assert marks["bianxie_core"].startswith(gimp_env.plugin_dir + "/bianxie_core/")


def test_install_py_check_passes_after_install(gimp_env: GimpEnv) -> None:
    proc = gimp_env.install_py("--check")
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok: installed" in proc.stdout


def test_reinstall_keeps_the_working_vendor_folder(gimp_env: GimpEnv) -> None:
    marker = gimp_env.host_path(gimp_env.vendor_dir) / ".kept"
    marker.write_text("")
    proc = gimp_env.install_py()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "installing" not in proc.stdout
    assert marker.exists()


def test_batch_run_reports_markers_and_lists_bianxie_procedures(gimp_env: GimpEnv) -> None:
    result = gimp_env.run_batch('mark("gimp", Gimp.version())\n'
                                'mark("profile", Gimp.directory())')
    assert result.ok, result.describe()
    assert result.marker("gimp") == gimp_env.root.gimp_version
    assert result.marker("profile") == gimp_env.profile
    procedures = registered_procedures(gimp_env)
    print(f"\n{gimp_env.root.label}: bianxie procedures: {procedures}")
    assert all(name.startswith("bianxie-") for name in procedures)


def test_batch_errors_become_a_marker(gimp_env: GimpEnv) -> None:
    result = gimp_env.run_batch('raise ValueError("boom")')
    assert not result.ok
    assert result.marker("batch-error") == "ValueError: boom"


def test_background_gimp_can_be_found_and_killed(gimp_env: GimpEnv) -> None:
    with gimp_env.start_batch('mark("started", 1)\nimport time\ntime.sleep(600)') as bg:
        deadline = time.monotonic() + 120
        while "MARK started" not in bg.stdout and bg.proc.poll() is None:
            assert time.monotonic() < deadline, bg.stdout + bg.stderr
            time.sleep(0.2)
        evaluator = bg.pids("python-eval")
        assert evaluator, bg.stdout + bg.stderr
        assert set(evaluator) <= set(gimp_env.root.pids("python-eval"))
        bg.kill()
        assert bg.proc.poll() is not None
        assert bg.pids() == []
