"""Wire parity with the official SDK (``openai``, the pinned test extra).

For each call in a hand-written table the SDK runs against a capturing mock transport and our
client against the fake server; the multipart fields, filenames and part types (boundary and
order aside) and the generation JSON must be the same.

Deliberate difference: none in the bodies. The SDK writes ``"stream": false`` only when its
caller passes ``stream=False``; like it, we send ``stream`` only when the caller set it, so the
table passes ``stream=False`` to both where a row sets it.
"""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from bianxie_core.params import EditRequest, GenerateRequest, ImageFile
from tests.fakeapi import FakeServer
from tests.fakeapi.records import boundary_of, parse_multipart
from tests.test_client import KEY, make_client, mask_image, png_bytes, product

openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx2" if openai.__version__.startswith("3.") else "httpx")


def _png(size=(64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def sdk_capture(call: str, **kwargs):
    """Run the SDK's images.<call> against a mock transport; the captured request."""
    captured = []

    def handler(request):
        captured.append(request)
        body = {"created": 1, "data": [{"b64_json": base64.b64encode(_png()).decode()}]}
        return httpx.Response(200, json=body)

    sdk = openai.OpenAI(api_key=KEY, base_url="http://127.0.0.1:9/v1", max_retries=0,
                        http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    getattr(sdk.images, call)(**kwargs)
    assert len(captured) == 1
    return captured[0]


def multipart_of(content_type: str, body: bytes):
    """(sorted text fields, sorted (field, filename, type, bytes) files)."""
    fields, files = parse_multipart(body, boundary_of(content_type))
    return sorted(fields), sorted((f.field, f.filename, f.content_type, f.data) for f in files)


def _files(images, mask=None):
    return [ImageFile.from_bytes(data, stem) for stem, data in images], \
        (ImageFile.from_bytes(mask[1], mask[0]) if mask else None)


def _sdk_file(image: ImageFile):
    return (image.name, image.data, image.content_type)


PRODUCTS = [("product-%d" % i, png_bytes(product(name, (64, 64))))
            for i, name in enumerate(("astronaut.png", "coffee.png", "chelsea.png"), 1)]
JPEG = io.BytesIO()
product("rocket.jpg", (64, 64)).save(JPEG, "JPEG")
PRODUCTS.append(("rocket 火箭", JPEG.getvalue()))
MASK = ("mask", png_bytes(mask_image((64, 64))))

EDITS = [
    ("single-image", dict(images=PRODUCTS[:1]), dict(model="gpt-image-1")),
    ("four-images", dict(images=PRODUCTS), dict(
        model="gpt-image-1.5", prompt="把这四件商品放进一个礼品篮 🎁", quality="high",
        size="1024x1024", input_fidelity="high", n=2)),
    ("image-and-mask", dict(images=PRODUCTS[:1], mask=MASK), dict(
        model="gpt-image-1", background="transparent", output_format="webp",
        output_compression=80, stream=False, user="user-1")),
    ("stream", dict(images=PRODUCTS[1:2]), dict(model="gpt-image-1", stream=True,
                                                partial_images=2)),
]


def edit_case(files, fields):
    """(our EditRequest, the SDK's captured request) for a row of EDITS."""
    fields = dict(fields)
    fields.setdefault("prompt", "a lounge with a green sofa")
    images, mask = _files(files["images"], files.get("mask"))
    kwargs = dict(fields, image=[_sdk_file(i) for i in images] if len(images) > 1
                  else _sdk_file(images[0]))
    if mask is not None:
        kwargs["mask"] = _sdk_file(mask)
    if fields.get("stream"):
        kwargs["stream"] = True
    return EditRequest(images=images, mask=mask, **fields), sdk_capture("edit", **kwargs)


@pytest.mark.parametrize("files,fields", [c[1:] for c in EDITS], ids=[c[0] for c in EDITS])
def test_edit_multipart_matches_the_sdk(files, fields, tmp_path, monkeypatch):
    monkeypatch.setenv("BIANXIE_HOME", str(tmp_path))
    request, theirs = edit_case(files, fields)
    images = request.images
    with FakeServer(key=KEY) as srv:
        make_client(srv).edit(request)
        ours = srv.requests[0]

    assert multipart_of(ours.headers["Content-Type"], ours.body) == \
        multipart_of(theirs.headers["content-type"], theirs.content)
    assert ours.path == theirs.url.path
    assert not [f for f in ours.files if f.content_type == "application/octet-stream"]
    names = [f.field for f in ours.files]
    assert names.count("image[]" if len(images) > 1 else "image") == len(images)


GENERATIONS = [
    ("minimal", dict(prompt="a cute baby sea otter", model="gpt-image-1")),
    ("every-field", dict(
        prompt="一只可爱的海獭 🦦 in watercolour", model="gpt-image-1.5", n=3, size="1536x1024",
        quality="high", background="transparent", output_format="png", output_compression=100,
        moderation="low", user="user-1", stream=False)),
    ("free-size-stream", dict(prompt="a poster", model="gpt-image-2", size="2160x3840",
                              quality="low", stream=True, partial_images=3)),
]


@pytest.mark.parametrize("fields", [c[1] for c in GENERATIONS], ids=[c[0] for c in GENERATIONS])
def test_generation_json_matches_the_sdk(fields, tmp_path, monkeypatch):
    monkeypatch.setenv("BIANXIE_HOME", str(tmp_path))
    theirs = sdk_capture("generate", **fields)
    request = GenerateRequest(**fields)
    sent = []
    client = make_client("http://127.0.0.1:9/v1")
    monkeypatch.setattr(client, "_call", lambda path, body, ctype, **kw: sent.append(
        (path, body, ctype)))
    client.generate(request)
    path, body, ctype = sent[0]
    assert json.loads(body.decode("utf-8")) == json.loads(theirs.content.decode("utf-8"))
    assert ctype == theirs.headers["content-type"] == "application/json"
    assert "/v1" + path == theirs.url.path
    assert "response_format" not in json.loads(body)
