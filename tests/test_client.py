"""ImagesClient against the strict fake server: faults, the retry table, streaming, downloads.

The helpers at the top (image makers, key-leak checks) are shared by the other core test
modules, which import them from here; the fixtures are in core_fixtures.py (conftest.py).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import socket
import time
import types
from pathlib import Path
from urllib.parse import quote, quote_plus, urlsplit

import numpy as np
import pytest
import requests
from PIL import Image

from bianxie_core import client as clientmod
from bianxie_core import config as configmod
from bianxie_core import errors, network
from bianxie_core.cli import main
from bianxie_core.client import CONNECT_RETRIES, RATE_LIMIT_RETRIES, ImagesClient
from bianxie_core.history import History
from bianxie_core.params import EditRequest, GenerateRequest, ImageFile
from tests.core_fixtures import KEY
from tests.fakeapi import FakeServer

DATA = Path(__file__).resolve().parent / "data"
PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg")


# --- shared helpers -------------------------------------------------------------------------
def key_forms(key: str = KEY) -> set:
    """The key as it could leak: clear, URL-encoded, and base64 (std/urlsafe, any alignment,
    padded or not; the aligned forms also catch it inside an encoded "Bearer <key>")."""
    raw = key.encode()
    forms = {key, quote(key, safe=""), quote_plus(key)}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode()
        forms |= {whole, whole.rstrip("=")}
        for pad in (1, 2):
            shifted = encode(b"\0" * pad + raw).decode()
            forms.add(shifted[4:-4])  # the part that depends only on the key
    return forms


def assert_no_key(*texts) -> None:
    for text in texts:
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        for form in key_forms():
            assert form not in text, "the API key leaked (%r form)" % form[:12]


def assert_plain(message: str) -> None:
    """One short human sentence or two: no traceback, HTML or raw JSON."""
    text = message.strip()
    assert text
    assert "Traceback" not in text and 'File "' not in text
    assert "\n" not in text
    assert "<" not in text and ">" not in text, text
    assert "{" not in text and '"error"' not in text, text
    assert len(text) < 700, text


@pytest.fixture
def nosleep(monkeypatch):
    """Replace the client's sleeps by a recorder; returns the list of requested waits."""
    waits = []
    monkeypatch.setattr(clientmod, "time", types.SimpleNamespace(
        sleep=waits.append, monotonic=time.monotonic))
    return waits


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def product(name: str, size=(256, 256)) -> Image.Image:
    """A small square "product shot" from a test photo."""
    with Image.open(DATA / name) as im:
        rgb = im.convert("RGB")
    side = min(rgb.size)
    left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
    return rgb.crop((left, top, left + side, top + side)).resize(size)


def products(folder: Path, size=(256, 256)) -> list:
    paths = []
    for i, name in enumerate(PHOTOS):
        path = folder / ("product-%d.png" % (i + 1))
        product(name, size).save(path)
        paths.append(path)
    return paths


