"""ImagesClient against HTTP the fake cannot produce: raw bytes from tests/rawhttp.py.

Trailing bytes after gzip, stacked codings, cut compressed answers, a BOM or UTF-16, huge
integers, ``data`` as one object, 1xx interim answers, CR-only and unterminated streams, a Go
relay's ``"error": null``, Retry-After as a date, early 413 during an upload, a server that
stops reading the upload, odd ``url`` answers, and the key in a Content-Type.
"""

from __future__ import annotations

import base64
import io
import json
import time
import zlib
from email.utils import formatdate

import pytest
from PIL import Image

from bianxie_core import client as client_module
from bianxie_core import errors
from bianxie_core.client import ImagesClient
from bianxie_core.params import EditRequest, GenerateRequest, ImageFile
from tests.fakeapi import FakeServer
from tests.fakeapi.hostile import INTERIM
from tests.rawhttp import RawServer, answer_json, gz, response

KEY = "sk-CANARY-redteam-0a1b2c3d4e5f60718293a4b5"
JSON = [("Content-Type", "application/json")]
SSE = [("Content-Type", "text/event-stream"), ("Connection", "close")]


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "PNG")
    return buf.getvalue()


PNG = _png()
B64 = base64.b64encode(PNG).decode()
BODY = answer_json(PNG)


def gen(stream=False) -> GenerateRequest:
    return GenerateRequest(prompt="a fox", model="gpt-image-1", quality="low",
                           size="1024x1024", stream=True if stream else None)


def send(data: bytes, chunk: int = 0):
    """A handler that reads the request, then writes ``data`` (``chunk`` bytes at a time)."""
    def handler(conn, request):
        request.read_body()
        if not chunk:
            conn.sendall(data)
            return
        for i in range(0, len(data), chunk):
            conn.sendall(data[i:i + chunk])
            time.sleep(0.0005)
    return handler


def call(handler, stream=False, timeout=10.0, **kw):
    """(result or exception, requests the server saw)."""
    with RawServer(handler) as server:
        c = ImagesClient(server.base_url, KEY, timeout=timeout, **kw)
        try:
            outcome = c.generate(gen(stream))
        except errors.BianxieError as exc:
            outcome = exc
        return outcome, server.requests


def delivered(outcome) -> None:
    assert not isinstance(outcome, BaseException), outcome
    assert [image.data for image in outcome.images] == [PNG]


# --- compression -----------------------------------------------------------------------------

@pytest.mark.parametrize("tail", [b"\0" * 8, b"<!-- padding -->\n"], ids=["zeros", "junk"])
def test_bytes_after_a_whole_gzip_answer_are_ignored(tail):
    outcome, _ = call(send(response("200 OK", gz(BODY) + tail,
                                    JSON + [("Content-Encoding", "gzip")])))
    delivered(outcome)


@pytest.mark.parametrize("header,encode", [
    ("gzip, gzip", lambda b: gz(gz(b))),
    ("deflate, gzip", lambda b: gz(zlib.compress(b))),
    ("identity, gzip", gz),
])
def test_stacked_content_encodings_are_undone_in_order(header, encode):
    outcome, _ = call(send(response("200 OK", encode(BODY),
                                    JSON + [("Content-Encoding", header)])))
    delivered(outcome)


@pytest.mark.parametrize("packed", [zlib.compress(BODY), zlib.compress(BODY)[2:-4]],
                         ids=["zlib", "raw"])
def test_a_deflate_answer_sent_byte_by_byte_is_decoded(packed):
    head = response("200 OK", b"", JSON + [("Content-Encoding", "deflate"),
                                           ("Connection", "close")], length=False)

    def handler(conn, request):
        request.read_body()
        conn.sendall(head)
        for i in range(len(packed)):
            conn.sendall(packed[i:i + 1])
            time.sleep(0.0005)
    outcome, _ = call(handler)
    delivered(outcome)


