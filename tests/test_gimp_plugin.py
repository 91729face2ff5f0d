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
    EXECUTION_ERROR, FILL, KEY, LIB, SUCCESS, batch_env, key_forms, out_folder, raw)

pytestmark = pytest.mark.gimp


MAIN = r'''
server(os.environ["BX_OK"])

# 1. selection edit on a real photo
img = load("coffee.png")
src = img.get_layers()[0]
before = hashlib.sha256(pixels(src)).hexdigest()
img.select_rectangle(Gimp.ChannelOps.REPLACE, 200, 120, 150, 100)
status, message = call("bianxie-edit-selection", img, [src], prompt="a red apple on the table")
mark("sel-status", status)
layers = img.get_layers()
mark("sel-layers", json.dumps([l.get_name() for l in layers]))
mark("sel-source-same", hashlib.sha256(pixels(src)).hexdigest() == before)
new = layers[0]
dump("sel-source", src)
dump("sel-layer", new)
mark("sel-has-mask", new.get_mask() is not None)
if new.get_mask() is not None:
    dump("sel-mask", new.get_mask(), "Y u8")
mark("sel-meta", json.dumps(meta(new)))

# 2. whole layer: no selection
img2 = load("chelsea.png")
Gimp.Selection.none(img2)
status, message = call("bianxie-edit-selection", img2, [img2.get_layers()[0]], prompt="winter")
mark("whole-status", status)
top = img2.get_layers()[0]
mark("whole-layer", json.dumps([top.get_width(), top.get_height(), top.get_offsets()[1:],
                                 top.get_mask() is not None]))

# 3. a layer with offsets, smaller than the canvas
img3 = load("coffee.png")
extra = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, img3,
                             Gio.File.new_for_path(DATA + "/chelsea.png"))
img3.insert_layer(extra, None, 0)
extra.set_offsets(100, 50)
img3.select_rectangle(Gimp.ChannelOps.REPLACE, 260, 180, 80, 60)
status, message = call("bianxie-edit-selection", img3, [extra], prompt="a hat")
mark("offset-status", status)
dump("offset-source", extra)
dump("offset-layer", img3.get_layers()[0])
dump("offset-mask", img3.get_layers()[0].get_mask(), "Y u8")

# 4. references: three layers, the first one edited
img4 = load("coffee.png")
for name in ("chelsea.png", "astronaut.png"):
    ref = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, img4,
                               Gio.File.new_for_path(DATA + "/" + name))
    img4.insert_layer(ref, None, -1)
layers4 = img4.get_layers()
img4.select_rectangle(Gimp.ChannelOps.REPLACE, 100, 100, 200, 150)
status, message = call("bianxie-edit-with-references", img4, layers4,
                       prompt="put the cat and the astronaut into the cup")
mark("refs-status", status)
mark("refs-layers", len(img4.get_layers()))

# 5. generate into a new image, with a transparent background
count = len(Gimp.get_images())
status, message = call("bianxie-generate", prompt="a sticker of a fox", background="transparent",
                       size="1024x1024")
mark("gen-status", status)
images = Gimp.get_images()
mark("gen-new-images", len(images) - count)
gen = [i for i in images if i.get_id() not in (img.get_id(), img2.get_id(), img3.get_id(),
                                                 img4.get_id())][0]
dump("gen-layer", gen.get_layers()[0])

# 6. three variants arrive as a group, the first visible
img6 = load("coffee.png")
img6.select_rectangle(Gimp.ChannelOps.REPLACE, 50, 50, 100, 100)
status, message = call("bianxie-edit-selection", img6, [img6.get_layers()[0]], prompt="a cookie",
                       n=3, stream=False)
mark("var-status", status)
group = img6.get_layers()[0]
mark("var-group", json.dumps([group.is_group(), [c.get_visible() for c in group.get_children()]]
                             if group.is_group() else [False, []]))

# 7. grayscale and 16-bit images
img7 = load("coffee.png")
img7.convert_grayscale()
img7.select_rectangle(Gimp.ChannelOps.REPLACE, 50, 50, 100, 100)
status, message = call("bianxie-edit-selection", img7, [img7.get_layers()[0]], prompt="gray")
mark("gray-status", status)
mark("gray-result", json.dumps([len(img7.get_layers()), img7.get_base_type() ==
                                Gimp.ImageBaseType.GRAY]))
img8 = load("coffee.png")
img8.convert_precision(Gimp.Precision.U16_NON_LINEAR)
img8.select_rectangle(Gimp.ChannelOps.REPLACE, 50, 50, 100, 100)
status, message = call("bianxie-edit-selection", img8, [img8.get_layers()[0]], prompt="deep")
mark("u16-status", status)
mark("u16-layers", len(img8.get_layers()))

# 8. a relay that refuses n > 1
server(os.environ["BX_NO_N"])
img10 = load("coffee.png")
img10.select_rectangle(Gimp.ChannelOps.REPLACE, 50, 50, 100, 100)
status, message = call("bianxie-edit-selection", img10, [img10.get_layers()[0]], prompt="tea",
                       n=2, stream=False)
mark("non-status", status)
g = img10.get_layers()[0]
mark("non-children", len(g.get_children()) if g.is_group() else 0)

# 9. a server error leaves everything as it was
server(os.environ["BX_ERR"])
img9 = load("coffee.png")
img9.select_rectangle(Gimp.ChannelOps.REPLACE, 200, 120, 150, 100)
fp = fingerprint(img9)
status, message = call("bianxie-edit-selection", img9, [img9.get_layers()[0]], prompt="boom")
mark("err-status", status)
mark("err-message", message.replace("\n", " "))
mark("err-same", fingerprint(img9) == fp)

# the edited image, with its result layer and parasites, saved as XCF
Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, img, Gio.File.new_for_path(OUT + "/edited.xcf"), None)
mark("xcf-saved", os.path.getsize(OUT + "/edited.xcf"))
'''


