"""End to end in real GIMP 3.0 and 3.2: the installed plug-in against the fake server.

Cases are grouped into few GIMP runs (each start costs seconds). A batch script drives the
procedures through the PDB, prints ``MARK`` lines and dumps pixels into a folder that the
test then reads from the host side of the root.
"""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

from tests.fakeapi import FakeServer
from tests.gimp.batch import (
    EXECUTION_ERROR, FILL, KEY, SUCCESS, batch_env, key_forms, out_folder, raw, script)

pytestmark = pytest.mark.gimp


@pytest.fixture(scope="module")
def servers():
    with FakeServer(dialect="openai", key=KEY) as ok, \
            FakeServer(dialect="new-api", key=KEY) as no_n, \
            FakeServer(dialect="openai", key=KEY) as err:
        no_n.fault = "refuse_n"
        err.fault = "server_error"
        yield ok, no_n, err


def run_case(gimp_env, name, env):
    inner, host = out_folder(gimp_env, "main")
    full = batch_env(inner, f"{gimp_env.home}/bianxie", **env)
    result = gimp_env.run_batch(script(name), env=full, timeout=240)
    return result, host


@pytest.fixture(scope="module")
def main_run(gimp_env, servers):
    ok, no_n, err = servers
    for srv in servers:
        del srv.requests[:]
    result, out = run_case(gimp_env, "plugin_main", {"BX_OK": ok.base_url, "BX_NO_N": no_n.base_url,
                                            "BX_ERR": err.base_url})
    dumps = {json.loads(v)["tag"]: json.loads(v) for v in result.values("dump")}
    return result, out, dumps, servers


def test_selection_edit_adds_an_aligned_masked_layer(main_run):
    result, out, dumps, _ = main_run
    assert int(result.marker("sel-status")) == SUCCESS, result.describe()
    names = json.loads(result.marker("sel-layers"))
    assert names == ["a red apple on the table", "Background"]
    assert result.marker("sel-source-same") == "True"
    assert result.marker("sel-has-mask") == "True"
    src, _ = raw(out, dumps, "sel-source")
    layer, info = raw(out, dumps, "sel-layer")
    mask, _ = raw(out, dumps, "sel-mask", 1)
    mask = mask[..., 0].astype(np.float64) / 255.0
    x, y = info["x"], info["y"]
    h, w = layer.shape[:2]
    # the composite GIMP shows: source under the new layer through its mask
    under = src[y:y + h, x:x + w, :3].astype(np.float64)
    comp = under * (1 - mask[..., None]) + layer[..., :3] * mask[..., None]
    # outside the selection plus its band: untouched, bit for bit
    band = 6 + 12 + 2
    outside = np.ones((h, w), bool)
    sx0, sy0 = 200 - x - band, 120 - y - band
    outside[max(sy0, 0):120 - y + 100 + band, max(sx0, 0):200 - x + 150 + band] = False
    assert np.array_equal(comp[outside], under[outside])
    # inside the selection's core: the fake server's fill
    core = comp[120 - y + 10:120 - y + 90, 200 - x + 10:200 - x + 140]
    assert np.abs(core - np.array(FILL)).max() <= 12


def test_result_layer_carries_request_metadata_without_the_key(main_run):
    result = main_run[0]
    meta = json.loads(result.marker("sel-meta"))
    assert meta["settings"]["prompt"] == "a red apple on the table"
    assert meta["entry"]
    assert KEY not in result.marker("sel-meta")


def test_whole_layer_edit_has_no_mask(main_run):
    result = main_run[0]
    assert int(result.marker("whole-status")) == SUCCESS, result.describe()
    assert json.loads(result.marker("whole-layer")) == [451, 300, [0, 0], False]


def test_layer_with_offsets_stays_aligned(main_run):
    result, out, dumps, _ = main_run
    assert int(result.marker("offset-status")) == SUCCESS, result.describe()
    layer, info = raw(out, dumps, "offset-layer")
    mask, _ = raw(out, dumps, "offset-mask", 1)
    # the mask's fully-on core sits over the selection (260,180)-(340,240) in image coords
    ys, xs = np.nonzero(mask[..., 0] == 255)
    assert abs(xs.min() + info["x"] - 260) <= 8 and abs(xs.max() + info["x"] - 339) <= 8
    assert abs(ys.min() + info["y"] - 180) <= 8 and abs(ys.max() + info["y"] - 239) <= 8


def test_references_are_sent_as_image_array(main_run):
    result, _, _, (ok, _, _) = main_run
    assert int(result.marker("refs-status")) == SUCCESS, result.describe()
    before, after = json.loads(result.marker("refs-layers"))
    assert after == ["put the cat and the astronaut into the cup"] + before  # above the first
    (sent,) = [r for r in ok.requests if r.path.endswith("/images/edits")
               and r.field("prompt") == "put the cat and the astronaut into the cup"]
    assert [f.field for f in sent.files] == ["image[]"] * 3 + ["mask"]