def mask_image(size=(256, 256), alpha=True) -> Image.Image:
    """Opaque, with a transparent (editable) centre square."""
    if not alpha:
        return Image.new("RGB", size, (0, 0, 0))
    a = np.full((size[1], size[0]), 255, np.uint8)
    a[size[1] // 4: 3 * size[1] // 4, size[0] // 4: 3 * size[0] // 4] = 0
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.putalpha(Image.fromarray(a, "L"))
    return mask


def image_file(image: Image.Image, stem="image") -> ImageFile:
    return ImageFile.from_bytes(png_bytes(image), stem)


def big_png(megabytes: int = 24) -> ImageFile:
    """A real PNG of noise too big for the socket buffers (so a reset comes before the body)."""
    from bianxie_core import png

    side = int((megabytes * 2**20 / 3) ** 0.5)
    noise = np.random.default_rng(1).integers(0, 256, (side, side, 3), np.uint8)
    return ImageFile(data=png.encode(noise), name="big.png", content_type="image/png")


def opened(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def make_client(server_or_url, **kw) -> ImagesClient:
    base = server_or_url if isinstance(server_or_url, str) else server_or_url.base_url
    return ImagesClient(base, KEY, **kw)


def gen(**kw) -> GenerateRequest:
    kw.setdefault("prompt", "a red fox in the snow")
    kw.setdefault("model", "gpt-image-1")
    kw.setdefault("quality", "low")
    kw.setdefault("output_format", "jpeg")  # the fake encodes JPEG 20x faster than PNG
    return GenerateRequest(**kw)


def edit_request(**kw) -> EditRequest:
    kw.setdefault("prompt", "put it on a wooden table")
    kw.setdefault("model", "gpt-image-1")
    kw.setdefault("quality", "low")
    kw.setdefault("images", [image_file(product("coffee.png"))])
    kw.setdefault("output_format", "jpeg")
    return EditRequest(**kw)


def run_cli(argv, capsys):
    """``main(argv)``: (exit code, stdout, stderr)."""
    out = io.StringIO()
    code = main(list(argv), out)
    captured = capsys.readouterr()
    return code, out.getvalue() + captured.out, captured.err


# --- the fault matrix -----------------------------------------------------------------------
# fault, what is sent, exception, may be billed, words the message must hold (per dialect)
FAULT_CASES = [
    ("reset_before_body", "big_edit", errors.ConnectError, False, ("connect",)),
    ("reset_after_body", "generate", errors.ConnectionLostError, True, ("lost",)),
    ("read_timeout", "generate", errors.TimeoutError, True, ("0.3 s",)),
    ("invalid_param", "generate", errors.BadRequestError, False, ("quality",)),
    ("moderation", "generate", errors.ModerationError, False, ("violence",)),
    ("unauthorized", "generate", errors.AuthenticationError, False, ("401",)),
    ("token_exhausted", "generate", errors.QuotaError, False, ("quota",)),
    ("token_expired", "generate", errors.AuthenticationError, False, ("expired",)),
    ("org_unverified", "generate", errors.PermissionDeniedError, False, ("verified",)),
    ("quota_newapi", "generate", errors.QuotaError, False, ("用户额度不足", "request id")),
    ("insufficient_quota", "generate", errors.QuotaError, False, ("quota",)),
    ("rate_limit", "generate", errors.RateLimitError, False, ("rate limit",)),
    ("server_error", "generate", errors.ServerError, True, ("500",)),
    ("bad_gateway_html", "generate", errors.ServerError, True, ("502", "Bad Gateway")),
    ("unavailable", "generate", errors.ServerError, True, ("503",)),
    ("no_channel", "generate", errors.BadRequestError, False, ("another model",)),
    ("timeout_524", "generate", errors.ServerError, True, ("524",)),
    ("one_api_edits", "edit", errors.BadRequestError, False, ("501",)),
    ("truncated_b64", "generate", errors.ResponseError, True, ("base64",)),
    ("invalid_json", "generate", errors.ResponseError, True, ("JSON",)),
    ("empty_data", "generate", errors.ResponseError, True, ("no image", "empty")),
    ("stream_cut", "stream", errors.ConnectionLostError, True, ("lost", "ended")),
    ("stream_error", "stream", errors.ServerError, True, ("failed",)),
    ("stream_unread", "stream", errors.ServerError, True, ("streaming previews",)),
]


def _one_of(words, text):
    return any(w.lower() in text.lower() for w in words)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.png"
    path.write_bytes(big_png().data)
    return path


def _argv(kind: str, tmp_path: Path, big_file: Path) -> list:
    out = ["-o", str(tmp_path / "out.jpg"), "--quiet", "-m", "gpt-image-1", "-q", "low",
           "--output-format", "jpeg", "-p", "a lighthouse at dusk"]
    if kind in ("generate", "stream"):
        return ["generate"] + out + (["--stream", "--partial-images", "1"] if kind == "stream"
                                     else [])
    if kind == "big_edit":
        return ["edit", "--image", str(big_file)] + out
    path = tmp_path / "in.png"
    product("coffee.png").save(path)
    return ["edit", "--image", str(path)] + out


@pytest.mark.parametrize("fault,kind,exc_type,billed,words", FAULT_CASES,
                         ids=[c[0] for c in FAULT_CASES])
def test_fault_matrix(fault, kind, exc_type, billed, words, srv, tmp_path, big_file, capsys,
                      nosleep):
    srv.fault = fault
    if fault == "read_timeout":
        configmod.update(timeout=1)
        srv.latency = 4
    if fault == "timeout_524":
        srv.latency = 0.2
    argv = _argv(kind, tmp_path, big_file)

    start = time.monotonic()
    code, out, err = run_cli(argv, capsys)
    elapsed = time.monotonic() - start
    assert code == 1
    assert not out.strip()
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert_plain(err)
    assert_no_key(out, err)
    if fault == "read_timeout":
        assert elapsed < 5

    if fault == "read_timeout":
        configmod.update(timeout=0.3)
    if fault == "stream_unread":  # the first run turned streaming off for this server
        assert "no_stream" in configmod.quirks(configmod.load(), srv.base_url)
        configmod.save(dataclasses.replace(configmod.load(env={}), relay_quirks={}))
    with pytest.raises(errors.BianxieError) as info:
        main(["--traceback"] + argv, io.StringIO())
    exc = info.value
    assert type(exc) is exc_type
    assert exc.exit_code == 1 and exc.may_be_billed is billed
    assert _one_of(words, str(exc)), str(exc)
    assert ("charged" in str(exc)) is billed
    assert_plain(str(exc))
    assert_no_key(str(exc), repr(exc), repr(exc.args))
    if isinstance(exc, errors.APIError) and srv.dialect == "new-api":
        assert exc.request_id and exc.request_id in str(exc)
    entries = History(tmp_path / "home" / "history").entries()
    if fault == "truncated_b64":  # one per run, kept as received
        assert [e.meta.get("broken") for e in entries] == ["base64", "base64"]
    else:
        assert entries == []


def test_every_fault_is_in_the_matrix():
    from tests.fakeapi import FAULTS

    recovered = {"url", "wrong_size", "refuse_n", "refuse_stream"}  # see test_service.py
    assert set(FAULTS) == {c[0] for c in FAULT_CASES} | recovered


# --- the retry table (client.py's docstring, row by row) ------------------------------------
def count_sends(monkeypatch) -> list:
    """Every request the client hands to requests (also those that never reach a server)."""
    sent = []
    real = requests.Session.request

    def request(self, method, url, *a, **kw):
        sent.append(url)
        return real(self, method, url, *a, **kw)

    monkeypatch.setattr(requests.Session, "request", request)
    return sent


def test_connection_refused_is_retried_then_fails(home, nosleep, monkeypatch, capsys):
    url = "http://127.0.0.1:%d/v1" % free_port()
    sent = count_sends(monkeypatch)
    with pytest.raises(errors.ConnectError) as info:
        make_client(url, connect_timeout=2).generate(gen())
    assert len(sent) == 1 + CONNECT_RETRIES
    assert len(nosleep) == CONNECT_RETRIES
    assert info.value.may_be_billed is False and "charged" not in str(info.value)
    sent.clear()
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(home / "o.png"), "--quiet",
                              "--base-url", url], capsys)
    assert code == 1 and len(sent) == 1 + CONNECT_RETRIES
    assert_plain(err)