@pytest.fixture(scope="module")
def servers():
    with FakeServer(dialect="openai", key=KEY) as ok, \
            FakeServer(dialect="new-api", key=KEY) as no_n, \
            FakeServer(dialect="openai", key=KEY) as err:
        no_n.fault = "refuse_n"
        err.fault = "server_error"
        yield ok, no_n, err


def run_case(gimp_env, script, env):
    inner, host = out_folder(gimp_env, "main")
    full = batch_env(inner, f"{gimp_env.home}/bianxie", **env)
    result = gimp_env.run_batch(LIB + script, env=full, timeout=240)
    return result, host


@pytest.fixture(scope="module")
def main_run(gimp_env, servers):
    ok, no_n, err = servers
    for srv in servers:
        del srv.requests[:]
    result, out = run_case(gimp_env, MAIN, {"BX_OK": ok.base_url, "BX_NO_N": no_n.base_url,
                                            "BX_ERR": err.base_url})
    dumps = {json.loads(v)["tag"]: json.loads(v) for v in result.values("dump")}
    return result, out, dumps, servers


def test_selection_edit_adds_an_aligned_masked_layer(main_run):
    result, out, dumps, _ = main_run
    assert int(result.marker("sel-status")) == SUCCESS, result.describe()
    names = json.loads(result.marker("sel-layers"))
    assert names == ["a red apple on the table", "Background"] or len(names) == 2
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
    assert int(result.marker("refs-layers")) == 4
    edits = [r for r in ok.requests if r.path.endswith("/images/edits")]
    assert any([f.field for f in r.files].count("image[]") == 3 for r in edits)


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
    assert json.loads(result.marker("var-group")) == [True, [True, False, False]]


def test_grayscale_and_16_bit_images(main_run):
    result = main_run[0]
    assert int(result.marker("gray-status")) == SUCCESS, result.describe()
    assert json.loads(result.marker("gray-result")) == [2, True]
    assert int(result.marker("u16-status")) == SUCCESS, result.describe()
    assert int(result.marker("u16-layers")) == 2


def test_relay_refusing_n_gets_parallel_single_requests(main_run):
    result, _, _, (_, no_n, _) = main_run
    assert int(result.marker("non-status")) == SUCCESS, result.describe()
    assert int(result.marker("non-children")) == 2
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


KILL = r'''
server(os.environ["BX_SLOW"])
img = load("coffee.png")
img.select_rectangle(Gimp.ChannelOps.REPLACE, 200, 120, 150, 100)
mark("calling", 1)
status, message = call("bianxie-edit-selection", img, [img.get_layers()[0]], prompt="lost?",
                       stream=False)
mark("kill-status", status)
mark("kill-layers", len(img.get_layers()))
'''

RECOVER = r'''
img = load("coffee.png")
status, message = call("bianxie-recover-results", img, [img.get_layers()[0]])
mark("rec-status", status)
mark("rec-layers", json.dumps([l.get_name() for l in img.get_layers()]))
dump("rec-layer", img.get_layers()[0])
'''


def test_killed_plugin_loses_nothing_and_recover_imports_it(gimp_env):
    with FakeServer(dialect="openai", key=KEY) as slow:
        slow.latency = 4.0
        home = f"{gimp_env.home}/bianxie-kill"
        inner, _host = out_folder(gimp_env, "kill")
        full = batch_env(inner, home, BX_SLOW=slow.base_url)
        with gimp_env.start_batch(LIB + KILL, env=full) as gimp:
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
        result = gimp_env.run_batch(LIB + RECOVER, env=full, timeout=180)
        assert int(result.marker("rec-status")) == SUCCESS, result.describe()
        assert len(json.loads(result.marker("rec-layers"))) == 2
        meta = json.loads(sidecars[0].read_text())
        assert meta["imported"] is True


MENUS = r'''
for name in ("bianxie-edit-selection", "bianxie-edit-with-references", "bianxie-generate",
             "bianxie-settings", "bianxie-recover-results", "bianxie-rerun-layer",
             "bianxie-expand"):
    proc = Gimp.get_pdb().lookup_procedure(name)
    mark("menu", json.dumps([name, list(proc.get_menu_paths()) if proc else None]))
'''


def test_all_procedures_registered_with_their_menus(gimp_env):
    result = gimp_env.run_batch(LIB.replace('OUT = os.environ["BX_OUT"]', "")
                                .replace('DATA = os.environ["BX_DATA"]', "") + MENUS)
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