def test_a_cut_gzip_answer_says_it_was_cut_not_that_it_is_a_web_page():
    outcome, requests = call(send(response("200 OK", gz(BODY)[:-60],
                                           JSON + [("Content-Encoding", "gzip")])))
    assert isinstance(outcome, errors.ResponseError) and outcome.may_be_billed
    assert "cut off" in outcome.message and "web page" not in outcome.message
    assert requests == 1


def test_an_unasked_coding_is_named_and_may_be_billed():
    outcome, requests = call(send(response("200 OK", b"\x1b\x00\x00",
                                           JSON + [("Content-Encoding", "br")])))
    assert isinstance(outcome, errors.ResponseError) and outcome.may_be_billed
    assert "br" in outcome.message and requests == 1


# --- JSON -------------------------------------------------------------------------------------

@pytest.mark.parametrize("encode", [
    lambda b: b"\xef\xbb\xbf" + b,
    lambda b: b.decode().encode("utf-16"),
    lambda b: b.decode().encode("utf-16-le"),
], ids=["utf8-bom", "utf16-bom", "utf16le"])
def test_json_after_a_bom_or_in_utf16_is_read(encode):
    outcome, _ = call(send(response("200 OK", encode(BODY), JSON)))
    delivered(outcome)


def test_a_huge_integer_in_a_field_nobody_reads_does_not_cost_the_answer():
    body = BODY[:-1] + b', "created_ns": ' + b"9" * 5000 + b"}"
    outcome, _ = call(send(response("200 OK", body, JSON)))
    delivered(outcome)


def test_data_as_one_object_is_the_one_image():
    body = json.dumps({"created": 1, "data": {"b64_json": B64}}).encode()
    outcome, _ = call(send(response("200 OK", body, JSON)))
    delivered(outcome)


@pytest.mark.parametrize("err", [None, {"message": "", "type": "", "param": "", "code": None}],
                         ids=["null", "empty"])
def test_a_go_relays_empty_error_beside_an_image_is_no_error(err):
    body = json.dumps({"created": 1, "data": [{"b64_json": B64, "error": err}],
                       "error": err}).encode()
    outcome, _ = call(send(response("200 OK", body, JSON)))
    delivered(outcome)


def test_a_data_url_in_url_is_the_image_itself():
    body = json.dumps({"data": [{"url": "data:image/png;base64," + B64}]}).encode()
    outcome, _ = call(send(response("200 OK", body, JSON)))
    delivered(outcome)


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/a.png", "http://127.0.0.1:abc/a.png",
                                 "http://127.0.0.1:0/a.png"])
def test_a_url_with_an_impossible_port_is_a_broken_item_not_a_crash(url):
    body = json.dumps({"data": [{"url": url}, {"b64_json": B64}]}).encode()
    with RawServer(send(response("200 OK", body, JSON))) as server:
        result = ImagesClient(server.base_url, KEY, timeout=10).generate(
            GenerateRequest(prompt="a fox", model="gpt-image-1", n=2))
    assert [image.data for image in result.images] == [PNG]
    assert len(result.failures) == 1 and "cannot be downloaded" in result.failures[0]


# --- interim answers, odd statuses ------------------------------------------------------------

@pytest.mark.parametrize("interim", [
    b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
    b"HTTP/1.1 102 Processing\r\n\r\n" * 3,
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n",
], ids=["103", "102x3", "100-102"])
def test_interim_1xx_answers_before_the_answer_are_skipped(interim):
    outcome, requests = call(send(interim + response("200 OK", BODY, JSON)))
    delivered(outcome)
    assert requests == 1


def test_a_304_is_not_called_a_moved_base_url():
    outcome, _ = call(send(response("304 Not Modified", b"", JSON)))
    assert isinstance(outcome, errors.BianxieError)
    assert "moved" not in outcome.message and outcome.may_be_billed