def test_reset_before_body_is_retried_like_a_refused_connection(home, nosleep):
    with FakeServer(key=KEY) as server:
        server.fault = "reset_before_body"
        server.fault_count = 1
        result = make_client(server).edit(edit_request(images=[big_png()]))
        assert len(server.requests) == 2 and server.requests[1].fault is None
    assert nosleep == [0.5]
    assert len(result.images) == 1


@pytest.mark.parametrize("dialect,wait", [("openai", 1.0), ("new-api", 2.0)],
                         ids=["retry-after-header", "no-header-backoff"])
def test_rate_limit_is_retried_after_waiting(dialect, wait, home, nosleep):
    with FakeServer(dialect=dialect, key=KEY) as server:
        server.fault, server.fault_count = "rate_limit", 1
        result = make_client(server).generate(gen())
        assert len(server.requests) == 2
    assert nosleep == [wait]
    assert len(result.images) == 1


def test_rate_limit_gives_up_after_its_retries(srv, nosleep):
    srv.fault = "rate_limit"
    with pytest.raises(errors.RateLimitError):
        make_client(srv).generate(gen())
    assert len(srv.requests) == 1 + RATE_LIMIT_RETRIES
    assert len(nosleep) == RATE_LIMIT_RETRIES


def test_a_long_retry_after_is_not_waited_for(home, nosleep):
    """A daily limit (Retry-After: 3600) would stall every retry; it ends at once, saying when."""
    with FakeServer(key=KEY) as server:
        server.fault, server.retry_after = "rate_limit", "3600"
        with pytest.raises(errors.RateLimitError) as info:
            make_client(server).generate(gen())
        assert len(server.requests) == 1
    assert nosleep == [] and "60 minutes" in str(info.value)
    assert_plain(str(info.value))


