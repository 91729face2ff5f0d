"""The plug-in's modules outside GIMP: what they load, and the test fault points they ship
(inert unless BIANXIE_TEST_FAULT names one; the GIMP tests set it)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parent.parent / "plugin" / "bianxie_gimp"


def faults():
    spec = importlib.util.spec_from_file_location("faults_for_tests",
                                                  PLUGIN / "faults_for_tests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Item:
    def __init__(self):
        self.deleted, self.removed = False, []

    def is_valid(self):
        return not self.deleted

    def delete(self):
        self.deleted = True

    def remove_layer(self, layer):
        self.removed.append(layer)


def test_fault_points_do_nothing_unless_a_test_names_them(monkeypatch):
    hooks = faults()
    image, layer = Item(), Item()
    hooks.test_fault("insert")
    hooks.test_user_acts_while_waiting((image, layer))
    assert not image.deleted and image.removed == []
    monkeypatch.setenv("BIANXIE_TEST_FAULT", "import")
    hooks.test_fault("insert")  # another point
    with pytest.raises(RuntimeError):
        hooks.test_fault("import")
    monkeypatch.setenv("BIANXIE_TEST_FAULT", "delete-layer")
    hooks.test_user_acts_while_waiting((image, layer))
    assert image.removed == [layer] and not image.deleted


def test_the_progress_hook_logs_only_when_a_test_names_it(home, monkeypatch):
    import logging

    from bianxie_core import logs

    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logs.get_logger()
    logger.addHandler(handler)
    try:
        hooks = faults()
        hooks.test_progress_shown("Edit: Downloading 0.1 of 0.3 MB", 0.33)
        assert lines == []
        monkeypatch.setenv("BIANXIE_TEST_FAULT", "progress")
        hooks.test_progress_shown("Edit: Downloading 0.1 of 0.3 MB", 0.33)
        assert lines == ["progress shown: Edit: Downloading 0.1 of 0.3 MB | 0.33"]
    finally:
        logger.removeHandler(handler)


# gi as far as importing the plug-in's modules needs it (GIMP is not here)
GI_STUB = """
import sys, types
from unittest import mock
gi = types.ModuleType("gi")
gi.require_version = lambda *a: None
gi.repository = types.ModuleType("gi.repository")
for name in ("Gimp", "GLib", "GObject", "Gegl", "Gio", "GimpUi", "Gtk"):
    setattr(gi.repository, name, mock.MagicMock(name=name))
    sys.modules["gi.repository." + name] = getattr(gi.repository, name)
sys.modules.update({"gi": gi, "gi.repository": gi.repository})
"""


def run_stubbed(code: str, **env: str) -> subprocess.CompletedProcess:
    """``code`` run after GI_STUB in a fresh Python, in the plug-in's folder; ``env``: more
    environment (BIANXIE_HOME, LANGUAGE)."""
    return subprocess.run([sys.executable, "-c", GI_STUB + code], capture_output=True,
                          text=True, timeout=60, cwd=str(PLUGIN),
                          env={"PYTHONPATH": str(PLUGIN.parent.parent), "PATH": "/usr/bin:/bin",
                               **env})


def plugin_confirms(home, estimate: str, setup: str = "") -> list:
    """What the plug-in's ``confirm_cost`` does when the dialog's estimate is the expression
    ``estimate`` (``cost`` is imported; ``setup`` runs first): [returned, asked] as printed."""
    out = run_stubbed(
        "import dialogs\nfrom bianxie_core import cost\nfrom gi.repository import Gtk\n"
        + setup + "dialogs.estimate_for = lambda *a: " + estimate + "\n"
        "print(dialogs.confirm_cost(None), Gtk.MessageDialog.called)\n",
        BIANXIE_HOME=str(home), LANGUAGE="en")
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_the_procedures_load_neither_numpy_nor_pillow_nor_requests():
    """What every run imports (a region edit's pixel work and the request are the worker's)."""
    out = run_stubbed("import registry, procedures\n"
                      "print(sorted({'numpy', 'PIL', 'requests'} & set(sys.modules)))\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_stalled_download_in_gimp_shows_the_time_going_on(home):
    """No byte for a minute: GIMP's progress text must not freeze on the same bytes (it looked
    like a hung GIMP), the seconds go on as while the model works; an older status.json
    without ``transfer`` shows the model's time."""
    out = run_stubbed(
        "import waiting\n"
        "from bianxie_core.job_folder import JobStatus\n"
        "from bianxie_core.transfer import Transfer\n"
        "from gi.repository import Gimp\n"
        "texts = []\n"
        "Gimp.progress_set_text.side_effect = texts.append\n"
        "class Job:\n"
        "    record = type('R', (), {'n': 1})()\n"
        "    worker_exited = None\n"
        "    def wait(self, on_tick, **kw):\n"
        "        stalled = JobStatus(transfer=Transfer('down', 3_000_000, 10_000_000))\n"
        "        on_tick(stalled, 5.0)\n"
        "        on_tick(stalled, 65.0)\n"
        "        on_tick(JobStatus(), 70.0)\n"
        "waiting.Preview = lambda *a: type('P', (), {'update': lambda s, st: None,\n"
        "                                            'close': lambda s: None, 'shown': 0})()\n"
        "waiting.config.load = lambda: None\n"
        "waiting.jobs.longest_wait = lambda *a: 60\n"
        "waiting.wait_for(Job(), 'Edit', False)\n"
        "print(repr(texts))\n", BIANXIE_HOME=str(home))
    assert out.returncode == 0, out.stderr
    texts = eval(out.stdout.strip())
    assert len(texts) == 3
    assert "Downloading 3.0 of 10.0 MB" in texts[0] and "Downloading 3.0 of 10.0 MB" in texts[1]
    assert texts[0] != texts[1] and "65 s" in texts[1]
    assert "waiting for the model" in texts[2]