# --- streams ----------------------------------------------------------------------------------

def event(obj, eol=b"\n") -> bytes:
    return b"data: " + json.dumps(obj).encode() + eol + eol


PARTIAL = {"type": "image_generation.partial_image", "b64_json": B64, "partial_image_index": 0}
DONE = {"type": "image_generation.completed", "b64_json": B64, "created_at": 1}


def stream_of(data: bytes, chunk: int = 0):
    return send(response("200 OK", b"", SSE, length=False) + data, chunk)


@pytest.mark.parametrize("data,chunk", [
    (event(PARTIAL, b"\r") + event(DONE, b"\r"), 0),
    (event(PARTIAL, b"\r") + event(DONE, b"\r"), 1),
    (event(PARTIAL, b"\r\n") + event(DONE, b"\r\n"), 1),
    (b"\xef\xbb\xbf" + event(DONE), 0),
    (b"\xef\xbb\xbf" + event(DONE), 1),
    (event(PARTIAL) + event(DONE)[:-1], 0),
    (event(PARTIAL) + event(DONE)[:-2], 0),
    (event(PARTIAL, b"\r") + event(DONE, b"\r")[:-2], 0),
], ids=["cr", "cr-bytewise", "crlf-bytewise", "bom", "bom-bytewise", "no-blank-line-at-eof",
        "no-newline-at-eof", "cr-no-end"])
def test_streams_as_servers_really_end_and_break_lines(data, chunk):
    outcome, requests = call(stream_of(data, chunk), stream=True)
    delivered(outcome)
    assert requests == 1


@pytest.mark.parametrize("err", [None, {"message": "", "type": "", "code": None}],
                         ids=["null", "empty"])
def test_a_go_relays_empty_error_in_every_event_is_no_error(err):
    data = event(dict(PARTIAL, error=err)) + event(dict(DONE, error=err))
    outcome, _ = call(stream_of(data), stream=True)
    delivered(outcome)


@pytest.mark.parametrize("data", [b'"quota exhausted"', b"quota exhausted"])
def test_an_error_event_that_is_not_an_object_says_its_words(data):
    outcome, _ = call(stream_of(b"event: error\ndata: " + data + b"\n\n"), stream=True)
    assert isinstance(outcome, errors.ServerError)
    if data.startswith(b'"'):
        assert "quota exhausted" in outcome.message
    assert "ended before" not in outcome.message


# --- deadlines and billing --------------------------------------------------------------------

RATE = b'{"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}}'


def rate_limited_once(retry_after: str):
    seen = []

    def handler(conn, request):
        request.read_body()
        seen.append(1)
        if len(seen) == 1:
            conn.sendall(response("429 Too Many Requests", RATE,
                                  JSON + [("Retry-After", retry_after)]))
        else:
            conn.sendall(response("200 OK", BODY, JSON))
    return handler


@pytest.fixture
def waits(monkeypatch):
    slept = []
    monkeypatch.setattr(client_module.time, "sleep", lambda s: slept.append(s))
    return slept


def test_a_retry_after_date_hours_ahead_is_not_retried_at_once(waits):
    outcome, requests = call(rate_limited_once(formatdate(time.time() + 7200, usegmt=True)))
    assert isinstance(outcome, errors.RateLimitError) and requests == 1
    assert outcome.retry_after > 7000 and "minutes" in outcome.message and waits == []


def test_a_retry_after_date_seconds_ahead_is_waited_for(waits):
    outcome, requests = call(rate_limited_once(formatdate(time.time() + 20, usegmt=True)),
                             timeout=120)
    delivered(outcome)
    assert requests == 2 and len(waits) == 1 and 10 < waits[0] <= 21


BIG = ImageFile(name="big.png", data=PNG + bytes(20 << 20), content_type="image/png")