def test_a_retry_after_up_to_the_cap_is_waited_for(home, nosleep):
    with FakeServer(key=KEY) as server:
        server.fault, server.fault_count, server.retry_after = "rate_limit", 1, "45"
        make_client(server).generate(gen())
        assert len(server.requests) == 2
    assert nosleep == [45.0]


NEVER_RETRIED = ["insufficient_quota", "quota_newapi", "invalid_param", "moderation",
                 "unauthorized", "org_unverified", "one_api_edits", "truncated_b64",
                 "invalid_json", "empty_data"]


@pytest.mark.parametrize("fault", NEVER_RETRIED)
def test_never_retried_even_with_retries(fault, srv, nosleep):
    srv.fault = fault
    request = edit_request() if fault == "one_api_edits" else gen()
    call = make_client(srv, retries=3).edit if fault == "one_api_edits" \
        else make_client(srv, retries=3).generate
    with pytest.raises(errors.BianxieError):
        call(request)
    assert len(srv.requests) == 1
    assert nosleep == []


MAYBE_BILLED = ["server_error", "bad_gateway_html", "unavailable", "timeout_524",
                "reset_after_body", "read_timeout", "stream_cut", "stream_error"]


@pytest.mark.parametrize("retries", [0, 2], ids=["default", "retries=2"])
@pytest.mark.parametrize("fault", MAYBE_BILLED)
def test_maybe_billed_only_with_retries(fault, retries, home, nosleep):
    with FakeServer(key=KEY) as server:
        server.fault = fault
        server.latency = 0.3 if fault == "read_timeout" else 0.05 if fault == "timeout_524" \
            else 0.0
        stream = fault.startswith("stream")
        request = gen(stream=True, partial_images=1) if stream else gen()
        with pytest.raises(errors.BianxieError) as info:
            make_client(server, retries=retries, timeout=0.2 if fault == "read_timeout"
                        else 30).generate(request)
        assert info.value.may_be_billed
        assert len(server.requests) == 1 + retries


def test_cli_retries_flag(srv, capsys, tmp_path):
    srv.fault = "server_error"
    code, _, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png"), "--quiet",
                            "--retries", "2"], capsys)
    assert code == 1 and len(srv.requests) == 3
    srv.reset()
    srv.fault, srv.fault_count = "server_error", 1
    code, out, _ = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png"), "--quiet",
                            "--retries", "1"], capsys)
    assert code == 0 and len(srv.requests) == 2 and (tmp_path / "o.png").is_file()


