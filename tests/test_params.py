"""Validation before sending: every bad input is refused with nothing on the wire."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bianxie_core import config as configmod
from bianxie_core import errors
from bianxie_core.models import get_model
from bianxie_core.params import EditRequest, GenerateRequest, ImageFile, png_header, sniff_format
from bianxie_core.service import Service
from tests.test_client import (  # noqa: F401
    KEY, assert_plain, edit_request, gen, image_file, mask_image, product, run_cli,
)

ROOT = Path(__file__).resolve().parent.parent


def _mask(**kw):
    return lambda: edit_request(images=[image_file(product("coffee.png"))],
                                mask=image_file(mask_image(**kw)))


BAD = [
    ("empty-prompt", lambda: gen(prompt="  "), "prompt"),
    ("prompt-32001", lambda: gen(prompt="x" * 32001), "32000"),
    ("n-0", lambda: gen(n=0), "n must"),
    ("n-11", lambda: gen(n=11), "n must"),
    ("n-bool", lambda: gen(n=True), "n must"),
    ("size-1.5", lambda: gen(model="gpt-image-1.5", size="2160x3840"), "size 2160x3840"),
    ("size-2-not-16", lambda: gen(model="gpt-image-2", size="1000x1000"), "16"),
    ("size-2-aspect", lambda: gen(model="gpt-image-2", size="3840x1024"), "aspect"),
    ("size-2-pixels", lambda: gen(model="gpt-image-2", size="3840x3840"), "3840x2160"),
    ("size-garbage", lambda: gen(model="gpt-image-2", size="big"), "WIDTHxHEIGHT"),
    ("size-too-few-pixels", lambda: gen(model="gpt-image-2", size="1024x624"), "655,360"),
    ("quality", lambda: gen(quality="ultra"), "quality"),
    ("background", lambda: gen(background="clear"), "background"),
    ("format", lambda: gen(output_format="gif"), "output_format"),
    ("compression", lambda: gen(output_compression=101), "output_compression"),
    ("moderation", lambda: gen(moderation="none"), "moderation"),
    ("partial-images-4", lambda: gen(stream=True, partial_images=4), "partial_images"),
    ("partials-without-stream", lambda: gen(partial_images=2), "stream"),
    ("transparent-jpeg", lambda: gen(background="transparent", output_format="jpeg"), "jpeg"),
    ("fidelity-mini", lambda: edit_request(model="gpt-image-1-mini", input_fidelity="high"),
     "input_fidelity"),
    ("fidelity-value", lambda: edit_request(input_fidelity="max"), "input_fidelity"),
    ("no-images", lambda: edit_request(images=[]), "at least one"),
    ("17-images", lambda: edit_request(images=[image_file(product("coffee.png", (32, 32)))] * 17),
     "16"),
    ("mask-no-alpha", _mask(alpha=False), "alpha"),
    ("mask-other-size", _mask(size=(128, 128)), "same size"),
    ("mask-jpeg", lambda: edit_request(mask=ImageFile(
        data=b"\xff\xd8\xff" + b"0" * 64, name="m.jpg", content_type="image/jpeg")), "PNG"),
    ("not-an-image", lambda: edit_request(images=[ImageFile(
        data=b"GIF89a" + b"0" * 64, name="a.gif", content_type="image/gif")]), "PNG, JPEG"),
    ("image-50mb", lambda: edit_request(images=[ImageFile(
        data=b"\x89PNG\r\n\x1a\n" + bytes(50 * 2**20), name="a.png", content_type="image/png")]),
     "50 MB"),
]


@pytest.mark.parametrize("make,words", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_refused_before_sending(make, words, srv1):
    request = make()
    service = Service()
    run = service.edit if isinstance(request, EditRequest) else service.generate
    with pytest.raises(errors.UsageError) as info:
        run(request)
    assert srv1.requests == []
    assert words.lower() in str(info.value).lower()
    assert info.value.exit_code == 2 and not info.value.may_be_billed
    assert_plain(str(info.value))


GOOD = [
    ("free-size-portrait", lambda: gen(model="gpt-image-2", size="2160x3840"), (2160, 3840)),
    ("free-size-small", lambda: gen(model="gpt-image-2", size="1280x512"), (1280, 512)),
    ("unknown-model-free", lambda: gen(model="gpt-image-2-2026-04-21", size="1280x720"),
     (1280, 720)),
    ("prompt-32000", lambda: gen(prompt="x" * 32000), (1024, 1024)),
    ("n-10", lambda: gen(n=10, size="1024x1024"), (1024, 1024)),
]


@pytest.mark.parametrize("make,size", [c[1:] for c in GOOD], ids=[c[0] for c in GOOD])
def test_accepted_edges(make, size, srv1):
    outcome = Service().generate(make())
    with Image.open(io.BytesIO(outcome.images[0].data)) as im:
        assert im.size == size
    assert len(srv1.requests) == 1


def test_unwritable_history_refuses_before_paying(srv1, home):
    home.mkdir(parents=True, exist_ok=True)
    (home / "history").write_text("not a folder")
    with pytest.raises(errors.ConfigError) as info:
        Service().generate(gen())
    assert srv1.requests == []
    assert "history" in str(info.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_history_refuses_before_paying(srv1, home):
    (home / "history").mkdir(parents=True)
    os.chmod(home / "history", 0o500)
    try:
        with pytest.raises(errors.ConfigError):
            Service().generate(gen())
    finally:
        os.chmod(home / "history", 0o700)
    assert srv1.requests == []


def test_missing_key_says_how_to_set_it(srv1, monkeypatch):
    monkeypatch.delenv("BIANXIE_API_KEY")
    with pytest.raises(errors.ConfigError) as info:
        Service().generate(gen())
    assert "BIANXIE_API_KEY" in str(info.value) and "config set" in str(info.value)
    assert srv1.requests == []


@pytest.mark.parametrize("given,expected", [
    ("http://127.0.0.1:{port}", "http://127.0.0.1:{port}/v1"),
    ("http://127.0.0.1:{port}/", "http://127.0.0.1:{port}/v1"),
    ("http://127.0.0.1:{port}/v1/", "http://127.0.0.1:{port}/v1"),
], ids=["no-v1", "slash", "v1-slash"])
def test_base_url_normalised(given, expected, srv1, monkeypatch):
    monkeypatch.setenv("BIANXIE_BASE_URL", given.format(port=srv1.port))
    service = Service()
    assert service.base_url == expected.format(port=srv1.port)
    service.generate(gen())
    assert srv1.requests[0].path == "/v1/images/generations"


@pytest.mark.parametrize("url,words", [
    ("http://relay.example/v1", "https://relay.example/v1"),
    ("https://relay.example/v1/images/generations", "https://relay.example/v1"),
    ("ftp://relay.example", "http"),
    ("http://127.0.0.1:99999/v1", "port"),
    ("https://bob:hunter2@relay.example/v1", "https://relay.example/v1"),
], ids=["remote-http", "endpoint", "scheme", "port", "password"])
def test_bad_base_urls_refused(url, words, home, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("BIANXIE_BASE_URL", url)
    with pytest.raises(errors.UsageError) as info:
        Service()
    assert words in str(info.value) and "hunter2" not in str(info.value)
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png")], capsys)
    assert code == 2 and words in err and "hunter2" not in err


def test_remote_http_allowed_explicitly(home, monkeypatch):
    configmod.update(allow_http=True)
    monkeypatch.setenv("BIANXIE_BASE_URL", "http://relay.example/v1")
    assert Service().base_url == "http://relay.example/v1"


@pytest.mark.parametrize("data,fmt", [
    (b"\x89PNG\r\n\x1a\n....", "png"), (b"\xff\xd8\xff\xe0", "jpeg"),
    (b"RIFF\0\0\0\0WEBPVP8 ", "webp"), (b"GIF89a", None), (b"", None),
], ids=["png", "jpeg", "webp", "gif", "empty"])
def test_sniff_format(data, fmt):
    assert sniff_format(data) == fmt


def test_image_file_from_path_names_and_types(tmp_path):
    product("rocket.jpg").save(tmp_path / "火箭.jpeg", "JPEG")
    image = ImageFile.from_path(tmp_path / "火箭.jpeg")
    assert (image.name, image.content_type) == ("火箭.jpg", "image/jpeg")
    (tmp_path / "a.txt").write_text("hello")
    with pytest.raises(errors.UsageError):
        ImageFile.from_path(tmp_path / "a.txt")
    with pytest.raises(errors.UsageError):
        ImageFile.from_path(tmp_path / "missing.png")


def test_fields_only_what_was_set():
    assert GenerateRequest(prompt="x", model="gpt-image-1").fields() == {
        "prompt": "x", "model": "gpt-image-1"}
    fields = EditRequest(prompt="x", images=[], input_fidelity="low", stream=False).fields()
    assert fields == {"prompt": "x", "model": "gpt-image-1.5", "stream": False,
                      "input_fidelity": "low"}
    assert "response_format" not in fields


def _png(mode, size=(7, 5), **save):
    out = io.BytesIO()
    Image.new(mode, size).save(out, "PNG", **save)
    return out.getvalue()


@pytest.mark.parametrize("data", [
    _png("RGBA"), _png("RGB"), _png("L"), _png("LA"), _png("1"), _png("I;16"), _png("P"),
    _png("P", transparency=0), _png("RGB", transparency=(0, 0, 0)), _png("L", transparency=3),
    _png("RGBA", (1, 3000)), _png("RGB", (4000, 1)),
], ids=["RGBA", "RGB", "L", "LA", "1", "I16", "P", "P+tRNS", "RGB+tRNS", "L+tRNS", "tall",
        "wide"])
def test_png_size_and_alpha_are_read_as_pillow_reads_them(data):
    with Image.open(io.BytesIO(data)) as im:
        pillow = im.size + (im.mode in ("RGBA", "LA"), "transparency" in im.info)
    assert png_header(data) == pillow
    image = ImageFile(data=data, name="a.png", content_type="image/png")
    assert image.dimensions() + (image.has_alpha(), image.has_colour_key()) == pillow


def _edit_with_mask(mask_data):
    image = ImageFile(data=_png("RGB", (64, 48)), name="i.png", content_type="image/png")
    mask = ImageFile(data=mask_data, name="m.png", content_type="image/png")
    return EditRequest(prompt="x", model="gpt-image-1.5", images=[image], mask=mask)


@pytest.mark.parametrize("mode, key", [("P", 0), ("RGB", (0, 0, 0))], ids=["palette", "rgb"])
def test_a_mask_keyed_instead_of_alpha_is_refused_before_sending(mode, key):
    """The API wants an alpha channel; a palette or colour-key transparency is refused there."""
    with pytest.raises(errors.UsageError, match="RGBA") as info:
        _edit_with_mask(_png(mode, (64, 48), transparency=key)).validate(
            get_model("gpt-image-1.5"))
    assert info.value.exit_code == 2


def test_a_mask_that_is_not_really_an_image_is_one_plain_sentence():
    with pytest.raises(errors.UsageError, match="cannot be read as an image") as info:
        _edit_with_mask(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10).validate(
            get_model("gpt-image-1.5"))
    assert_plain(str(info.value)) and "BytesIO" not in str(info.value)


@pytest.mark.parametrize("fmt", [None, "png"])
def test_compression_with_png_output_is_refused_before_sending(fmt):
    request = GenerateRequest(prompt="x", model="gpt-image-1.5", output_format=fmt,
                              output_compression=50)
    with pytest.raises(errors.UsageError, match="jpeg or webp"):
        request.validate(get_model("gpt-image-1.5"))
    GenerateRequest(prompt="x", model="gpt-image-1.5", output_format="webp",
                    output_compression=50).validate(get_model("gpt-image-1.5"))


@pytest.mark.parametrize("data", [
    b"", b"\x89PNG\r\n\x1a\n", _png("RGB")[:40], _png("RGB").replace(b"IHDR", b"IHDX"),
    _png("RGB").replace(b"IDAT", b"IDAX"), b"\xff\xd8\xff\xe0" + b"\0" * 40,
], ids=["empty", "signature", "cut", "no IHDR", "no IDAT", "jpeg"])
def test_anything_but_a_whole_png_header_is_left_to_pillow(data):
    assert png_header(data) is None


def test_an_upload_is_checked_without_loading_pillow():
    """The request worker checks every upload again before sending; PNG uploads must not
    cost it Pillow's import."""
    code = (
        "import sys\n"
        "from bianxie_core.params import EditRequest, ImageFile\n"
        f"image = ImageFile(data={_png('RGB', (64, 48))!r}, name='i.png', "
        "content_type='image/png')\n"
        f"mask = ImageFile(data={_png('RGBA', (64, 48))!r}, name='m.png', "
        "content_type='image/png')\n"
        "from bianxie_core.models import get_model\n"
        "EditRequest(prompt='x', model='gpt-image-1', images=[image], mask=mask)"
        ".validate(get_model('gpt-image-1'))\n"
        "print('PIL' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("size", ["1280X512", " 1280x512", "1_280x512", "1280x512 ", "0x512",
                                  "1280×512"])