def edit_call(handler, timeout=10.0):
    with RawServer(handler) as server:
        try:
            outcome = ImagesClient(server.base_url, KEY, timeout=timeout).edit(
                EditRequest(prompt="x", model="gpt-image-1", images=[BIG]))
        except errors.BianxieError as exc:
            outcome = exc
        return outcome, server.requests


def test_an_early_413_while_uploading_says_too_large_and_is_not_billed():
    def handler(conn, request):
        conn.recv(65536)
        conn.sendall(response("413 Request Entity Too Large",
                              b"<html><title>413 Request Entity Too Large</title></html>",
                              [("Content-Type", "text/html"), ("Connection", "close")]))
    outcome, requests = edit_call(handler)
    assert isinstance(outcome, errors.BadRequestError) and not outcome.may_be_billed
    assert "413" in outcome.message and "larger" in outcome.message and requests == 1


def test_a_server_that_stops_reading_the_upload_is_not_billed():
    def handler(conn, request):
        time.sleep(4)  # reads nothing more: the 20 MB cannot all be sent
    outcome, requests = edit_call(handler, timeout=2)
    assert isinstance(outcome, errors.TransportError), outcome
    assert not outcome.may_be_billed and requests == 1


# --- secrets ----------------------------------------------------------------------------------

@pytest.mark.parametrize("ctype", [KEY, "text/" + KEY, KEY + "/json"])
def test_the_key_in_a_content_type_is_never_shown(ctype):
    outcome, _ = call(send(response("200 OK", b"<html></html>", [("Content-Type", ctype)])))
    assert isinstance(outcome, errors.ResponseError)
    for text in (str(outcome), repr(outcome.args)) + tuple(map(repr, vars(outcome).values())):
        assert KEY not in text and KEY[3:] not in text


@pytest.mark.parametrize("url,base,same", [
    ("https://api.example/img.png", "https://api.example:443/v1", True),
    ("https://api.example:443/img.png", "https://api.example/v1", True),
    ("http://API.example:80/img.png", "http://api.example/v1", True),
    ("https://api.example:8443/img.png", "https://api.example/v1", False),
    ("http://api.example/img.png", "https://api.example/v1", False),
    ("https://api.example.evil/img.png", "https://api.example/v1", False),
    ("https://api.example:99999/img.png", "https://api.example/v1", False),
])
def test_the_key_goes_to_the_apis_own_origin_with_or_without_its_default_port(url, base, same):
    assert client_module.same_origin(url, base) is same


def _chain_texts(exc: BaseException) -> list:
    """Every text an exception and those chained to it hold, attributes included."""
    texts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        texts += [str(exc), repr(exc), repr(exc.args)] + [repr(v) for v in vars(exc).values()]
        exc = exc.__context__ or exc.__cause__
    return texts


def _sse(data: bytes, coding: str = "") -> bytes:
    head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
    if coding:
        head += "Content-Encoding: %s\r\n" % coding
    return head.encode() + b"\r\n" + (gz(data) if coding else data)


K = KEY.encode()
ECHOES = {
    "sse-event-name": (_sse(b"event: " + K + b"\ndata: {\"error\": {\"message\": \"bad " + K
                            + b"\", \"code\": \"" + K + b"\"}}\n\n"), True),
    "gzip-sse-error-text": (_sse(b'event: error\ndata: "' + K + b'"\n\n', "gzip"), True),
    "nested-error-objects": (response("400 Bad Request", json.dumps({"error": {
        "message": {"k": KEY}, "code": [KEY], "param": {"a": KEY}, "type": KEY,
        "metadata": {"raw": KEY}}}).encode(), JSON), False),
    "cookie-and-auth-headers": (response("401 Unauthorized", b'{"error": {"message": "no"}}',
                                         JSON + [("Set-Cookie", "k=" + KEY),
                                                 ("WWW-Authenticate", "Bearer " + KEY),
                                                 ("X-Oneapi-Request-Id", KEY)]), False),
    "location-userinfo-path-query": (response("302 Found", b"", [(
        "Location", "https://u:%s@h.example/%s?k=%s" % (KEY, KEY, KEY))]), False),
    "location-host": (response("301 Moved Permanently", b"",
                               [("Location", "https://%s.example/v1" % KEY)]), False),
    "url-host": (response("200 OK", json.dumps({"data": [{"url": "http://%s.invalid/a.png"
                                                          % KEY}]}).encode(), JSON), False),
    "broken-json-holding-the-key": (response("200 OK", b'{"data": [], "x": "' + K
                                             + b'", broken', JSON), False),
    "error-in-200": (response("200 OK", json.dumps({"error": KEY}).encode(), JSON), False),
}