# --- streaming ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["generate", "edit"])
def test_stream_partials_in_order_then_final(kind, srv):
    partials = []
    saved = []
    request = (gen if kind == "generate" else edit_request)(stream=True, partial_images=3)
    call = make_client(srv).generate if kind == "generate" else make_client(srv).edit
    result = call(request, on_partial=lambda i, data: partials.append((i, data)),
                  on_image=lambda i, data, info: saved.append((data, info)))
    assert [i for i, _ in partials] == [0, 1, 2]
    assert [d for _, d in partials] == srv.partials
    assert result.streamed and len(result.images) == 1
    assert result.images[0].data == srv.responses[0] == saved[0][0]
    assert result.usage and result.usage["output_tokens"] == 272
    assert saved[0][1]["usage"] == result.usage
    assert opened(result.images[0].data).size == (1024, 1024)


def test_stream_that_trickles_ends_at_the_deadline(home):
    with FakeServer(key=KEY) as server:
        server.partial_delay = 0.8  # each gap is shorter than the read timeout
        request = gen(stream=True, partial_images=3)
        start = time.monotonic()
        with pytest.raises(errors.TimeoutError) as info:
            make_client(server, timeout=0.9).generate(request, on_partial=lambda i, d: None)
        elapsed = time.monotonic() - start
    assert elapsed < 1.5  # the third partial (at 1.6 s) never came: the deadline cut it
    assert info.value.may_be_billed


def test_stream_read_timeout_ends_quickly(home):
    with FakeServer(key=KEY) as server:
        server.hold_final = __import__("threading").Event()  # never set: the final never comes
        start = time.monotonic()
        with pytest.raises(errors.TimeoutError):
            make_client(server, timeout=0.5).generate(gen(stream=True, partial_images=1))
        assert time.monotonic() - start < 5


# --- url answers ----------------------------------------------------------------------------
def test_url_on_another_host_is_fetched_without_the_key(srv):
    srv.fault = "url"
    saved = []
    result = make_client(srv).generate(gen(n=2), on_image=lambda i, d, info: saved.append(d))
    assert len(srv.downloads) == 2
    for rec in srv.downloads:
        assert "Authorization" not in rec.headers
        assert_no_key(str(dict(rec.headers)))
        assert rec.headers["Host"].startswith("localhost")
    assert [im.data for im in result.images] == srv.responses == saved
    assert all(urlsplit(im.url).hostname == "localhost" for im in result.images)


def test_url_on_the_api_origin_is_fetched_with_the_key(home):
    with FakeServer(key=KEY) as server:
        server.fault = "url"
        client = make_client(server.alt_host_url + "/v1")  # the API itself is on "localhost"
        result = client.generate(gen())
        assert server.downloads[0].headers["Authorization"] == "Bearer " + KEY
        assert result.images[0].data == server.responses[0]


def test_url_download_failure_is_plain(srv, monkeypatch):
    from tests.fakeapi import server as servermod

    srv.fault = "url"
    monkeypatch.setattr(servermod._Handler, "_serve_file",
                        lambda self, name: self._send(404, b"gone", "text/plain"))
    with pytest.raises(errors.ResponseError) as info:
        make_client(srv).generate(gen())
    assert "404" in str(info.value)
    assert_plain(str(info.value))


# --- small pieces ---------------------------------------------------------------------------
def test_repr_and_scrub_never_show_the_key():
    client = make_client("http://127.0.0.1:9/v1")
    assert_no_key(repr(client))
    text = "echo %s %s %s" % (KEY, quote(KEY, safe=""), base64.b64encode(KEY.encode()).decode())
    assert_no_key(client._scrub(text))


@pytest.mark.parametrize("body,expected", [
    (b"<html><head><title>502 Bad Gateway</title></head></html>", "Bad Gateway"),
    (b"", "HTTP 500"),
    (b'{"error": {"message": "boom (request id: 2025ABC)", "type": "new_api_error"}}', "boom"),
], ids=["html", "empty", "relay"])
def test_error_from_response_is_one_plain_line(body, expected):
    status = 502 if b"502" in body else 500
    exc = clientmod.error_from_response(status, {}, body)
    assert isinstance(exc, errors.ServerError)
    assert expected in str(exc)
    assert_plain(str(exc))
    if b"2025ABC" in body:
        assert exc.request_id == "2025ABC"


