"""The GIMP batch scripts are files a linter reads (issue 18): each is pyflakes-clean,
``tests.gimp.batch.script`` runs the shared scripts one imports before it (once) and drops
those imports, and no GIMP test builds a batch script by gluing strings."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest
from pyflakes.api import check
from pyflakes.reporter import Reporter

from tests.gimp.batch import PACKAGE, SCRIPTS, script

NAMES = sorted(p.stem for p in SCRIPTS.glob("*.py") if p.stem != "__init__")
TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("name", NAMES)
def test_each_script_is_lint_clean(name):
    path = SCRIPTS / f"{name}.py"
    out = io.StringIO()
    assert check(path.read_text("utf-8"), str(path), Reporter(out, out)) == 0, out.getvalue()


@pytest.mark.parametrize("name", NAMES)
def test_each_script_assembles_without_imports_of_its_own_folder(name):
    """(An import under ``if "mark" not in globals()``, for linters, never runs in GIMP.)"""
    tree = ast.parse(script(name, lib=False))
    assert not [node.module for node in tree.body if isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith(PACKAGE)]


def test_shared_scripts_go_first_and_once():
    lib = script("lib")
    shared = script("reliability_lib")  # imports lib itself
    code = script("reliability_faults")  # imports reliability_lib and lib
    assert shared.startswith(lib) and code.startswith(shared)
    assert code.count(lib) == 1


def test_a_script_that_needs_lib_must_import_it():
    with pytest.raises(ValueError, match="network_client.py does not import"):
        script("network_client")


def _glued(node):
    return isinstance(node, (ast.BinOp, ast.JoinedStr)) or (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format")


@pytest.mark.parametrize("path", sorted(TESTS.glob("test_gimp_*.py")), ids=lambda p: p.name)
def test_no_gimp_test_glues_a_batch_script_from_strings(path):
    """A batch script is a file under tests/gimp/scripts (or a one-line literal testing the
    harness itself); parameters go as environment, never formatted into code."""
    tree = ast.parse(path.read_text("utf-8"))
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute)
             and node.func.attr in ("run_batch", "start_batch") and node.args]
    assert not [call.lineno for call in calls if _glued(call.args[0])]
    names = {node.id for call in calls for node in ast.walk(call.args[0])
             if isinstance(node, ast.Name)}
    assert names <= {"script", "name"}, names
