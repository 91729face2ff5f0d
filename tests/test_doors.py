"""Issue 15: the client speaks each family's door. The exact request of each door is held
against the relay's documented shape (new-api main 823e263, see the module docstrings of
doors.py and door_chat.py); answers, usage and errors of each door become images or one
sentence; URL answers are downloaded at once, into the history first."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from bianxie_core import errors, models
from bianxie_core.client import ImagesClient
from bianxie_core.params import EditRequest, GenerateRequest, ImageFile
from bianxie_core.service import Service
from tests.fakeapi import FakeServer

KEY = "sk-door-test-0000000000000000"
GEMINI = "gemini-3-pro-image-preview"
SEEDREAM = "doubao-seedream-4-5-251128"
FLUX = "flux-kontext-pro"
QWEN = "qwen-image-edit-plus"


def png(w=600, h=400, colour=(10, 120, 30), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (w, h), colour).save(out, "PNG")
    return out.getvalue()


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


@pytest.fixture(params=["openai", "new-api"])
def fake(request):
    with FakeServer(dialect=request.param, key=KEY) as server:
        yield server


@pytest.fixture
def relay():
    with FakeServer(dialect="new-api", key=KEY) as server:
        yield server


def client(server) -> ImagesClient:
    return ImagesClient(server.base_url, KEY, timeout=30)


def family(model):
    return models.get_model(model).family


def size_of(data: bytes) -> tuple:
    return Image.open(io.BytesIO(data)).size


# --- the exact request of each door -----------------------------------------------------------
def test_gemini_generate_is_a_chat_body_with_the_literal_image_config(fake):
    result = client(fake).generate(GenerateRequest(prompt="a red cup", model=GEMINI,
                                                   size="1536x1024", n=None),
                                   family=family(GEMINI))
    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body) == {
        "model": GEMINI,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a red cup"}]}],
        "extra_body": {"google": {"image_config": {"aspect_ratio": "3:2",
                                                   "image_size": "1K"}}},
    }
    assert size_of(result.images[0].data) == (1248, 832)  # Gemini's own 3:2, mapped back later


def test_gemini_edit_sends_each_image_as_an_image_url_data_part(fake):
    first, second = png(), png(300, 300, (200, 0, 0))
    request = EditRequest(prompt="a hat", model=GEMINI, size="1024x1024",
                          images=[ImageFile.from_bytes(first), ImageFile.from_bytes(second)])
    client(fake).edit(request, family=family(GEMINI))
    content = json.loads(fake.requests[-1].body)["messages"][0]["content"]
    assert content == [{"type": "text", "text": "a hat"},
                       {"type": "image_url", "image_url": {"url": data_url(first)}},
                       {"type": "image_url", "image_url": {"url": data_url(second)}}]


def test_seedream_goes_to_generations_as_json_with_image_references(fake):
    first, second = png(), png(300, 300, (200, 0, 0))
    one = EditRequest(prompt="a hat", model=SEEDREAM, size="2048x1365",
                      images=[ImageFile.from_bytes(first)])
    result = client(fake).edit(one, family=family(SEEDREAM))
    sent = fake.requests[-1]
    assert sent.path == "/v1/images/generations"
    assert json.loads(sent.body) == {"model": SEEDREAM, "prompt": "a hat",
                                     "image": data_url(first), "size": "2512x1680",
                                     "watermark": False}
    assert result.usage == {"generated_images": 1, "output_tokens": 16485,
                            "total_tokens": 16485}
    two = EditRequest(prompt="both", model=SEEDREAM, size="2K",
                      images=[ImageFile.from_bytes(first), ImageFile.from_bytes(second)])
    client(fake).edit(two, family=family(SEEDREAM))
    body = json.loads(fake.requests[-1].body)
    assert body["image"] == [data_url(first), data_url(second)] and body["size"] == "2K"
    assert len(fake.downloads) == 2  # each URL answer fetched at once


def test_flux_edit_is_multipart_with_its_aspect_ratio_field_and_no_mask(fake):
    request = EditRequest(prompt="a hat", model=FLUX, size="1536x1024",
                          images=[ImageFile.from_bytes(png())])
    result = client(fake).edit(request, family=family(FLUX))
    sent = fake.requests[-1]
    assert sent.path == "/v1/images/edits"
    assert dict(sent.fields) == {"prompt": "a hat", "model": FLUX, "aspect_ratio": "3:2"}
    assert [(f.field, f.filename, f.content_type) for f in sent.files] == [
        ("image", "image.png", "image/png")]
    assert size_of(result.images[0].data) == (1248, 832) and len(fake.downloads) == 1


def test_flux_generate_sends_its_size_as_the_relay_maps_it(fake):
    client(fake).generate(GenerateRequest(prompt="a cat", model=FLUX, size="1024x1536"),
                          family=family(FLUX))
    assert json.loads(fake.requests[-1].body) == {"prompt": "a cat", "size": "832x1248",
                                                  "model": FLUX}


def test_qwen_edit_sends_no_size_nor_mask_and_reads_a_relay_built_answer(relay):
    request = EditRequest(prompt="a hat", model=QWEN, images=[ImageFile.from_bytes(png())])
    result = client(relay).edit(request, family=family(QWEN))
    assert dict(relay.requests[-1].fields) == {"prompt": "a hat", "model": QWEN}
    assert size_of(result.images[0].data) == (600, 400) and result.usage is None


def test_a_gpt_image_request_is_what_it_always_was(fake):
    request = GenerateRequest(prompt="a cat", model="gpt-image-1.5", size="1024x1024")
    client(fake).generate(request, family=family("gpt-image-1.5"))
    assert fake.requests[-1].body == json.dumps(request.fields(), separators=(",", ":")).encode()


# --- the fake is as strict as the relay: what it would drop is refused ----------------------
@pytest.mark.parametrize("body, words", [
    ({"extra_body": {"google": {"image_config": {"aspectRatio": "16:9"}}}},
     "extra_body.google.image_config.aspectRatio is not supported, use "
     "extra_body.google.image_config.aspect_ratio instead"),
    ({"extra_body": {"google": {"imageConfig": {"aspect_ratio": "16:9"}}}},
     "extra_body.google.imageConfig is not supported, use extra_body.google.image_config"),
    ({"n": 2}, "'n' would be dropped"),
    ({"modalities": ["image"]}, "'modalities' would be dropped"),
])
def test_the_fake_chat_door_refuses_what_the_relay_drops(relay, body, words):
    import requests

    payload = dict({"model": GEMINI, "messages": [{"role": "user", "content": "x"}]}, **body)
    r = requests.post(relay.base_url + "/chat/completions", json=payload,
                      headers={"Authorization": "Bearer " + KEY})
    assert r.status_code == 400 and words in r.json()["error"]["message"]


def test_the_fake_refuses_a_json_extra_on_seedream_and_multipart_seedream(relay):
    import requests

    headers = {"Authorization": "Bearer " + KEY}
    r = requests.post(relay.base_url + "/images/generations", headers=headers,
                      json={"model": SEEDREAM, "prompt": "x", "seed": 3})
    assert r.status_code == 400 and "'seed' would be dropped" in r.json()["error"]["message"]
    r = requests.post(relay.base_url + "/images/edits", headers=headers,
                      data={"model": SEEDREAM, "prompt": "x"},
                      files={"image": ("a.png", png(), "image/png")})
    assert r.status_code == 400 and "did not reach the model" in r.json()["error"]["message"]
    r = requests.post(relay.base_url + "/images/edits", headers=headers,
                      data={"model": FLUX, "prompt": "x"},
                      files={"image": ("a.png", png(), "image/png"),
                             "mask": ("m.png", png(mode="RGBA"), "image/png")})
    assert r.status_code == 400 and "'mask' would be dropped" in r.json()["error"]["message"]


# --- answers and errors ---------------------------------------------------------------------
def test_gemini_images_field_of_other_relays_is_read_too(fake):
    fake.chat_style = "images"
    result = client(fake).generate(GenerateRequest(prompt="a cat", model=GEMINI),
                                   family=family(GEMINI))
    assert size_of(result.images[0].data) == (1024, 1024)


def test_gemini_markdown_with_a_link_is_downloaded_at_once(fake):
    fake.chat_style = "url"
    result = client(fake).generate(GenerateRequest(prompt="a cat", model=GEMINI),
                                   family=family(GEMINI))
    assert len(fake.downloads) == 1 and result.images[0].data == fake.responses[0]


def test_of_several_images_in_a_chat_answer_the_last_is_taken():
    from types import SimpleNamespace

    from bianxie_core import body, door_chat
    from bianxie_core.error_table import Scrubber

    first, last = data_url(png(8, 8)), data_url(png(9, 9))
    payload = {"choices": [{"message": {"content": "draft ![a](%s) and final\n![b](%s)"
                                        % (first, last)}, "finish_reason": "stop"}]}
    answers = SimpleNamespace(client=SimpleNamespace(_scrubber=Scrubber("k")))
    items, usage = door_chat.items(answers, payload, body.Answer(payload))
    assert items == [{"url": first, "draft": True}, {"url": last}] and usage is None


def test_gemini_usage_is_kept_in_the_images_shape(fake):
    result = client(fake).edit(EditRequest(prompt="a hat", model=GEMINI,
                                           images=[ImageFile.from_bytes(png())]),
                               family=family(GEMINI))
    assert result.usage == {"input_tokens": 260, "output_tokens": 1290, "total_tokens": 1550,
                            "input_tokens_details": {"text_tokens": 2, "image_tokens": 258}}


@pytest.mark.parametrize("fault, kind, words", [
    ("content_filter", errors.ModerationError, "safety filter blocked"),
    ("prompt_blocked", errors.ModerationError, "blocked this prompt"),
    ("empty_response", errors.ServerError, "empty response"),
    ("chat_text_only", errors.ResponseError, "without an image"),
])
def test_gemini_refusals_are_one_plain_sentence(relay, fault, kind, words):
    relay.chat_fault = fault
    with pytest.raises(kind) as caught:
        client(relay).generate(GenerateRequest(prompt="a cat", model=GEMINI),
                               family=family(GEMINI))
    assert words in caught.value.message and "Traceback" not in caught.value.message


def test_gemini_sent_to_the_images_door_says_to_use_chat(relay):
    with pytest.raises(errors.BadRequestError) as caught:
        client(relay).generate(GenerateRequest(prompt="a cat", model=GEMINI))
    assert "bianxie config set door MODEL=chat" in caught.value.message


def test_a_failed_seedream_item_is_a_sentence(fake):
    fake.seedream_item_error = True
    with pytest.raises(errors.APIError) as caught:
        client(fake).generate(GenerateRequest(prompt="a cat", model=SEEDREAM),
                              family=family(SEEDREAM))
    assert "sensitive" in caught.value.message


def test_an_expired_flux_url_is_a_plain_sentence(fake):
    fake.url_lifetime = 0.0
    with pytest.raises(errors.ResponseError) as caught:
        client(fake).edit(EditRequest(prompt="a hat", model=FLUX,
                                      images=[ImageFile.from_bytes(png())]),
                          family=family(FLUX))
    assert "HTTP 403" in caught.value.message


# --- end to end through the service: history first, n as parallel requests ------------------
@pytest.mark.parametrize("model", [GEMINI, SEEDREAM, FLUX])
def test_n_images_are_n_requests_each_in_the_history(srv1, home, model):
    outcome = Service().generate(GenerateRequest(prompt="a cat", model=model, n=2))
    assert len(outcome.images) == 2 and all(s.entry is not None for s in outcome.images)
    assert len(srv1.requests) == 2
    assert all("n" not in (r.json or {}) for r in srv1.requests)


def test_an_edit_with_a_mask_for_a_maskless_model_is_refused_before_sending(srv1, home):
    mask = ImageFile.from_bytes(png(mode="RGBA"))
    request = EditRequest(prompt="x", model=FLUX, images=[ImageFile.from_bytes(png())],
                          mask=mask)
    with pytest.raises(errors.UsageError, match="takes no mask"):
        Service().edit(request)
    assert srv1.requests == []


def test_too_many_references_for_flux_are_refused_before_sending(srv1, home):
    request = EditRequest(prompt="x", model=FLUX, images=[ImageFile.from_bytes(png())] * 5)
    with pytest.raises(errors.UsageError, match="at most 4 images"):
        Service().edit(request)
    assert srv1.requests == []


def test_streaming_is_left_out_for_a_family_without_it(srv1, home):
    outcome = Service().generate(GenerateRequest(prompt="a cat", model=GEMINI, stream=True,
                                                 partial_images=1))
    assert len(outcome.images) == 1
    assert "stream" not in json.dumps(json.loads(srv1.requests[-1].body))


def test_gpt_image_25_sends_xhigh_and_is_refused_input_fidelity_before_sending(srv1, home):
    outcome = Service().generate(GenerateRequest(prompt="a cat", model="gpt-image-2.5",
                                                 quality="xhigh", size="2048x1152"))
    assert len(outcome.images) == 1
    assert json.loads(srv1.requests[-1].body)["quality"] == "xhigh"
    request = EditRequest(prompt="x", model="gpt-image-2.5", input_fidelity="high",
                          images=[ImageFile.from_bytes(png())])
    with pytest.raises(errors.UsageError, match="input_fidelity"):
        Service().edit(request)
    assert len(srv1.requests) == 1