def test_not_found_is_never_retried(srv, nosleep):
    client = make_client(srv.root_url + "/v2", retries=3)  # a base URL without the API
    with pytest.raises(errors.BadRequestError) as info:
        client.generate(gen())
    assert len(srv.requests) == 1 and srv.requests[0].path == "/v2/images/generations"
    assert "404" in str(info.value) and nosleep == []


def test_retry_limits_are_those_of_the_table():
    doc = clientmod.__doc__
    assert "up to %d times" % CONNECT_RETRIES in doc and CONNECT_RETRIES == 2
    assert "up to %d times" % RATE_LIMIT_RETRIES in doc and RATE_LIMIT_RETRIES == 3
    assert "at most %d s" % clientmod.RETRY_AFTER_CAP in doc


def test_list_models_returns_the_servers_ids(srv):
    names = ImagesClient(srv.base_url, KEY).list_models()
    assert "gpt-image-1" in names and names == sorted(names)


def test_list_models_with_a_bad_key_is_an_error_not_an_empty_list(srv):
    with pytest.raises(errors.AuthenticationError) as info:
        ImagesClient(srv.base_url, KEY + "-wrong").list_models()
    assert KEY not in str(info.value)


def test_https_to_a_plain_http_port_says_so_in_words(srv, nosleep):
    with pytest.raises(errors.ConnectError) as info:
        make_client("https://127.0.0.1:%d/v1" % srv.port).generate(gen())
    text = str(info.value)
    assert "HTTPS" in text and "127.0.0.1" in text
    assert "Max retries" not in text and "HTTPSConnectionPool" not in text, text
    assert_plain(text)


def test_an_unreachable_proxy_is_named_without_its_password(home, nosleep):
    proxy = "http://bob:hunter2@127.0.0.1:%d" % free_port()
    with pytest.raises(errors.ConnectError) as info:
        make_client("https://relay.example/v1", proxy=proxy).generate(gen())
    text = str(info.value)
    assert "proxy 127.0.0.1:" in text and "hunter2" not in text and "bob" not in text
    assert_plain(text)


@pytest.mark.parametrize("proxy", ["http://bob:hunter2@[::1", "socks5://bob:hunter2@127.0.0.1:1"])
def test_a_broken_proxy_setting_is_one_sentence_without_its_password(proxy, home, nosleep):
    with pytest.raises(errors.ConnectError) as info:
        make_client("https://relay.example/v1", proxy=proxy).generate(gen())
    text = str(info.value)
    assert "proxy" in text and "hunter2" not in text and "bob" not in text, text
    assert_plain(text)


def test_a_proxy_password_from_the_environment_is_never_shown(home, nosleep, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://bob:hunter2@127.0.0.1:%d" % free_port())
    with pytest.raises(errors.ConnectError) as info:
        make_client("https://relay.example/v1").generate(gen())
    assert "hunter2" not in str(info.value) and "127.0.0.1" in str(info.value)


def test_a_proxy_from_all_proxy_is_named(home, nosleep, monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALL_PROXY", "http://bob:hunter2@127.0.0.1:%d" % free_port())
    with pytest.raises(errors.ConnectError) as info:
        make_client("https://relay.example/v1").generate(gen())
    assert "proxy 127.0.0.1:" in str(info.value) and "hunter2" not in str(info.value)


@pytest.mark.parametrize("value", ["inf", "nan", "-5", "soon"])
def test_an_odd_retry_after_is_no_traceback(value, home, nosleep):
    with FakeServer(key=KEY) as server:
        server.fault, server.fault_count, server.retry_after = "rate_limit", 1, value
        make_client(server).generate(gen())
        assert len(server.requests) == 2
    assert all(0 <= wait <= clientmod.RETRY_AFTER_CAP for wait in nosleep)


def test_a_host_name_mismatch_is_said_as_such():
    text = ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, "
            "certificate is not valid for 'relay.example'. (_ssl.c:1006)")
    assert network.tls_reason(text) == "its certificate is for another host name"
