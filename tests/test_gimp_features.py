"""Real GIMP: streamed previews, Expand, Remove, Re-run, usage totals and the phase log."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from tests.fakeapi import FakeServer
from tests.gimp.batch import (
    EXECUTION_ERROR, FILL, KEY, SUCCESS, batch_env, jobs_after_gimp, out_folder, raw, script)

pytestmark = pytest.mark.gimp


@pytest.fixture(scope="module")
def features(gimp_env):
    with FakeServer(dialect="openai", key=KEY) as ok:
        inner, host = out_folder(gimp_env, "features")
        home = f"{gimp_env.home}/bianxie-features"
        env = batch_env(inner, home, BX_OK=ok.base_url)
        result = gimp_env.run_batch(script("features_main"), env=env, timeout=240)
        dumps = {json.loads(v)["tag"]: json.loads(v) for v in result.values("dump")}
        yield result, host, dumps, ok, gimp_env.host_path(home)


def test_expand_grows_the_canvas_and_fills_the_margins(features):
    result, out, dumps, _, _ = features
    assert int(result.marker("exp-status")) == SUCCESS, result.describe()
    assert json.loads(result.marker("exp-canvas")) == [800, 400]
    assert json.loads(result.marker("exp-source-offsets")) == [100, 0]
    layer, info = raw(out, dumps, "exp-layer")
    mask, _ = raw(out, dumps, "exp-mask", 1)
    assert (info["x"], info["y"]) == (0, 0) and (info["w"], info["h"]) == (800, 400)
    # the margins are the model's fill, fully shown, not stretched edge pixels
    for margin in (np.s_[:, 5:95], np.s_[:, 705:795]):
        assert (mask[margin][..., 0] == 255).all()
        assert np.abs(layer[margin][..., :3].astype(int) - FILL).max() <= 12


def test_remove_needs_no_prompt(features):
    result, _, _, ok, _ = features
    assert int(result.marker("rem-status")) == SUCCESS, result.describe()
    assert json.loads(result.marker("rem-layers")) == ["Removed", "Background"]
    prompts = [r.field("prompt") for r in ok.requests if r.path.endswith("/images/edits")]
    assert len([p for p in prompts if p and p.startswith("Remove the object")]) == 1


def test_rerun_adds_a_sibling_over_the_same_area(features):
    result, _, _, ok, _ = features
    assert int(result.marker("rerun-status")) == SUCCESS, result.describe()
    layers = json.loads(result.marker("rerun-layers"))
    assert [name for name, *_ in layers] == ["a blue cup", "a cup", "Background"]
    assert layers[0][1:] == layers[1][1:]  # same offsets and size
    edits = [r for r in ok.requests if r.path.endswith("/images/edits")]
    assert edits[-1].field("prompt") == "a blue cup"
    assert [(f.field, len(f.data) > 0) for f in edits[-1].files] == [("image", True),
                                                                     ("mask", True)]
    meta = json.loads(result.marker("rerun-meta"))
    assert meta["usage"]["total_tokens"] > 0 and meta["price"] > 0
    assert meta["selection"] == [200, 120, 150, 100]
    assert meta["session_total"] > meta["price"]  # three runs before this one


def test_prompts_are_remembered_per_procedure(features):
    from bianxie_core import prompts

    recent = prompts.recent("bianxie-edit-selection", path=features[4] / "prompts.json")
    assert recent[:2] == ["a blue cup", "a cup"]


def test_rerun_refuses_a_foreign_layer(features):
    result = features[0]
    assert int(result.marker("rerun-foreign-status")) == 1
    assert "not made by this plug-in" in result.marker("rerun-foreign-message")


def test_usage_and_running_total_are_reported(features):
    result = features[0]
    totals = [line for line in result.stderr.splitlines() if "since GIMP started" in line]
    assert len(totals) >= 3
    amounts = [float(line.rsplit("$", 1)[1].rstrip(").")) for line in totals]
    assert amounts == sorted(amounts) and amounts[-1] > amounts[0]


def test_phases_are_logged(features):
    log = (features[4] / "logs" / "bianxie.log").read_text()
    assert "phases read=" in log and "wait=" in log and "write=" in log


def test_streamed_preview_is_shown_before_the_final_image(gimp_env):
    """The server holds the final event until the plug-in has shown the partial image."""
    with FakeServer(dialect="openai", key=KEY) as srv:
        srv.hold_final = threading.Event()
        inner, _host = out_folder(gimp_env, "stream")
        home = f"{gimp_env.home}/bianxie-stream"
        outcome = {}
        runner = threading.Thread(target=lambda: outcome.update(result=gimp_env.run_batch(
            script("features_stream"), env=batch_env(inner, home, BX_STREAM=srv.base_url),
            timeout=240)))
        runner.start()
        jobs = gimp_env.host_path(home) / "jobs"
        shown = None
        deadline = time.monotonic() + 120
        while shown is None and time.monotonic() < deadline:
            found = list(jobs.glob("*/shown-0")) if jobs.is_dir() else []
            shown = found[0] if found else None
            time.sleep(0.05)
        assert shown is not None, "the plug-in never showed a preview"
        partial = shown.parent / shown.read_text()
        assert srv.partials and partial.read_bytes() == srv.partials[0]
        assert not srv.responses  # the final image was still held back
        srv.hold_final.set()
        runner.join(180)
        result = outcome["result"]
        assert int(result.marker("stream-status")) == SUCCESS, result.describe()
        assert int(result.marker("stream-images")) == 1  # the preview image is gone
        assert jobs_after_gimp(gimp_env.host_path(home)) == []  # removed after the import


def test_a_failed_import_leaves_the_image_as_it_was(gimp_env):
    """The import fails after the result layers went in: they are taken out again (and the
    canvas shrinks back), every paid image waits in the history, and Recover brings them."""
    with FakeServer(dialect="openai", key=KEY) as ok:
        inner, _host = out_folder(gimp_env, "insert-fault")
        home = f"{gimp_env.home}/bianxie-insert-fault"
        env = batch_env(inner, home, BX_OK=ok.base_url)
        result = gimp_env.run_batch(script("features_insert_fault"),
                                    env=dict(env, BIANXIE_TEST_FAULT="insert"), timeout=240)
        edit = json.loads(result.marker("edit"))
        expand = json.loads(result.marker("expand"))
        generate = json.loads(result.marker("generate"))
        assert edit[:2] == [0, True] and "Recover" in edit[2], result.describe()
        assert expand[:3] == [0, True, 600], result.describe()
        assert generate[:2] == [0, 0], result.describe()
        history = gimp_env.host_path(home) / "history"
        images = sorted(p for p in history.iterdir() if p.suffix == ".png")
        assert sorted(p.read_bytes() for p in images) == sorted(ok.responses)
        assert len(images) == 4  # two variants, the expansion, the generated image
        assert jobs_after_gimp(gimp_env.host_path(home)) == []  # nothing else kept
        recovered = gimp_env.run_batch(script("features_recover_all"), env=env, timeout=240)
        assert json.loads(recovered.marker("recover"))[:2] == [SUCCESS, 5]


@pytest.mark.parametrize("act", ["close-image", "delete-layer"])
def test_image_closed_or_layer_deleted_while_waiting(act, gimp_env):
    """The user closes the image or deletes the layer while the model works (simulated by a
    test hook that does it through the PDB during the wait): no layer goes anywhere, the
    message says the result is kept, and the paid image waits in the history."""
    with FakeServer(dialect="openai", key=KEY) as slow:
        slow.latency = 1.0
        inner, _host = out_folder(gimp_env, act)
        home = f"{gimp_env.home}/bianxie-{act}"
        env = dict(batch_env(inner, home, BX_SLOW=slow.base_url), BIANXIE_TEST_FAULT=act)
        result = gimp_env.run_batch(script("features_while_waiting"), env=env, timeout=240)
        assert int(result.marker("status")) == EXECUTION_ERROR, result.describe()
        assert "Recover Results" in result.marker("message")
        if act == "close-image":
            assert result.marker("image-valid") == "False"
        else:
            assert json.loads(result.marker("layers")) == ["Background"]
        history = gimp_env.host_path(home) / "history"
        images = [p.read_bytes() for p in history.iterdir() if p.suffix == ".png"]
        assert images == slow.responses and len(images) == 1
        assert jobs_after_gimp(gimp_env.host_path(home)) == []


def test_a_broken_install_says_run_install_again(gimp_env):
    """GIMP brought a new Python (no vendor folder for it): the menu entries stay, and using
    one says what is missing and what to do."""
    vendor = gimp_env.host_path(gimp_env.vendor_dir)
    hidden = vendor.with_name(vendor.name + ".hidden")
    vendor.rename(hidden)
    try:
        inner, _host = out_folder(gimp_env, "broken")
        result = gimp_env.run_batch(script("features_broken_install"), env=batch_env(
            inner, f"{gimp_env.home}/bianxie-broken"), timeout=180)
    finally:
        hidden.rename(vendor)
    assert "bianxie-edit-selection" in json.loads(result.marker("registered"))
    assert int(result.marker("status")) == EXECUTION_ERROR, result.describe()
    message = result.marker("message")
    assert "numpy" in message and "Pillow" in message and "install.py" in message
    assert int(result.marker("layers")) == 1


def test_the_dialog_estimate_is_the_cores_and_re_run_starts_from_the_stored_request(gimp_env):
    inner, _host = out_folder(gimp_env, "estimates")
    result = gimp_env.run_batch(script("features_estimates"), env=batch_env(
        inner, f"{gimp_env.home}/bianxie-estimates", BX_PLUGIN=gimp_env.plugin_dir,
        BX_VENDOR=gimp_env.vendor_dir), timeout=180)
    assert result.ok, result.describe()
    dialog, core = json.loads(result.marker("rerun-stored"))
    assert dialog == core > 0
    assert json.loads(result.marker("rerun-plain")) < dialog  # default model, auto, n = 1
    dialog, core = json.loads(result.marker("rerun-mini"))
    assert dialog == core and 0 < dialog
    dialog, core = json.loads(result.marker("rerun-generate"))
    assert dialog == core
    dialog, core = json.loads(result.marker("edit"))
    assert dialog == core > 0
    dialog, core = json.loads(result.marker("remove"))  # the built-in prompt is counted
    assert dialog == core
    # the quality drop-down: a name typed through gpt-image-2. keeps max; other families
    # grey out what they do not take; the quality chosen comes back with gpt-image-2.5
    every, four = ["auto", "low", "medium", "high", "xhigh", "max"], ["auto", "low", "medium",
                                                                       "high"]
    assert json.loads(result.marker("follows")) == [
        ["gpt-image-2.", "high", four], ["gpt-image-2.6", "max", every],
        ["gpt-image-1.5", "high", four], ["gemini-2.5-flash-image", "auto", ["auto"]],
        ["gpt-image-2.5", "max", every]]
