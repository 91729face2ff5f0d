"""The interactive paths in real GIMP: every dialog opens under Xvfb, closes, and no Python
traceback appears; Edit Selection, Generate, Expand and Re-run each run with their choices
changed through their widgets (the requests carry the changes), then Edit Selection from a
shortcut, Filters > Re-Show Last and Repeat Last (GIMP 3.0 in English and in Chinese, GIMP 3.2
in English; GIMP 3.2's GTK loads icons through glycin, whose sandbox needs /proc, so the desktop
mounts it in the root).

Uses the GUI variant of the GIMP roots (``python3 -m tests.gimp.provision --gui``, about a
minute per root). Under ``CI=true`` a missing one is built; elsewhere the test skips and says
how to build it.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.fakeapi import FakeServer
from tests.gimp import dialog_runs, provision, screenshots
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
            screenshots.interactive_edit(session, titles, TYPED)
            session.go("repeat-last")
            assert session.wait_mark("repeat-variants", timeout=120), session.gimp.stderr[-3000:]
            log = root.host_path(gimp_env["BIANXIE_HOME"]) / "logs" / "bianxie.log"
            dialog_runs.dialog_runs(session, titles)
            dialog_runs.menu_runs(session, titles, lambda: sum(
                " phases " in line for line in log.read_text().splitlines()), env.home)
            output = session.gimp.stdout + session.gimp.stderr
            marks = session.marks()
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
    # the interactive edit and Repeat Last ask for n = 2, streamed: two single requests each;
    # then Generate, Expand, Re-run, Edit Selection from the menus, Re-Show Last, Repeat Last
    edits, generations = "/v1/images/edits", "/v1/images/generations"
    assert [r.path for r in paid] == [edits] * 5 + [generations] + [edits] * 5, \
        [r.path for r in paid]
    streamed = paid[1]
    assert streamed.field("stream") == "true" and streamed.field("partial_images") == "1"
    # the prompt box took a second line; each choice was changed through its drop-down
    assert streamed.field("prompt") == screenshots.PROMPT[lang] + TYPED
    assert (streamed.field("quality"), streamed.field("input_fidelity"),
            streamed.field("output_format")) == ("high", "high", "webp")
    chosen = [s for s in json.loads(dict(marks)["interactive-settings"])
              if s["prompt"].endswith(TYPED)]
    assert [s["context"] for s in chosen] == ["layer"]  # Context: Whole layer
    assert server.partials and dict(marks)["interactive-edit"] == str(SUCCESS)
    assert dict(marks)["interactive-layers"] == "3"
    # Filters > Repeat Last: the same values again, without a dialog
    assert dict(marks)["repeat-status"] == str(SUCCESS) and dict(marks)["repeat-layers"] == "4"
    # the chooser kept the second variant only; Repeat Last offered none (its group has two)
    groups = json.loads(dict(marks)["interactive-variants"])
    assert [[name[-2:] for name in group] for group in groups] == [["#2"]], groups
    assert sorted(json.loads(dict(marks)["repeat-variants"])) == [1, 2]  # Repeat Last: 2 kept
    again = paid[3]
    assert [again.field(f) for f in ("prompt", "quality", "input_fidelity", "output_format")] \
        == [streamed.field(f) for f in ("prompt", "quality", "input_fidelity", "output_format")]
    # the interactive edit found a worker waiting (left by the earlier edit in this GIMP, or
    # started when a dialog opened: tests/test_standby.py checks that one on its own)
    assert started[-1].endswith("(waiting worker)"), started
    check_dialog_runs(marks, paid, lang)


def check_dialog_runs(marks, paid, lang):
    """What dialog_runs and menu_runs changed through the widgets is what was sent."""
    ran = dict(v.split(" ", 1) for n, v in marks if n == "run-status")
    assert ran == {name: str(SUCCESS) for name in (
        "bianxie-generate", "bianxie-expand", "bianxie-rerun-layer")}, ran
    generated, expanded, rerun, shortcut, reshown, repeated = paid[5:]
    # Generate: gpt-image-2.5 typed as the model made Maximum the last quality it takes
    assert {k: generated.json.get(k) for k in ("model", "quality", "background",
                                                "output_format", "size", "prompt")} == {
        "model": "gpt-image-2.5", "quality": "max", "background": "opaque",
        "output_format": "webp", "size": dialog_runs.GENERATED["size"],
        "prompt": dialog_runs.GENERATED["prompt"]}, generated.json
    # Expand: gpt-image-1.5 (from Settings) greys out xhigh and max, so End stops at high
    assert (expanded.field("quality"), expanded.field("output_format")) == ("high", "webp")
    layer_width, image_width = json.loads(dict(marks)["width"])
    assert image_width == layer_width + int(dialog_runs.MARGIN)
    assert rerun.field("model") == dialog_runs.RERUN["model"]
    assert rerun.field("prompt").startswith(dialog_runs.RERUN["prompt"]), rerun.field("prompt")
    # Edit Selection from its shortcut: max chosen under gpt-image-2.5 became high when the
    # model went back to gpt-image-1.5; fidelity, context and format set back to their first
    fields = ("model", "quality", "input_fidelity", "output_format", "prompt", "n")
    sent = [shortcut.field(f) for f in fields]
    assert sent[:3] == ["gpt-image-1.5", "high", None] and sent[3] in (None, "png"), sent
    assert sent[4] == screenshots.PROMPT[lang] + TYPED and sent[5] in (None, "1"), sent
    # Filters > Re-Show Last showed its dialog with those values (OK pressed at once), and
    # Repeat Last sent them again without one, each on the result layer the run before left
    # active (not its mask)
    assert [reshown.field(f) for f in fields] == sent
    assert [repeated.field(f) for f in fields] == sent