def test_a_size_is_checked_as_it_will_be_sent(size):
    """The text goes to the server as it is, so nothing but WIDTHxHEIGHT passes."""
    with pytest.raises(errors.UsageError, match="WIDTHxHEIGHT"):
        gen(model="gpt-image-2", size=size).validate(get_model("gpt-image-2"))


def test_the_cli_writes_a_size_as_the_api_takes_it(srv1, tmp_path, capsys):
    code, out, err = run_cli(["generate", "-p", "x", "-m", "gpt-image-2", "-s", " 1280X512",
                              "-o", str(tmp_path / "o.png"), "--quiet"], capsys)
    assert code == 0 and srv1.requests[0].json["size"] == "1280x512"


def test_the_dialogs_extra_qualities_are_refused_for_a_model_without_them():
    """The plug-in's quality drop-down offers gpt-image-2.5's xhigh and max to every model;
    one that does not take them is told so before anything is sent."""
    from bianxie_core import models, params

    for quality in params.ABOVE_HIGH:
        with pytest.raises(errors.UsageError) as exc:
            params.GenerateRequest(prompt="x", model="gpt-image-1.5", quality=quality).validate(
                models.get_model("gpt-image-1.5"))
        assert "quality" in str(exc.value)
        params.GenerateRequest(prompt="x", model="gpt-image-2.5", quality=quality).validate(
            models.get_model("gpt-image-2.5"))
