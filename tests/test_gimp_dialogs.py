"""The interactive paths in real GIMP: every dialog opens under Xvfb, closes, and no Python
traceback appears (GIMP 3.0 in English and in Chinese, GIMP 3.2 in English; GIMP 3.2's GTK
loads icons through glycin, whose sandbox needs /proc, so the desktop mounts it in the root).

Uses the GUI variant of the GIMP roots (``python3 -m tests.gimp.provision --gui``, about a
minute per root). Under ``CI=true`` a missing one is built; elsewhere the test skips and says
how to build it.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from tests.fakeapi import FakeServer
from tests.gimp import provision, screenshots
from tests.gimp.fixtures import copy_source, in_ci
from tests.gimp.harness import GimpRoot

pytestmark = pytest.mark.gimp
SUCCESS, CANCEL = 3, 4
TYPED = "\nsecond line"  # typed into the prompt box after the given prompt
CASES = [("trixie", "en"), ("trixie", "zh_CN"), ("forky", "en")]


def gui_root(suite: str) -> GimpRoot:
    if os.geteuid() != 0:
        if in_ci():
            pytest.fail("CI=true: the GUI tests need root (chroot)", pytrace=False)
        pytest.skip("real GIMP GUI tests need root (the roots run with chroot)")
    info = provision.load_gui(suite)
    if info is None and not in_ci():
        pytest.skip(f"no {suite}-gui root: build it with `python3 -m tests.gimp.provision "
                    f"--gui {suite}` (about a minute; CI builds it)")
    if info is None:
        try:
            info = provision.provision_gui(suite)
        except (provision.ProvisionError, OSError) as exc:
            pytest.fail(f"CI=true: could not build the {suite}-gui root: {exc}", pytrace=False)
    root = GimpRoot.from_info(info)
    copy_source(root)
    return root


@pytest.mark.parametrize("suite, lang", CASES, ids=[f"{s}-{lang}" for s, lang in CASES])
def test_every_dialog_opens_and_closes(suite, lang):
    root = gui_root(suite)
    titles = screenshots.translated_titles(lang)
    with FakeServer(key=screenshots.KEY) as server, screenshots.Desktop(root) as desktop:
        env, gimp_env = screenshots.new_user(root, server.base_url, lang)
        session = screenshots.start_gimp(env, desktop, gimp_env)
        try:
            for tag in ("before", "after"):
                assert session.wait_mark("ready", tag, timeout=180), (
                    f"GIMP never got to {tag!r}\n{session.gimp.stdout}\n{session.gimp.stderr}")
                session.go(tag)
            screenshots.walk_dialogs(session, titles, None, log=lambda _text: None)
            assert session.wait_mark("dialogs-done", timeout=60), session.gimp.stdout
            interactive_edit(session, desktop, titles)
            session.go("repeat-last")
            assert session.wait_mark("repeat-layers", timeout=120), session.gimp.stderr[-3000:]
            output = session.gimp.stdout + session.gimp.stderr
            marks = session.marks()
            log = root.host_path(gimp_env["BIANXIE_HOME"]) / "logs" / "bianxie.log"
            lines = log.read_text().splitlines()
            started = [line for line in lines if " started: " in line]
            tested = [line for line in lines if "connection test: " in line]
        finally:
            session.gimp.kill()
            shutil.rmtree(root.host_path(env.home), ignore_errors=True)
    assert "Traceback" not in output, output[-5000:]
    assert dict(marks)["edit-status"] == str(SUCCESS)
    statuses = dict(v.split(" ", 1) for n, v in marks if n == "status")
    assert statuses == {d.shot: str(CANCEL) for d in screenshots.DIALOGS}
    # the cost confirmation was cancelled once (nothing sent), then accepted for the whole
    # interactive edit: its dialog values went out as a streamed request, and the result
    # layer arrived after the preview
    # Settings: Test Connection was clicked; the fake answered its model list
    assert len(tested) == 1 and ("Connected" in tested[0] or "已连接" in tested[0]), tested
    paid = [r for r in server.requests if r.path.startswith("/v1/images/")]
    # the interactive edit and Repeat Last ask for n = 2, streamed: two single requests each
    assert [r.path for r in paid] == ["/v1/images/edits"] * 5
    streamed = paid[1]
    assert streamed.field("stream") == "true" and streamed.field("partial_images") == "1"
    # the prompt box took a second line; each choice was changed through its drop-down
    assert streamed.field("prompt") == screenshots.PROMPT[lang] + TYPED
    assert (streamed.field("quality"), streamed.field("input_fidelity"),
            streamed.field("output_format")) == ("high", "low", "jpeg")
    chosen = [s for s in json.loads(dict(marks)["interactive-settings"])
              if s["prompt"].endswith(TYPED)]
    assert [s["context"] for s in chosen] == ["128"]  # Context: Pixels, 128 by default
    assert server.partials and dict(marks)["interactive-edit"] == str(SUCCESS)
    assert dict(marks)["interactive-layers"] == "3"
    # Filters > Repeat Last: the same values again, without a dialog
    assert dict(marks)["repeat-status"] == str(SUCCESS) and dict(marks)["repeat-layers"] == "4"
    # the chooser kept the second variant only; Repeat Last offered none (its group has two)
    groups = json.loads(dict(marks)["interactive-variants"])
    assert [[name[-2:] for name in group] for group in groups] == [["#2"]], groups
    again = paid[3]
    assert [again.field(f) for f in ("prompt", "quality", "input_fidelity", "output_format")] \
        == [streamed.field(f) for f in ("prompt", "quality", "input_fidelity", "output_format")]
    # the interactive edit found a worker waiting (left by the earlier edit in this GIMP, or
    # started when a dialog opened: tests/test_standby.py checks that one on its own)
    assert started[-1].endswith("(waiting worker)"), started


def interactive_edit(session, desktop, titles):
    """The user's whole path: Edit Selection… → each choice changed with the keyboard (its
    mnemonic, then Down in the drop-down) → a second line in the prompt box → Ctrl+Enter →
    "run anyway" → preview → a new layer."""
    session.go("interactive-edit")
    dialog = desktop.wait_window(titles["edit-selection"])
    assert dialog, f"no Edit Selection dialog; windows: {desktop.windows()}"
    desktop.x("xdotool", "windowactivate", "--sync", dialog)
    for mnemonic, downs in (("alt+q", 3), ("alt+i", 1), ("alt+t", 1), ("alt+u", 1)):
        # quality auto → high, input fidelity default → low, context auto → pixels,
        # output format png → jpeg (the mnemonics are the same in English and Chinese)
        desktop.x("xdotool", "key", "--clearmodifiers", mnemonic, *["Down"] * downs)
        time.sleep(0.3)
    desktop.x("xdotool", "key", "--clearmodifiers", "alt+p", "ctrl+End", "Return")
    desktop.x("xdotool", "type", "--clearmodifiers", TYPED.lstrip("\n"))
    desktop.x("xdotool", "key", "--clearmodifiers", "ctrl+Return")
    confirm = desktop.wait_window(titles["confirm-cost"], timeout=30)
    assert confirm, f"no cost confirmation; windows: {desktop.windows()}"
    desktop.x("xdotool", "windowactivate", "--sync", confirm)
    desktop.x("xdotool", "key", "--clearmodifiers", "alt+r")
    chooser = desktop.wait_window(titles["keep-variants"], timeout=120)
    assert chooser, f"no variant chooser; windows: {desktop.windows()}"
    desktop.x("xdotool", "windowactivate", "--sync", chooser)
    desktop.x("xdotool", "key", "--clearmodifiers", "alt+1", "alt+2", "alt+k")
    # "interactive-layers" is the script's last mark: once it is seen, so is every other
    assert session.wait_mark("interactive-layers", timeout=120), (
        f"the interactive edit never finished; windows: {desktop.windows()}\n"
        f"{session.gimp.stderr[-3000:]}")