def test_generate_into_new_image_with_real_alpha(main_run):
    result, out, dumps, _ = main_run
    assert int(result.marker("gen-status")) == SUCCESS, result.describe()
    assert int(result.marker("gen-new-images")) == 1
    layer, info = raw(out, dumps, "gen-layer")
    assert (info["w"], info["h"]) == (1024, 1024)
    assert layer[..., 3].min() == 0 and layer[..., 3].max() == 255


def test_variants_arrive_as_a_group_first_visible(main_run):
    result = main_run[0]
    assert int(result.marker("var-status")) == SUCCESS, result.describe()
    assert json.loads(result.marker("var-group")) == [True, [
        ["a cookie #1", True], ["a cookie #2", False], ["a cookie #3", False]]]


def test_grayscale_and_16_bit_images(main_run):
    result = main_run[0]
    assert int(result.marker("gray-status")) == SUCCESS, result.describe()
    assert json.loads(result.marker("gray-result")) == [["gray", "Background"], True]
    assert int(result.marker("u16-status")) == SUCCESS, result.describe()
    assert json.loads(result.marker("u16-layers")) == ["deep", "Background"]


def test_relay_refusing_n_gets_parallel_single_requests(main_run):
    result, _, _, (_, no_n, _) = main_run
    assert int(result.marker("non-status")) == SUCCESS, result.describe()
    assert json.loads(result.marker("non-children")) == ["tea #1", "tea #2"]
    ns = [dict(r.fields).get("n") for r in no_n.requests]
    assert ns[0] == "2" and ns[1:] == [None, None]


def test_server_error_leaves_the_image_as_it_was(main_run):
    result = main_run[0]
    assert int(result.marker("err-status")) == EXECUTION_ERROR
    message = result.marker("err-message")
    assert "HTTP 500" in message and "Traceback" not in message and "<" not in message
    assert result.marker("err-same") == "True"


def test_no_file_written_holds_the_key(main_run, gimp_env):
    """GIMP's profile (.last files, pluginrc, …), the XCF, history, jobs and logs."""
    result, out, _, _ = main_run
    assert int(result.marker("xcf-saved")) > 0
    hits = []
    for folder in (gimp_env.host_path(gimp_env.home), out):
        for path in folder.rglob("*"):
            if not path.is_file() or path.name == "config.json" or "vendor" in path.parts:
                continue
            data = path.read_bytes()
            hits += [str(path) for form in key_forms(KEY) if form in data]
    assert hits == []
    assert KEY not in result.stdout and KEY not in result.stderr


def test_killed_plugin_loses_nothing_and_recover_imports_it(gimp_env):
    with FakeServer(dialect="openai", key=KEY) as slow:
        slow.latency = 4.0
        home = f"{gimp_env.home}/bianxie-kill"
        inner, _host = out_folder(gimp_env, "kill")
        full = batch_env(inner, home, BX_SLOW=slow.base_url)
        with gimp_env.start_batch(script("plugin_kill"), env=full) as gimp:
            deadline = time.monotonic() + 60
            while not slow.requests and time.monotonic() < deadline:
                time.sleep(0.1)
            assert slow.requests, "the plug-in never sent its request\n" + gimp.stdout
            pids = gimp_env.plugin_pids()
            assert pids, "no plug-in process found"
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            gimp.wait(90)
            assert "MARK kill-layers 1" in gimp.stdout, gimp.stdout
        history = gimp_env.host_path(home) / "history"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list(history.glob("*.json")):
            time.sleep(0.2)
        sidecars = list(history.glob("*.json"))
        assert len(sidecars) == 1
        images = [p for p in history.iterdir() if p.suffix in (".png", ".jpg", ".webp")]
        assert [p.read_bytes() for p in images] == slow.responses
        result = gimp_env.run_batch(script("plugin_recover"), env=full, timeout=180)
        assert int(result.marker("rec-status")) == SUCCESS, result.describe()
        assert json.loads(result.marker("rec-layers")) == ["Recovered: lost?", "Background"]
        meta = json.loads(sidecars[0].read_text())
        assert meta["imported"] is True


def test_all_procedures_registered_with_their_menus(gimp_env):
    result = gimp_env.run_batch(script("menus", lib=False))
    menus = dict(json.loads(v) for v in result.values("menu"))
    ai = "<Image>/Filters/AI (便携AI)"
    assert menus == {
        "bianxie-edit-selection": [ai],
        "bianxie-edit-with-references": [ai],
        "bianxie-generate": ["<Image>/File/Create", ai],
        "bianxie-settings": [ai],
        "bianxie-recover-results": [ai],
        "bianxie-rerun-layer": ["<Layers>", ai],
        "bianxie-expand": ["<Image>/Image", ai],
    }, result.describe()
