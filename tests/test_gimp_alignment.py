"""Real GIMP against a fake that redraws like a model: the answer comes back shifted, scaled,
rotated and re-toned; the plug-in puts it back in place (tests/fakeapi/redraw.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.alignment_cases import ellipse
from tests.fakeapi import FakeServer
from tests.fakeapi.redraw import Redraw
from tests.gimp.batch import KEY, SUCCESS, batch_env, out_folder, raw, script

pytestmark = pytest.mark.gimp

# coffee.png is 600x400; the selection an ellipse inside (220, 130, 160 x 120)
SELECTION = (220, 130, 160, 120)
DRIFT = Redraw(dx=9, dy=-6, scale=1.02, rotation=0.7, gain=(1.03, 1.0, 0.98), noise=1.0,
               jpeg=92)


@pytest.fixture(scope="module")
def aligned(gimp_env):
    with FakeServer(dialect="openai", key=KEY) as srv:
        srv.fill = "echo"  # change nothing...
        srv.redraw = DRIFT  # ... but redraw the canvas drifted
        inner, host = out_folder(gimp_env, "alignment")
        home = f"{gimp_env.home}/bianxie-alignment"
        env = batch_env(inner, home, BX_URL=srv.base_url, BX_SELECTION=json.dumps(SELECTION))
        result = gimp_env.run_batch(script("alignment"), env=env, timeout=300)
        dumps = {json.loads(v)["tag"]: json.loads(v) for v in result.values("dump")}
        yield result, host, dumps


def _whole_mask(host, dumps, tag):
    """The result layer's mask over the whole image (0 outside the layer)."""
    mask, info = raw(host, dumps, tag + "-mask", 1)
    whole = np.zeros((400, 600), np.uint8)
    whole[info["y"]:info["y"] + info["h"], info["x"]:info["x"] + info["w"]] = mask[..., 0]
    return whole


def _merged(aligned, tag):
    """(the photo, the image merged after the ``tag`` run, their mean difference inside the
    selection)."""
    result, host, dumps = aligned
    assert result.marker(f"{tag}-status") == str(SUCCESS), result.describe()
    source = raw(host, dumps, "source")[0]
    merged = raw(host, dumps, f"{tag}-merged")[0]
    x, y, w, h = SELECTION
    inside = np.zeros((400, 600), bool)
    inside[y:y + h, x:x + w] = ellipse((h, w), radii=(0.5, 0.5)) > 0
    error = np.abs(merged[..., :3].astype(int) - source[..., :3].astype(int))[inside].mean()
    return source, merged, error


def test_the_photo_is_restored_inside_the_selection_and_untouched_outside(aligned):
    result, host, dumps = aligned
    source, merged, error = _merged(aligned, "on")
    assert error <= 3.0, error
    outside = _whole_mask(host, dumps, "on") == 0
    assert outside.sum() > 150_000
    assert np.array_equal(merged[outside], source[outside])
    found = json.loads(result.marker("on-meta"))["alignment"][0]
    assert found["status"] == "corrected"
    assert "moved back into place" in found["note"]
    assert json.loads(result.marker("on-meta"))["settings"]["align"] is True


def test_with_align_off_the_drifted_answer_is_placed_as_it_came(aligned):
    result = aligned[0]
    _source, _merged_image, error = _merged(aligned, "off")
    assert error > 6.0, error
    meta = json.loads(result.marker("off-meta"))
    assert meta["alignment"] == [None] and meta["settings"]["align"] is False