@pytest.mark.parametrize("name", list(ECHOES))
def test_an_echoed_key_is_in_no_exception_nor_its_chain_in_any_case(name):
    data, stream = ECHOES[name]
    outcome, _ = call(send(data), stream=stream, timeout=5)
    assert isinstance(outcome, errors.BianxieError)
    for text in _chain_texts(outcome):
        assert KEY.lower() not in text.lower() and KEY[3:].lower() not in text.lower(), name


def test_an_error_page_trickled_at_the_deadline_is_read_by_the_calls_deadline(monkeypatch):
    """The body of an error answer was given min(timeout, 30) s from its headers, so a 500
    whose headers came just before the deadline could run 30 s past it."""
    from bianxie_core import body

    given = []
    real = body.read

    def spy(response_, deadline, limit, timeout):
        given.append(deadline)
        return real(response_, deadline, limit, timeout)
    monkeypatch.setattr(body, "read", spy)

    def handler(conn, request):
        request.read_body()
        time.sleep(1.5)
        conn.sendall(b"HTTP/1.1 500 Oops\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n")
        for _ in range(40):
            conn.sendall(b" ")
            time.sleep(0.1)
    start = time.monotonic()
    outcome, _ = call(handler, timeout=2)
    assert isinstance(outcome, errors.ServerError) and outcome.may_be_billed
    assert given and given[0] <= start + 2 + 1 + 0.2  # the deadline and its one second


def test_an_upload_given_up_at_the_deadline_is_never_completed_later():
    """Said "not charged" at the deadline, the upload must not go on in the background: a
    server that reads again later would get the whole body and charge for it."""
    got = []

    def handler(conn, request):
        total = len(request.rest)
        while total < (1 << 20):
            total += len(conn.recv(65536))
        time.sleep(3)  # the client's deadline passes here
        conn.settimeout(3)
        try:
            while True:
                piece = conn.recv(1 << 20)
                if not piece:
                    break
                total += len(piece)
        except OSError:
            pass
        got.append(total)
    with RawServer(handler) as server:
        with pytest.raises(errors.ConnectError) as caught:
            ImagesClient(server.base_url, KEY, timeout=1.5).edit(
                EditRequest(prompt="x", model="gpt-image-1", images=[BIG]))
        for _ in range(100):  # the server is still there, reading again
            if got:
                break
            time.sleep(0.1)
    assert not caught.value.may_be_billed
    assert got and got[0] < len(BIG.data), "the body went on and arrived whole"


@pytest.mark.parametrize("ctype,data", [
    ("text/plain", event(PARTIAL) + event(DONE)),
    ("application/octet-stream", b"\xef\xbb\xbf: keep-alive\n\n" + event(DONE)),
    ("application/json", b"event: image_generation.completed\n" + event(DONE)),
    ("text/event-stream", BODY),
], ids=["sse-as-text", "sse-as-octets", "sse-as-json", "json-as-sse"])
def test_a_streamed_answer_is_told_by_its_bytes_not_only_its_label(ctype, data):
    head = response("200 OK", b"", [("Content-Type", ctype), ("Connection", "close")],
                    length=False)
    outcome, requests = call(send(head + data), stream=True)
    delivered(outcome)
    assert requests == 1


