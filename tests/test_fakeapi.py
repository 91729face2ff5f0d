"""The fake images API itself: strictness, pixels, usage, faults and streaming."""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import requests
from PIL import Image

from tests.fakeapi import FAULTS, FakeServer, validate

KEY = "sk-test-key"
AUTH = {"Authorization": "Bearer " + KEY}
DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parent.parent


# --- helpers ---------------------------------------------------------------------------------
def encode(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def photo(size=(64, 48)) -> Image.Image:
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    rgb = np.stack([x * 255 // size[0], y * 255 // size[1], (x * y) % 256], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8))


def half_mask(size=(64, 48)) -> Image.Image:
    """Left half transparent (to edit), right half opaque (to keep)."""
    alpha = np.full((size[1], size[0]), 255, np.uint8)
    alpha[:, : size[0] // 2] = 0
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.putalpha(Image.fromarray(alpha))
    return mask


def generate(srv: FakeServer, headers=None, sse=False, **body) -> requests.Response:
    """POST a generation; ``sse`` leaves the body unread (for streams)."""
    body.setdefault("model", "gpt-image-1")
    body.setdefault("prompt", "a red fox")
    return requests.post(srv.base_url + "/images/generations", json=body,
                         headers=AUTH if headers is None else headers, stream=sse, timeout=10)


def edit(srv: FakeServer, files=None, sse=False, **fields) -> requests.Response:
    fields.setdefault("model", "gpt-image-1")
    fields.setdefault("prompt", "paint it")
    if files is None:
        files = [("image", ("a.png", encode(photo()), "image/png"))]
    return requests.post(srv.base_url + "/images/edits", data=fields, files=files, headers=AUTH,
                         stream=sse, timeout=10)


def image_of(entry: dict) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(entry["b64_json"])))


def error_of(response: requests.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert {"message", "type", "param", "code"} <= set(body["error"])
    return body["error"]


def events(response: requests.Response) -> list:
    """``[(name, data)]`` of an SSE response (data parsed as JSON)."""
    out, name = [], None
    for line in response.iter_lines():
        line = line.decode("utf-8")
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            out.append((name, json.loads(line[len("data: "):])))
    return out


@pytest.fixture
def srv():
    with FakeServer() as server:
        yield server


@pytest.fixture
def relay():
    with FakeServer(dialect="new-api") as server:
        yield server


# --- basics ----------------------------------------------------------------------------------
def test_urls_point_at_the_same_server_under_two_host_names(srv):
    base, alt = urlsplit(srv.base_url), urlsplit(srv.alt_host_url)
    assert (base.hostname, base.path) == ("127.0.0.1", "/v1")
    assert alt.hostname == "localhost" and alt.port == base.port
    assert requests.get(srv.alt_host_url + "/v1/models", headers=AUTH, timeout=5).ok


def test_models_lists_image_and_chat_models(srv):
    ids = {m["id"] for m in requests.get(srv.base_url + "/models", headers=AUTH).json()["data"]}
    assert {"gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2"} <= ids
    assert {"gpt-4o-mini", "text-embedding-3-small"} <= ids


def test_unknown_path_is_404_in_the_envelope(srv):
    r = requests.post(srv.base_url + "/images/variations", json={}, headers=AUTH)
    assert r.status_code == 404
    assert error_of(r)["message"] == "Invalid URL (POST /v1/images/variations)"
    assert r.headers["x-request-id"].startswith("req_")


def test_generation_answers_real_images_and_echoes_what_it_used(srv):
    r = generate(srv, n=2, size="1536x1024", quality="auto", output_format="png")
    body = r.json()
    assert r.status_code == 200 and len(body["data"]) == 2
    assert (body["size"], body["quality"], body["background"], body["output_format"]) == (
        "1536x1024", "medium", "opaque", "png")
    img = image_of(body["data"][0])
    assert (img.format, img.size) == ("PNG", (1536, 1024))
    assert np.asarray(img).std() > 20  # not flat
    sent = [base64.b64decode(d["b64_json"]) for d in body["data"]]
    assert srv.responses == sent and sent[0] != sent[1]


def test_generation_is_recorded_with_json_and_headers(srv):
    generate(srv, prompt="fox", headers={**AUTH, "X-Custom": "1"})
    rec = srv.requests[0]
    assert (rec.method, rec.path, rec.json["prompt"]) == ("POST", "/v1/images/generations", "fox")
    assert rec.headers["authorization"] == "Bearer " + KEY and rec.headers["x-custom"] == "1"


@pytest.mark.parametrize(
    "body, fmt, mode",
    [
        ({"output_format": "jpeg", "output_compression": 40}, "JPEG", "RGB"),
        ({"output_format": "webp"}, "WEBP", "RGB"),
        ({"output_format": "webp", "background": "transparent"}, "WEBP", "RGBA"),
        ({"background": "transparent"}, "PNG", "RGBA"),
    ],
    ids=["jpeg", "webp", "webp-transparent", "png-transparent"],
)
def test_output_formats_and_real_alpha(srv, body, fmt, mode):
    img = image_of(generate(srv, size="1024x1024", **body).json()["data"][0])
    assert (img.format, img.mode) == (fmt, mode)
    if mode == "RGBA":
        alpha = np.asarray(img.getchannel("A"))
        assert alpha.min() == 0 and alpha.max() == 255


def test_gpt_image_2_free_size_is_answered_at_that_size(srv):
    body = generate(srv, model="gpt-image-2", size="1280x512", quality="medium").json()
    assert image_of(body["data"][0]).size == (1280, 512)  # the smallest: 655,360 pixels
    assert body["size"] == "1280x512" and body["usage"]["output_tokens"] == 660


# --- strictness ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body, param, code",
    [
        ({"response_format": "b64_json"}, "response_format", "unknown_parameter"),
        ({"style": "vivid"}, "style", "unknown_parameter"),
        ({"input_fidelity": "high"}, "input_fidelity", "unknown_parameter"),
        ({"n": 11}, "n", "integer_above_max_value"),
        ({"n": 0}, "n", "integer_below_min_value"),
        ({"n": "2"}, "n", "invalid_type"),
        ({"stream": "true"}, "stream", "invalid_type"),
        ({"prompt": None}, "prompt", "missing_required_parameter"),
        ({"prompt": "x" * 32001}, "prompt", "string_above_max_length"),
        ({"model": None}, "model", "missing_required_parameter"),
        ({"model": "gpt-4o-mini"}, "model", "invalid_value"),
        ({"quality": "hd"}, "quality", "invalid_value"),
        ({"size": "512x512"}, "size", "invalid_value"),
        ({"size": "1024x768"}, "size", "invalid_value"),
        ({"moderation": "none"}, "moderation", "invalid_value"),
        ({"output_format": "gif"}, "output_format", "invalid_value"),
        ({"output_compression": 101, "output_format": "jpeg"}, "output_compression",
         "integer_above_max_value"),
        ({"output_compression": 50}, "output_compression", "unsupported_value"),
        ({"background": "transparent", "output_format": "jpeg"}, "background",
         "unsupported_value"),
        ({"partial_images": 4}, "partial_images", "integer_above_max_value"),
        ({"model": "gpt-image-2", "size": "1000x1000"}, "size", "invalid_value"),
        ({"model": "gpt-image-2", "size": "3072x1008"}, "size", "invalid_value"),
        ({"model": "gpt-image-2", "size": "4096x1536"}, "size", "invalid_value"),
        ({"model": "gpt-image-2", "size": "3840x2176"}, "size", "invalid_value"),
        ({"model": "gpt-image-2", "size": "1024x624"}, "size", "invalid_value"),
        ({"model": "gpt-image-2", "size": "big"}, "size", "invalid_value"),
    ],
    ids=[
        "response_format", "style", "fidelity-in-generations", "n-11", "n-0", "n-string",
        "stream-string", "no-prompt", "long-prompt", "no-model", "chat-model", "quality-hd",
        "size-512", "size-free-on-gpt-image-1", "moderation", "format-gif", "compression-101",
        "compression-on-png", "transparent-jpeg", "partial-4", "free-not-16", "free-aspect",
        "free-side", "free-pixels", "free-too-few-pixels", "free-garbage",
    ],
)
def test_generation_rejects_like_openai(srv, body, param, code):
    body = {k: v for k, v in {"model": "gpt-image-1", "prompt": "p", **body}.items()
            if v is not None}
    r = requests.post(srv.base_url + "/images/generations", json=body, headers=AUTH)
    err = error_of(r)
    assert (r.status_code, err["param"], err["code"]) == (400, param, code)
    assert err["type"] == "invalid_request_error"
    assert not srv.responses


@pytest.mark.parametrize(
    "model, size",
    [("gpt-image-2", "3840x2160"), ("gpt-image-2", "3024x1008"), ("gpt-image-2", "auto"),
     ("gpt-image-1.5", "1024x1536")],
    ids=["free-max", "free-3-to-1", "free-auto", "standard"],
)
def test_valid_sizes_are_accepted(srv, model, size):
    r = generate(srv, model=model, size=size, output_format="jpeg")
    assert r.status_code == 200, r.text
    expected = (1024, 1024) if size == "auto" else tuple(int(v) for v in size.split("x"))
    assert image_of(r.json()["data"][0]).size == expected


def test_json_body_must_be_json(srv):
    r = requests.post(srv.base_url + "/images/generations", data=b"{nope",
                      headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400 and "could not parse the JSON body" in error_of(r)["message"]


def _files(n, ctype="image/png", field="image[]", data=None):
    data = data or encode(photo())
    return [(field, ("p%d.png" % i, data, ctype)) for i in range(n)]


@pytest.mark.parametrize(
    "files, fields, param, code",
    [
        ([("image", ("a.png", encode(photo()), "application/octet-stream"))], {}, "image",
         "unsupported_file_mimetype"),
        (_files(1) + _files(1, "application/octet-stream"), {}, "image[1]",
         "unsupported_file_mimetype"),
        ([("image", ("upload", encode(photo()), None))], {}, "image",
         "unsupported_file_mimetype"),
        ([("image", ("a.jpg", encode(photo()), "image/jpeg"))], {}, "image",
         "invalid_image_file"),
        ([("image", ("a.png", b"not an image", "image/png"))], {}, "image",
         "invalid_image_file"),
        (_files(17), {}, "image", "array_above_max_length"),
        ([("user", (None, "u-1"))], {}, "image", "missing_required_parameter"),
        (_files(1) + [("mask", ("m.png", encode(photo()), "image/png"))], {}, "mask",
         "invalid_mask_image_format"),
        (_files(1) + [("mask", ("m.png", encode(half_mask((32, 32))), "image/png"))], {},
         "mask", "invalid_mask_image_size"),
        (_files(1) + [("mask", ("m.webp", encode(half_mask(), "WEBP"), "image/webp"))], {},
         "mask", "invalid_mask_image_format"),
        (_files(1), {"response_format": "b64_json"}, "response_format", "unknown_parameter"),
        (_files(1), {"moderation": "low"}, "moderation", "unknown_parameter"),
        (_files(1), {"n": "11"}, "n", "integer_above_max_value"),
        (_files(1), {"n": "two"}, "n", "invalid_type"),
        (_files(1), {"stream": "True"}, "stream", "invalid_type"),
        (_files(1), {"model": "gpt-image-1-mini", "input_fidelity": "high"}, "input_fidelity",
         "unsupported_parameter"),
        (_files(1), {"input_fidelity": "max"}, "input_fidelity", "invalid_value"),
        (_files(1), {"image": "https://x/y.png"}, "image", "invalid_type"),
    ],
    ids=[
        "octet-stream", "second-octet-stream", "no-part-type", "jpeg-type-png-bytes", "garbage",
        "17-images", "no-image", "mask-without-alpha", "mask-other-size", "mask-not-png",
        "response_format", "moderation", "n-11", "n-text", "stream-True", "mini-fidelity",
        "fidelity-value", "image-as-text",
    ],
)
def test_edit_rejects_like_openai(srv, files, fields, param, code):
    r = edit(srv, files=files, **fields)
    err = error_of(r)
    assert (r.status_code, err["param"], err["code"]) == (400, param, code), err


def test_mask_error_wording(srv):
    files = _files(1) + [("mask", ("m.png", encode(photo()), "image/png"))]
    err = error_of(edit(srv, files=files))
    assert err["message"] == "Invalid mask image format - mask image missing alpha channel"


@pytest.mark.parametrize(
    "files",
    [
        [("image", ("a.png", encode(photo()), "image/png"))],
        _files(16),
        [("image[0]", ("a.png", encode(photo()), "image/png")),
         ("image[1]", ("b.jpg", encode(photo(), "JPEG"), "image/jpeg")),
         ("image[2]", ("c.webp", encode(photo(), "WEBP"), "image/webp"))],
        _files(1, "image/png; charset=binary"),
    ],
    ids=["image", "image[]-16", "image[N]-mixed-formats", "type-with-params"],
)
def test_edit_accepts_every_image_field_style(srv, files):
    r = edit(srv, files=files, size="1024x1024", quality="low")
    assert r.status_code == 200, r.text
    assert image_of(r.json()["data"][0]).size == (1024, 1024)
    assert [f.field for f in srv.requests[0].files] == [f[0] for f in files]


def test_edit_parts_are_recorded_in_order(srv):
    files = _files(2, field="image[]") + [("mask", ("m.png", encode(half_mask()), "image/png"))]
    edit(srv, files=files, size="1024x1024", quality="low")
    rec = srv.requests[0]
    assert rec.fields == [("size", "1024x1024"), ("quality", "low"), ("model", "gpt-image-1"),
                          ("prompt", "paint it")]
    assert rec.field("size") == "1024x1024" and rec.json is None
    assert [(f.field, f.filename, f.content_type) for f in rec.files] == [
        ("image[]", "p0.png", "image/png"), ("image[]", "p1.png", "image/png"),
        ("mask", "m.png", "image/png")]
    assert rec.files[2].data == files[2][1][1]


@pytest.mark.parametrize(
    "filename, data, status",
    [
        ("a.png", encode(photo()), 200),
        ("a.JPEG", encode(photo(), "JPEG"), 200),
        ("upload", encode(photo()), 200),
        ("upload", encode(photo(), "JPEG"), 400),
        ("a.jpg", encode(photo()), 400),
    ],
    ids=["png-name", "jpeg-name", "no-extension-png", "no-extension-jpeg", "png-named-jpg"],
)
def test_newapi_derives_part_types_from_the_filename(relay, filename, data, status):
    r = edit(relay, files=[("image", (filename, data, "application/octet-stream"))])
    assert r.status_code == status, r.text
    if status == 400:
        assert error_of(r)["code"] == "invalid_image_file"


def test_auto_edit_size_follows_the_input_aspect(srv):
    r = edit(srv, files=_files(1, data=encode(photo((90, 60)))), size="auto", quality="low")
    assert r.json()["size"] == "1536x1024"
    assert image_of(r.json()["data"][0]).size == (1536, 1024)


# --- auth and dialects -----------------------------------------------------------------------
def test_wrong_key_is_401_with_the_key_masked(srv):
    wrong = "sk-proj-abcdefghijklmnop1234"
    r = generate(srv, headers={"Authorization": "Bearer " + wrong})
    err = error_of(r)
    assert (r.status_code, err["code"]) == (401, "invalid_api_key")
    assert err["message"].startswith("Incorrect API key provided: sk-*")
    assert "*1234." in err["message"]
    assert wrong not in r.text and "abcdefghijklmnop" not in r.text


@pytest.mark.parametrize("headers", [{}, {"Authorization": KEY}], ids=["none", "no-bearer"])
def test_missing_bearer_is_401(srv, headers):
    r = generate(srv, headers=headers)
    assert r.status_code == 401 and "Authorization" in error_of(r)["message"]


def test_newapi_wraps_upstream_errors(relay):
    r = generate(relay, response_format="url")
    err, rid = error_of(r), r.headers["X-Oneapi-Request-Id"]
    assert err["message"] == "Unknown parameter: 'response_format'. (request id: %s)" % rid
    assert (err["param"], err["code"], err["type"]) == ("response_format", "unknown_parameter",
                                                       "invalid_request_error")
    # new-api's id: the time to the second, its nanoseconds unpadded (1-9 digits), 8 letters
    assert re.fullmatch(r"\d{14}\d{1,9}[A-Za-z0-9]{8}", rid), rid
    assert "x-request-id" not in r.headers


def test_newapi_own_auth_error_is_chinese(relay):
    r = generate(relay, headers={"Authorization": "Bearer sk-other"})
    err = error_of(r)
    assert (r.status_code, err["type"]) == (401, "new_api_error")
    assert err["message"].startswith("无效的令牌 (request id: ")


def test_newapi_unknown_model_has_no_channel(relay):
    r = generate(relay, model="gpt-image-9")
    err = error_of(r)
    assert (r.status_code, err["code"]) == (503, "model_not_found")
    assert "gpt-image-9 无可用渠道" in err["message"]


def test_newapi_models_list_has_success_flag(relay):
    assert requests.get(relay.base_url + "/models", headers=AUTH).json()["success"] is True


# --- fill modes ------------------------------------------------------------------------------
OUT = (640, 1024)  # a free size (the smallest area), so the first image is also stretched


def _resized(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB").resize(OUT, Image.Resampling.LANCZOS)).astype(float)


@pytest.mark.parametrize("fill", ["mask", "mask+shift", "ignore_mask", "echo", "solid"])
def test_fill_modes_paint_what_they_claim(srv, fill):
    src = Image.open(DATA / "astronaut.png")
    srv.fill, srv.fill_color = fill, (10, 200, 30)
    files = [("image", ("a.png", encode(src), "image/png")),
             ("mask", ("m.png", encode(half_mask(src.size)), "image/png"))]
    r = edit(srv, files=files, model="gpt-image-2", size="%dx%d" % OUT)
    out = np.asarray(image_of(r.json()["data"][0])).astype(float)
    base, color = _resized(src), np.array([10, 200, 30], float)
    half = OUT[0] // 2
    masked = np.concatenate([np.broadcast_to(color, (OUT[1], half, 3)), base[:, half:]], 1)
    gain, offset = np.array(srv.shift[0]), np.array(srv.shift[1])
    expected = {
        "mask": masked,
        "mask+shift": np.clip(masked * gain + offset, 0, 255),
        "ignore_mask": 255 - base,
        "echo": base,
        "solid": np.broadcast_to(color, (OUT[1], OUT[0], 3)),
    }
    assert out.shape == (OUT[1], OUT[0], 3)
    assert np.abs(out - expected[fill]).max() <= 1.0


def test_fill_mask_without_mask_fills_everything(srv):
    srv.fill_color = (1, 2, 3)
    out = np.asarray(image_of(edit(srv, size="1024x1024", quality="low").json()["data"][0]))
    assert (out == (1, 2, 3)).all()


def test_fill_uses_the_first_image_only(srv):
    srv.fill = "echo"
    black, white = Image.new("RGB", (64, 64)), Image.new("RGB", (64, 64), "white")
    files = [("image[]", ("b.png", encode(black), "image/png")),
             ("image[]", ("w.png", encode(white), "image/png"))]
    out = np.asarray(image_of(edit(srv, files=files, size="1024x1024").json()["data"][0]))
    assert out.max() == 0


def test_return_size_overrides_the_answer_size(srv):
    srv.return_size = (100, 60)
    body = edit(srv, size="1024x1536").json()
    assert image_of(body["data"][0]).size == (100, 60) and body["size"] == "1024x1536"


# --- usage -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "quality, size, per_image",
    [("low", "1024x1024", 272), ("medium", "1024x1536", 1584), ("high", "1536x1024", 6208),
     ("auto", "1024x1024", 1056)],
    ids=["low-square", "medium-portrait", "high-landscape", "auto-is-medium"],
)
def test_generation_usage_follows_the_token_table(srv, quality, size, per_image):
    usage = generate(srv, prompt="x" * 17, quality=quality, size=size, n=2).json()["usage"]
    assert usage == {
        "input_tokens": 5, "input_tokens_details": {"text_tokens": 5, "image_tokens": 0},
        "output_tokens": 2 * per_image, "total_tokens": 5 + 2 * per_image,
    }


def test_edit_usage_counts_input_images_by_tiles(srv):
    """As measured: 1024x1024 is one 512 px tile (194), 1100x1024 two (323), 512x512 one."""
    files = [("image[]", ("a.png", encode(photo((1024, 1024))), "image/png")),
             ("image[]", ("b.png", encode(photo((1100, 1024))), "image/png")),
             ("image[]", ("c.png", encode(photo((512, 512))), "image/png"))]
    usage = edit(srv, files=files, prompt="abcdefghi", quality="low", size="1024x1024",
                 model="gpt-image-1.5").json()["usage"]
    assert usage["input_tokens_details"] == {"text_tokens": 3 + 3 * 32,
                                             "image_tokens": 194 + 323 + 194}
    assert usage["input_tokens"] == 99 + 711 and usage["output_tokens"] == 272
    assert usage["total_tokens"] == 810 + 272
    assert usage["output_tokens_details"] == {"image_tokens": 272, "text_tokens": 0}


# --- streaming -------------------------------------------------------------------------------
def test_generation_stream_sends_partials_then_completed(srv):
    r = generate(srv, stream=True, partial_images=2, quality="low", size="1024x1024")
    assert r.headers["Content-Type"].startswith("text/event-stream")
    got = events(r)
    assert [name for name, _ in got] == ["image_generation.partial_image"] * 2 + [
        "image_generation.completed"]
    assert [d["partial_image_index"] for _, d in got[:2]] == [0, 1]
    assert all(name == data["type"] for name, data in got)
    final = got[-1][1]
    assert base64.b64decode(final["b64_json"]) == srv.responses[0]
    assert final["usage"]["output_tokens"] == 272 and "usage" not in got[0][1]
    assert (final["size"], final["quality"], final["output_format"]) == ("1024x1024", "low",
                                                                         "png")
    assert image_of(got[0][1]).size == (1024, 1024)
    assert base64.b64decode(got[0][1]["b64_json"]) != srv.responses[0]


def test_stream_events_keep_auto_where_the_json_answer_resolves_it(srv):
    got = events(generate(srv, stream=True, partial_images=1))
    assert all((d["size"], d["quality"], d["background"]) == ("auto", "auto", "auto")
               for _, d in got)
    body = generate(srv).json()
    assert (body["size"], body["quality"], body["background"]) == ("1024x1024", "medium",
                                                                   "opaque")


def test_edit_stream_uses_image_edit_events(srv):
    r = edit(srv, sse=True, stream="true", partial_images="0", size="1024x1024")
    assert [name for name, _ in events(r)] == ["image_edit.completed"]


def test_hold_final_keeps_the_completed_event_back(srv):
    srv.hold_final = threading.Event()
    r = generate(srv, sse=True, stream=True, partial_images=1, size="1024x1024", quality="low")
    lines = r.iter_lines()
    assert next(lines).startswith(b"event: image_generation.partial_image")
    time.sleep(0.2)  # room to misbehave: the final must still be held
    assert srv.responses == []
    srv.hold_final.set()
    rest = [line for line in lines if line.startswith(b"event: ")]
    assert rest == [b"event: image_generation.completed"] and len(srv.responses) == 1


def test_stream_waits_for_latency_and_partial_delay(srv):
    srv.latency, srv.partial_delay = 0.1, 0.1
    start = time.monotonic()
    events(generate(srv, stream=True, partial_images=2, size="1024x1024", quality="low"))
    assert time.monotonic() - start >= 0.2


# --- faults ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fault, dialect, status, type_, code",
    [
        ("invalid_param", "openai", 400, "invalid_request_error", "invalid_value"),
        ("moderation", "openai", 400, "image_generation_user_error", "moderation_blocked"),
        ("unauthorized", "openai", 401, "invalid_request_error", "invalid_api_key"),
        ("unauthorized", "new-api", 401, "new_api_error", ""),
        ("token_exhausted", "new-api", 401, "new_api_error", ""),
        ("token_expired", "new-api", 401, "new_api_error", ""),
        ("org_unverified", "openai", 403, "invalid_request_error", None),
        ("quota_newapi", "openai", 403, "new_api_error", "insufficient_user_quota"),
        ("rate_limit", "openai", 429, "requests", "rate_limit_exceeded"),
        ("insufficient_quota", "openai", 429, "insufficient_quota", "insufficient_quota"),
        ("server_error", "openai", 500, "server_error", None),
        ("unavailable", "openai", 503, "server_error", None),
        ("unavailable", "new-api", 503, "server_error", None),
        ("no_channel", "new-api", 503, "new_api_error", "model_not_found"),
        ("moderation", "new-api", 400, "image_generation_user_error", "moderation_blocked"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_error_faults_have_the_real_shapes(fault, dialect, status, type_, code):
    with FakeServer(dialect=dialect) as server:
        server.fault = fault
        r = generate(server)
        err = error_of(r)
        assert (r.status_code, err["type"], err["code"]) == (status, type_, code)
        assert len(server.requests) == 1 and server.requests[0].fault == fault
        suffixed = dialect == "new-api" or fault == "quota_newapi"
        assert err["message"].endswith(")") == suffixed
        assert (err["param"] == "") == suffixed


def test_fault_details(srv):
    srv.fault = "moderation"
    err = error_of(generate(srv))
    assert "safety_violations=[violence]" in err["message"]
    assert err["moderation_details"]["categories"] == ["violence"]
    srv.fault = "rate_limit"
    assert generate(srv).headers["Retry-After"] == "1"
    srv.fault = "quota_newapi"
    r = generate(srv)
    assert error_of(r)["message"] == "用户额度不足, 剩余额度: ¥0.12 (request id: %s)" % (
        r.headers["X-Oneapi-Request-Id"])
    srv.fault = "org_unverified"
    assert "verified to use the model `gpt-image-1.5`" in error_of(
        generate(srv, model="gpt-image-1.5"))["message"]
    srv.fault = "invalid_param"
    assert error_of(generate(srv))["param"] == "quality"


def test_error_faults_apply_to_the_models_list_too(srv):
    srv.fault = "unauthorized"
    assert requests.get(srv.base_url + "/models", headers=AUTH).status_code == 401


def test_newapi_no_channel_names_the_group_and_model(relay):
    relay.fault = "no_channel"
    assert error_of(generate(relay))["message"].startswith(
        "当前分组 default 下对于模型 gpt-image-1 无可用渠道 (request id: ")


@pytest.mark.parametrize("fault, status, marker", [("bad_gateway_html", 502, b"nginx"),
                                                   ("timeout_524", 524, b"524")])
def test_html_faults(srv, fault, status, marker):
    srv.fault, srv.latency = fault, 0.01
    r = generate(srv)
    assert r.status_code == status and r.headers["Content-Type"].startswith("text/html")
    assert marker in r.content and b"<html" in r.content


@pytest.mark.parametrize("fault", ["reset_before_body", "reset_after_body"])
def test_reset_faults_drop_the_connection(srv, fault):
    srv.fault = fault
    with pytest.raises(requests.ConnectionError):
        edit(srv)
    assert srv.requests[0].fault == fault
    assert (srv.requests[0].files == [] and srv.requests[0].body == b"") == (
        fault == "reset_before_body")


def test_reset_after_body_records_the_body(srv):
    srv.fault = "reset_after_body"
    with pytest.raises(requests.ConnectionError):
        generate(srv, prompt="kept")
    assert b'"kept"' in srv.requests[0].body


def test_read_timeout_answers_nothing_and_stops_with_the_server():
    server = FakeServer().start()
    server.fault, server.latency = "read_timeout", 30.0
    with pytest.raises(requests.ReadTimeout):
        requests.post(server.base_url + "/images/generations", json={}, headers=AUTH,
                      timeout=(5, 0.2))
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 5


def test_truncated_b64_cannot_be_decoded(srv):
    srv.fault = "truncated_b64"
    b64 = generate(srv).json()["data"][0]["b64_json"]
    with pytest.raises(binascii.Error):
        base64.b64decode(b64, validate=True)


def test_invalid_json_is_a_200_that_is_not_json(srv):
    srv.fault = "invalid_json"
    r = generate(srv)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()


def test_empty_data(srv):
    srv.fault = "empty_data"
    body = generate(srv).json()
    assert body["data"] == [] and body["usage"]["output_tokens"] == 1056


def test_wrong_size_answers_1000x700(srv):
    srv.fault = "wrong_size"
    body = generate(srv, size="1024x1024").json()
    assert image_of(body["data"][0]).size == (1000, 700) and body["size"] == "1024x1024"


def test_url_fault_serves_the_image_from_another_host_without_auth(srv):
    srv.fault = "url"
    entry = generate(srv).json()["data"][0]
    assert "b64_json" not in entry
    url = urlsplit(entry["url"])
    assert url.hostname == "localhost" and url.path.startswith("/files/")
    got = requests.get(entry["url"], timeout=5)
    assert got.content == srv.responses[0] and got.headers["Content-Type"] == "image/png"
    assert len(srv.downloads) == 1 and "Authorization" not in srv.downloads[0].headers
    assert len(srv.requests) == 1


def test_stream_cut_sends_partials_then_drops(srv):
    srv.fault = "stream_cut"
    r = generate(srv, sse=True, stream=True, partial_images=2, quality="low", size="1024x1024")
    names = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for line in r.iter_lines():
            if line.startswith(b"event: "):
                names.append(line.decode())
    assert names == ["event: image_generation.partial_image"] * 2 and srv.responses == []


def test_stream_error_event(srv):
    srv.fault = "stream_error"
    got = events(generate(srv, stream=True, partial_images=1, quality="low"))
    assert [name for name, _ in got] == ["image_generation.partial_image", "error"]
    assert got[-1][1]["error"]["code"] == "image_generation_failed"
    assert got[-1][1]["type"] == "error"


@pytest.mark.parametrize(
    "fault, request_kwargs, refused",
    [
        ("refuse_n", {"n": 2}, True),
        ("refuse_n", {"n": 1}, False),
        ("refuse_stream", {"stream": True}, True),
        ("refuse_stream", {"stream": False}, False),
    ],
    ids=["n2", "n1", "stream", "no-stream"],
)
def test_relay_refusals(srv, fault, request_kwargs, refused):
    srv.fault = fault
    r = generate(srv, quality="low", **request_kwargs)
    assert (r.status_code == 400) == refused
    if refused:
        assert error_of(r)["param"] == fault.split("_")[1]


def test_a_relay_reading_a_stream_as_json_fails_only_streamed_requests(relay):
    relay.fault = "stream_unread"
    r = generate(relay, quality="low", stream=True)
    err = error_of(r)
    assert (r.status_code, err["type"], err["code"]) == (500, "new_api_error",
                                                        "bad_response_body")
    assert err["message"].startswith("invalid character") and "(request id: " in err["message"]
    assert generate(relay, quality="low").status_code == 200


def test_one_api_refuses_edits_only(srv):
    srv.fault = "one_api_edits"
    r = edit(srv)
    assert r.status_code == 501 and r.json() == {"error": {
        "message": "API not implemented", "type": "one_api_error", "param": "",
        "code": "api_not_implemented"}}
    assert generate(srv, quality="low").status_code == 200


def test_fault_count_limits_the_fault_to_the_first_requests(srv):
    srv.fault, srv.fault_count = "server_error", 2
    assert [generate(srv, quality="low").status_code for _ in range(3)] == [500, 500, 200]
    assert [rec.fault for rec in srv.requests] == ["server_error", "server_error", None]


def test_unknown_knob_values_are_refused(srv):
    with pytest.raises(ValueError):
        srv.fault = "explode"
    with pytest.raises(ValueError):
        srv.fill = "blur"
    assert len(FAULTS) == 28


def test_reset_clears_logs_and_knobs(srv):
    srv.fault, srv.latency, srv.fill = "server_error", 0.01, "solid"
    generate(srv)
    srv.reset()
    assert (srv.requests, srv.responses, srv.fault, srv.latency, srv.fill) == (
        [], [], None, 0.0, "mask")
    assert generate(srv, quality="low").status_code == 200


def test_limits_are_module_constants(srv, monkeypatch):
    monkeypatch.setattr(validate, "MAX_IMAGE_BYTES", 100)
    err = error_of(edit(srv))
    assert (err["param"], err["code"]) == ("image", "file_too_large")


def test_module_runs_in_the_foreground():
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakeapi", "--port", "0",
                             "--dialect", "new-api"], cwd=str(ROOT), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:") and base.endswith("/v1")
        r = requests.get(base + "/models", headers=AUTH, timeout=5)
        assert r.json()["success"] is True
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.mark.parametrize("dialect", ["openai", "new-api"])
def test_every_model_the_client_offers_is_served(dialect):
    """The client's catalogue and the fake agree: a model it offers is not refused as unknown."""
    from bianxie_core.models import known_models

    with FakeServer(dialect=dialect) as server:
        for name in known_models():
            r = generate(server, model=name, size="1024x1024", quality="low")
            assert r.status_code == 200, (name, r.text[:200])
