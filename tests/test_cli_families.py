"""Issue 15 through the CLI: ``bianxie inpaint|generate|edit -m MODEL`` for gpt-image-1.5,
gpt-image-2, a Gemini image model (chat door), Seedream (JSON door) and FLUX Kontext
(multipart, no mask), against the fake. An inpaint keeps every pixel outside the grown and
feathered selection exactly as it was, whether the model took a mask or redrew it all."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from bianxie_core.history import History
from bianxie_core.planning import DEFAULT_FEATHER, DEFAULT_GROW
from tests.core_fixtures import DATA, SELECTION
from tests.test_client import run_cli

MODELS = ["gpt-image-1.5", "gpt-image-2", "gemini-2.5-flash-image",
          "doubao-seedream-4-5-251128", "flux-kontext-pro"]
MASKLESS = MODELS[2:]
# the path each model's edit goes to
EDIT_PATH = {"gpt-image-1.5": "/v1/images/edits", "gpt-image-2": "/v1/images/edits",
             "gemini-2.5-flash-image": "/v1/chat/completions",
             "doubao-seedream-4-5-251128": "/v1/images/generations",
             "flux-kontext-pro": "/v1/images/edits", "qwen-image-edit-plus": "/v1/images/edits"}


def outside_selection(shape, margin: int) -> np.ndarray:
    """True where a pixel lies more than ``margin`` px from the selection box."""
    x0, y0, x1, y1 = SELECTION
    keep = np.ones(shape[:2], bool)
    keep[max(0, y0 - margin):y1 + margin, max(0, x0 - margin):x1 + margin] = False
    return keep


@pytest.mark.parametrize("model", MODELS + ["qwen-image-edit-plus"])
def test_inpaint_keeps_every_pixel_outside_the_feathered_selection(
        srv, photo_and_selection, tmp_path, capsys, model):
    photo, selection = photo_and_selection
    code, out, err = run_cli(["inpaint", "--image", str(photo), "--selection", str(selection),
                              "-p", "a red cup", "-m", model, "-o", str(tmp_path / "out.png"),
                              "--quiet"], capsys)
    assert code == 0, err
    result = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    original = np.asarray(Image.open(photo).convert("RGB"))
    keep = outside_selection(original.shape, DEFAULT_GROW + DEFAULT_FEATHER)
    assert np.array_equal(result[keep], original[keep])  # bit-identical outside
    centre = result[195:205, 295:305].astype(int)
    assert np.abs(centre - [255, 0, 255]).max() < 60  # the fake's magenta, inside
    (sent,) = srv.requests
    assert sent.path == EDIT_PATH[model]
    if model in MASKLESS or model.startswith("qwen"):  # the canvas only: no mask anywhere in the request
        assert not any(f.field == "mask" for f in sent.files)
        assert b"mask" not in sent.body.split(b"base64,")[0]
        assert b"Change only the part of the first image from" in sent.body  # where, in words
    else:
        assert b"Change only the part" not in sent.body
    (entry,) = History(tmp_path / "home" / "history").entries()
    assert entry.image_path.read_bytes() == srv.responses[0]  # the answer as paid, first


@pytest.mark.parametrize("model", MODELS)
def test_generate_with_each_family(srv, tmp_path, capsys, model):
    code, out, err = run_cli(["generate", "-p", "a lighthouse", "-m", model, "-s", "1536x1024",
                              "-o", str(tmp_path / "out.png"), "--quiet"], capsys)
    assert code == 0, err
    image = Image.open(tmp_path / "out.png")
    assert image.width > image.height  # the size asked became the family's landscape form
    assert len(srv.requests) == 1


@pytest.mark.parametrize("model, refs", [
    ("gpt-image-1.5", 2), ("gpt-image-2", 2), ("gemini-2.5-flash-image", 2),
    ("doubao-seedream-4-5-251128", 3), ("flux-kontext-pro", 2)])
def test_edit_with_references_sends_them_the_family_way(srv, tmp_path, capsys, model, refs):
    paths = []
    for i in range(refs):
        path = tmp_path / f"ref{i}.png"
        Image.open(DATA / "coffee.png").convert("RGB").rotate(90 * i, expand=True).save(path)
        paths += ["--image", str(path)]
    code, out, err = run_cli(["edit", *paths, "-p", "put them together", "-m", model, "-o",
                              str(tmp_path / "out.png"), "--quiet"], capsys)
    assert code == 0, err
    (sent,) = srv.requests
    if sent.files:
        assert len([f for f in sent.files if f.field.startswith("image")]) == refs
    else:
        body = json.loads(sent.body)
        if "messages" in body:
            parts = body["messages"][0]["content"]
            assert len([p for p in parts if p["type"] == "image_url"]) == refs
        else:
            assert isinstance(body["image"], list) and len(body["image"]) == refs
    assert Image.open(tmp_path / "out.png").size[0] > 0


def test_n_two_with_gemini_is_two_chat_requests_and_two_files(srv1, tmp_path, capsys):
    code, out, err = run_cli(["generate", "-p", "a lighthouse", "-m", "gemini-2.5-flash-image",
                              "-n", "2", "-o", str(tmp_path / "out.png"), "--quiet"], capsys)
    assert code == 0, err
    assert [r.path for r in srv1.requests] == ["/v1/chat/completions"] * 2
    assert len(list(tmp_path.glob("out*.png"))) == 2


@pytest.mark.parametrize("model", MASKLESS)
def test_a_maskless_model_is_not_said_to_ignore_the_mask(srv1, photo_and_selection, tmp_path,
                                                        capsys, model):
    """It redraws the whole canvas by design: no "it may ignore the mask" warning (the tone
    is still fitted around the new area), and the old picture is kept exactly."""
    photo, _selection = photo_and_selection
    code, out, err = run_cli(["expand", "--image", str(photo), "--left", "100", "--right",
                              "100", "-m", model, "-o", str(tmp_path / "out.png")], capsys)
    assert code == 0, err
    assert "ignore the mask" not in err
    result = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    original = np.asarray(Image.open(photo).convert("RGB"))
    assert result.shape == (400, 800, 3)
    margin = DEFAULT_GROW + DEFAULT_FEATHER
    assert np.array_equal(result[margin:-margin, 100 + margin:700 - margin],
                          original[margin:-margin, margin:600 - margin])