def test_a_web_page_answering_a_streamed_request_is_still_called_one():
    outcome, _ = call(send(response("200 OK", b"<html><body>login</body></html>",
                                    [("Content-Type", "text/html")])), stream=True)
    assert isinstance(outcome, errors.ResponseError) and "web page" in outcome.message


def test_an_unreadable_answer_after_the_body_was_sent_is_billed_and_never_re_sent():
    """Two Content-Lengths that differ: urllib3 refuses the answer with an error that was
    taken for a failed connection (never billed), so the paid request was sent three times."""
    data = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Content-Length: 5\r\n\r\n" % len(BODY)) + BODY
    outcome, requests = call(send(data))
    assert isinstance(outcome, errors.TransportError) and outcome.may_be_billed
    assert requests == 1


def test_a_cr_only_stream_left_open_after_its_final_event_delivers_at_once():
    """A lone CR ended its line only once the next byte came: a server that sends nothing
    after the final event (keeping the connection open) had it held until the deadline."""
    data = response("200 OK", b"", [("Content-Type", "text/event-stream")], length=False) \
        + event(PARTIAL, b"\r") + event(DONE, b"\r")

    def handler(conn, request):
        request.read_body()
        conn.sendall(data)
        time.sleep(6)
    outcome, _ = call(handler, stream=True, timeout=4)
    delivered(outcome)


# --- the same behaviours from the fake (tests/fakeapi/hostile.py), for the GIMP tests too ---

@pytest.mark.parametrize("knobs", [
    {"interim": INTERIM},
    {"gzip_tail": b"\0" * 16},
    {"compress": "deflate", "gzip_tail": b"junk after the deflate stream"},
], ids=["interim-1xx", "gzip-tail", "deflate-tail"])
def test_the_fake_sends_interim_answers_and_bytes_after_the_compressed_body(knobs):
    with FakeServer(key=KEY) as srv:
        for name, value in knobs.items():
            setattr(srv, name, value)
        result = ImagesClient(srv.base_url, KEY, timeout=30).generate(
            GenerateRequest(prompt="a fox", model="gpt-image-1", quality="low",
                            size="1024x1024"))
    assert len(result.images) == 1 and result.images[0].format == "png"


@pytest.mark.parametrize("knobs", [
    {"sse_eol": b"\r"}, {"sse_eol": b"\r\n"}, {"sse_type": "text/plain"},
    {"sse_eol": b"\r", "compress_stream": True},
], ids=["cr", "crlf", "text-plain", "cr-gzip"])
def test_the_fake_streams_with_other_line_ends_and_labels(knobs):
    with FakeServer(key=KEY) as srv:
        for name, value in knobs.items():
            setattr(srv, name, value)
        partials = []
        result = ImagesClient(srv.base_url, KEY, timeout=30).generate(
            GenerateRequest(prompt="a fox", model="gpt-image-1", quality="low",
                            size="1024x1024", stream=True, partial_images=2),
            on_partial=lambda index, data: partials.append(index))
    assert len(result.images) == 1 and result.streamed and partials == [0, 1]


@pytest.mark.parametrize("size", ["small", "spooled"])
def test_a_deeply_nested_answer_says_so_not_that_it_is_not_json(size):
    """10,000 nested arrays (beside a 20 MB string: the spooled path) were called "not JSON:
    the base URL may point to a web page"; it is JSON, too deeply nested to read."""
    pad = "A" * (20 * 2**20) if size == "spooled" else ""
    body = ('{"pad": "' + pad + '", "data": ' + "[" * 10_000 + "]" * 10_000 + "}").encode()
    outcome, requests_seen = call(send(response("200 OK", body, JSON)))
    assert isinstance(outcome, errors.ResponseError) and outcome.may_be_billed
    assert "nested too deeply" in outcome.message and "not JSON" not in outcome.message
    assert requests_seen == 1
