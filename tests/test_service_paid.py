"""After paying, nothing in the answer's bookkeeping can fail the run: usage of any shape is
counted or ignored, and the key in any form stays out of both histories."""

from __future__ import annotations

import base64
import json

import pytest
from PIL import Image

from bianxie_core import client as clientmod
from bianxie_core import config as configmod
from bianxie_core import cost, prompts
from bianxie_core.history import History
from bianxie_core.params import GenerateRequest
from bianxie_core.service import Service
from tests.test_client import KEY, assert_no_key, png_bytes, run_cli

WEIRD_USAGE = [
    {"input_tokens": "12", "output_tokens": "4160", "total_tokens": "4172"},
    {"input_tokens": float("inf"), "output_tokens": float("nan"), "total_tokens": 1e400},
    {"input_tokens": [1, 2], "output_tokens": {"n": 3}, "total_tokens": None},
    {"input_tokens": 10, "input_tokens_details": "lots", "output_tokens": True},
    {"input_tokens": 10, "input_tokens_details": {"text_tokens": "x", "image_tokens": -5}},
    "four thousand", [1, 2, 3], 4172, None,
    {"input_tokens": 10**30, "output_tokens": -1},
]


@pytest.mark.parametrize("usage", WEIRD_USAGE, ids=range(len(WEIRD_USAGE)))
def test_usage_of_any_shape_never_fails_a_paid_run(usage, srv1, tmp_path, capsys, monkeypatch):
    image = png_bytes(Image.new("RGB", (8, 8), (1, 2, 3)))

    def answer(self, request, *, on_image=None, on_partial=None, on_transfer=None):
        on_image(0, image, {"usage": usage})
        return clientmod.ImagesResult(images=[clientmod.ResultImage(data=image)], usage=usage)

    monkeypatch.setattr(clientmod.ImagesClient, "generate", answer)
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png"), "--quiet"],
                             capsys)
    assert code == 0, err
    assert (tmp_path / "o.png").read_bytes() == image
    assert "Traceback" not in err and "inf" not in err.lower() and "nan" not in err.lower()


def test_numeric_strings_are_counted_and_junk_is_zero():
    assert [cost.token_count(v) for v in ("12", " 7 ", "1e3", "x", 1e400, float("nan"), True,
                                          [1], {"a": 1}, -3, 2**60, 5.9)] == \
        [12, 7, 1000, 0, 0, 0, 0, 0, 0, 0, 0, 5]
    spec = Service(configmod.Config()).model("gpt-image-1")
    assert cost.actual(spec, {"input_tokens": 1e400, "output_tokens": "10"}) >= 0


# --- 10. the key in a prompt ----------------------------------------------------------------
ENCODED = [base64.b64encode(KEY.encode()).decode(),
           base64.urlsafe_b64encode(b"Bearer " + KEY.encode()).decode()]


@pytest.mark.parametrize("form", ENCODED + [KEY], ids=["b64", "bearer-b64url", "clear"])
def test_a_prompt_quoting_the_key_in_any_form_is_kept_out_of_the_prompt_list(form, home):
    assert not prompts.remember("generate", "use this: " + form)
    assert prompts.recent("generate") == []


@pytest.mark.parametrize("form", ENCODED[:2], ids=["b64", "bearer-b64url"])
def test_a_prompt_quoting_the_encoded_key_is_redacted_in_the_history(form, srv1, home):
    Service().generate(GenerateRequest(prompt="say " + form, model="gpt-image-1"))
    (entry,) = History(configmod.home() / "history").entries()
    text = entry.meta_path.read_text("utf-8")
    assert_no_key(text)
    assert json.loads(text)["secrets_redacted"] is True


# --- memory: a paid image's bytes stay on disk ----------------------------------------------
def test_saved_images_are_read_from_the_history_not_held(srv1, home):
    """Ten large images held at once peaked above 300 MB: each SavedImage now reads its bytes
    from its history entry, and the client's result keeps none of what the history took."""
    from tests.test_client import gen

    service = Service()
    outcome = service.generate(gen(n=3))
    assert service.client.keep_images is False
    assert [image.kept for image in outcome.images] == [None, None, None]
    assert [image.data for image in outcome.images] == srv1.responses
    assert [image.data for image in outcome.images] == \
        [image.entry.image_path.read_bytes() for image in outcome.images]


def test_the_client_hands_images_to_the_sink_only_when_asked(srv1):
    from tests.test_client import gen, make_client

    sunk = []
    result = make_client(srv1, keep_images=False).generate(
        gen(n=2), on_image=lambda index, data, info: sunk.append(data))
    assert sunk == srv1.responses and [image.data for image in result.images] == [None, None]
    result = make_client(srv1).generate(gen())  # no sink, or the default: the bytes are kept
    assert result.images[0].data == srv1.responses[-1]
