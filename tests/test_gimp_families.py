"""Issue 15 in real GIMP 3.0 and 3.2, against the fake: gpt-image-1.5, gpt-image-2, a Gemini
image model (chat door), Seedream (JSON door) and FLUX Kontext (multipart, no mask) each run
Edit Selection, Generate and Edit with References, in one GIMP session per version. Pixels
outside the grown and feathered selection (where the result layer's mask is 0) stay
bit-identical, whether the model took a mask or redrew the whole canvas."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.fakeapi import FakeServer
from tests.gimp.batch import KEY, SUCCESS, batch_env, out_folder, raw, script

pytestmark = pytest.mark.gimp

MODELS = ("gpt-image-1.5", "gpt-image-2", "gemini-2.5-flash-image",
          "doubao-seedream-4-5-251128", "flux-kontext-pro")
EDIT_PATH = {"gpt-image-1.5": "/v1/images/edits", "gpt-image-2": "/v1/images/edits",
             "gemini-2.5-flash-image": "/v1/chat/completions",
             "doubao-seedream-4-5-251128": "/v1/images/generations",
             "flux-kontext-pro": "/v1/images/edits"}
SELECTION = (250, 150, 100, 100)  # x, y, w, h on coffee.png (600x400)

@pytest.fixture(scope="module")
def session(gimp_env):
    with FakeServer(dialect="new-api", key=KEY) as srv:
        inner, host = out_folder(gimp_env, "families")
        home = f"{gimp_env.home}/bianxie-families"
        env = batch_env(inner, home, BX_URL=srv.base_url, BX_MODELS=json.dumps(MODELS),
                        BX_SELECTION=json.dumps(SELECTION))
        result = gimp_env.run_batch(script("families"), env=env, timeout=900)
        dumps = {json.loads(v)["tag"]: json.loads(v) for v in result.values("dump")}
        yield result, host, dumps, list(srv.requests)


def _whole_mask(host, dumps, tag):
    mask, info = raw(host, dumps, tag, 1)
    whole = np.zeros((400, 600), np.uint8)
    whole[info["y"]:info["y"] + info["h"], info["x"]:info["x"] + info["w"]] = mask[..., 0]
    return whole


@pytest.mark.parametrize("model", MODELS)
def test_edit_selection_keeps_the_outside_bit_identical(session, model):
    result, host, dumps, requests = session
    assert result.marker(model + "-edit-status") == str(SUCCESS), (
        result.marker(model + "-edit-message"), result.describe())
    assert json.loads(result.marker(model + "-edit-layers")) == ["a red cup", "Background"]
    source = raw(host, dumps, model + "-source")[0]
    merged = raw(host, dumps, model + "-merged")[0]
    outside = _whole_mask(host, dumps, model + "-mask") == 0
    assert outside.sum() > 200_000
    assert np.array_equal(merged[outside], source[outside])
    x, y, w, h = SELECTION
    centre = merged[y + h // 2 - 5:y + h // 2 + 5, x + w // 2 - 5:x + w // 2 + 5, :3]
    assert np.abs(centre.astype(int) - [255, 0, 255]).max() < 60  # the fake's magenta


@pytest.mark.parametrize("model", MODELS)
def test_generate_makes_a_new_image(session, model):
    result, host, dumps, requests = session
    assert result.marker(model + "-generate-status") == str(SUCCESS), (
        result.marker(model + "-generate-message"), result.describe())
    assert json.loads(result.marker(model + "-generate-images")) == [["a lighthouse"]]


@pytest.mark.parametrize("model", MODELS)
def test_edit_with_references_sends_both_layers_the_family_way(session, model):
    result, host, dumps, requests = session
    assert result.marker(model + "-refs-status") == str(SUCCESS), (
        result.marker(model + "-refs-message"), result.describe())
    # the result goes above the first layer
    assert json.loads(result.marker(model + "-refs-layers")) == [
        "put the white card on the table", "Background", "reference"]


def test_each_model_went_through_its_own_door(session):
    result, host, dumps, requests = session
    posts = [r for r in requests if r.method == "POST"]

    def model_of(rec):
        if rec.files or rec.fields:
            return rec.field("model")
        return json.loads(rec.body).get("model")

    for model in MODELS:
        paths = [r.path for r in posts if model_of(r) == model]
        assert paths.count(EDIT_PATH[model]) >= 2, (model, paths)
        if model not in ("gpt-image-1.5", "gpt-image-2"):
            mine = [r for r in posts if model_of(r) == model]
            assert not any(f.field == "mask" for r in mine for f in r.files)
