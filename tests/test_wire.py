"""The wire helpers, the error table and the image check, without a server."""

from __future__ import annotations

import base64
import io
import json
import zlib

import pytest
from PIL import Image

from bianxie_core import body, errors
from bianxie_core.error_table import Scrubber, error_from_response, refuses, stream_error
from bianxie_core.image_check import inspect
from bianxie_core.wire import (
    clean_usage,
    decode_b64,
    decode_b64_pieces,
    encode_multipart,
    sse_events,
)

KEY = "sk-CANARY-wire-0123456789abcdef0123"


def _png(size=(32, 32)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(buf, "PNG")
    return buf.getvalue()


def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(buf, fmt)
    return buf.getvalue()


# --- base64 -----------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["plain", "newlines", "spaces", "urlsafe", "nopad", "data_url",
                                  "crlf"])
def test_decode_b64_takes_what_relays_send(form):
    data = bytes(range(256)) * 3 + b"\xfb\xff"
    text = base64.b64encode(data).decode()
    text = {"plain": text, "newlines": "\n".join(text[i:i + 76] for i in range(0, len(text), 76)),
            "spaces": " " + text[:10] + " " + text[10:] + " ",
            "urlsafe": base64.urlsafe_b64encode(data).decode(), "nopad": text.rstrip("="),
            "data_url": "data:image/png;base64," + text,
            "crlf": "\r\n".join(text[i:i + 64] for i in range(0, len(text), 64))}[form]
    assert decode_b64(text) == data


@pytest.mark.parametrize("text", ["", "!!!", "abcde", "日本", 12, None])
def test_decode_b64_refuses_what_is_not_base64(text):
    with pytest.raises(ValueError):
        decode_b64(text)


# --- the image check --------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_whole_images_pass_and_say_their_format(fmt):
    assert inspect(_encoded(fmt)) == (fmt.lower(), None)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_cut_images_fail(fmt):
    data = _encoded(fmt)
    verdict = inspect(data[: len(data) * 3 // 4])
    assert verdict.format == fmt.lower() and "incomplete" in verdict.problem


def test_a_png_cut_on_a_base64_boundary_fails():
    text = base64.b64encode(_png((300, 200))).decode()
    data = decode_b64(text[: len(text) // 2 // 4 * 4])
    assert inspect(data).problem


def test_a_png_with_a_bad_crc_fails():
    data = bytearray(_png())
    data[40] ^= 0xFF  # inside IDAT
    assert "checksum" in inspect(bytes(data)).problem


@pytest.mark.parametrize("data,words", [(b"<!DOCTYPE html><html></html>", "web page"),
                                        (b"\x00\x01 junk", "not an image"), (b"", "not")])
def test_non_images_fail(data, words):
    assert inspect(data).format is None and words in inspect(data).problem


# --- SSE ----------------------------------------------------------------------------------------

def test_sse_strips_exactly_one_leading_space():
    events = list(sse_events([b'event:  x\ndata: 1\n\n', b'event:y\ndata:"none"\n\n']))
    assert events == [(" x", 1), ("y", "none")]


def test_sse_joins_multi_line_data_and_split_chunks():
    stream = b'event: done\r\ndata: {"a":\r\ndata: 1}\r\n\r\n: comment\n\ndata: [DONE]\n\n'
    pieces = [stream[i:i + 3] for i in range(0, len(stream), 3)]
    assert list(sse_events(pieces)) == [("done", {"a": 1})]


def test_sse_stops_an_endless_event():
    def endless():
        yield b"data: "
        while True:
            yield b"A" * 1024 * 1024
    with pytest.raises(errors.ResponseError):
        list(sse_events(endless()))


# --- usage ------------------------------------------------------------------------------------

@pytest.mark.parametrize("usage,expected", [
    ({"input_tokens": "12", "output_tokens": float("inf"), "total_tokens": 5.0},
     {"input_tokens": 12, "total_tokens": 5}),
    ({"input_tokens": [1], "input_tokens_details": {"text_tokens": -5, "image_tokens": 3}},
     {"input_tokens_details": {"image_tokens": 3}}),
    ([1, 2], None), ("x", None), (None, None), ({"total_tokens": True}, None),
    ({"output_tokens": 10 ** 30}, None),
])
def test_clean_usage(usage, expected):
    assert clean_usage(usage) == expected


# --- multipart -----------------------------------------------------------------------------------

class _File:
    def __init__(self, name):
        self.name, self.data, self.content_type = name, b"\x89PNG", "image/png"


def test_multipart_quotes_cr_lf_and_quotes_in_file_names():
    out = encode_multipart({"prompt": "p", "stream": True, "n": 2},
                           [("image", _File('a"\r\nX-Evil: 1.png'))], "b0undary")
    assert b"\r\nX-Evil" not in out and b'filename="a%22%0D%0AX-Evil: 1.png"' in out
    assert b'name="stream"\r\n\r\ntrue\r\n' in out and b'name="n"\r\n\r\n2\r\n' in out


# --- large answers from the spool --------------------------------------------------------------

def test_spooled_answers_read_big_strings_back_exactly(monkeypatch):
    monkeypatch.setattr(body, "IN_MEMORY", 1000)
    monkeypatch.setattr(body, "BIG_STRING", 300)
    big = "x" * 5000 + "\\\"\n\u00e9" + "y" * 700
    doc = {"data": [{"b64_json": big, "small": "a\"b\\c"}, {"b64_json": "tiny"}],
           "esc": "\\" * 333, "usage": {"n": 1}}
    text = json.dumps(doc).encode()
    for step in (1, 7, 4096):
        answer = body.read_answer(iter([text[i:i + step] for i in range(0, len(text), step)]))
        items = answer.payload["data"]
        assert answer.text(items[0]["b64_json"]) == big.encode("utf-8")
        assert items[0]["small"] == "a\"b\\c" and answer.text(items[1]["b64_json"]) == "tiny"
        assert answer.text(answer.payload["esc"]) == b"\\" * 333
        answer.close()


def test_spooled_answers_refuse_non_json(monkeypatch):
    monkeypatch.setattr(body, "IN_MEMORY", 10)
    with pytest.raises(ValueError):
        body.read_answer(iter([b'{"data": [' + b"1," * 100]))


# --- the error table ---------------------------------------------------------------------------

def _error(status, err, headers=None, content=None):
    content = content if content is not None else json.dumps({"error": err}).encode()
    return error_from_response(status, headers or {}, content, Scrubber(KEY))


@pytest.mark.parametrize("field", ["message", "param", "code", "type"])
def test_the_key_is_scrubbed_from_every_field(field):
    err = {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}
    err[field] = "see " + KEY if field == "message" else KEY
    exc = _error(400, err, {"x-request-id": "req_" + KEY})
    for text in [str(exc), repr(exc.args)] + [repr(v) for v in vars(exc).values()]:
        assert KEY not in text and KEY[3:] not in text


def test_the_key_is_scrubbed_from_an_html_title():
    page = ("<html><title>502 " + KEY + "</title></html>").encode()
    exc = _error(502, {}, content=page)
    assert KEY not in str(exc)


def test_server_text_is_made_terminal_safe():
    message = "\x1b]52;c;ZXZpbA==\x07copied\x1b]8;;http://evil\x07link\x1b]8;;\x07\nerror: fake " \
        + "x" * 1_000_000
    exc = _error(400, {"message": message, "param": "q\x1b[2J", "code": "c\r\nerror: y"})
    text = str(exc)
    assert "\x1b" not in text and "\n" not in text and "\r" not in text and "\x07" not in text
    assert len(text) < 700 and "copied" in text
    assert exc.param == "q" and "\n" not in exc.code


def test_a_bare_string_stream_error_is_a_sentence():
    exc = stream_error("upstream exploded " + KEY, Scrubber(KEY), None)
    assert "upstream exploded" in str(exc) and KEY not in str(exc)
    assert "no reason given" in str(stream_error({}, Scrubber(KEY), None))


@pytest.mark.parametrize("message,param", [
    ("n>1 is not supported by this channel", None),
    ("n must be 1: this channel returns one image per request", "n"),
    ("Parameter n is not supported for this model", ""),
])
def test_refuses_recognises_n_refusals(message, param):
    exc = _error(400, {"message": message, "type": "invalid_request_error", "param": param,
                       "code": None})
    assert refuses(exc, "n") and not refuses(exc, "stream")


def test_refuses_recognises_stream_refusals_and_nothing_else():
    stream = _error(400, {"message": "stream is not supported", "param": None})
    other = _error(400, {"message": "Invalid value: 'ultra'.", "param": "quality"})
    assert refuses(stream, "stream") and not refuses(stream, "n")
    assert not refuses(other, "n") and not refuses(other, "stream")
    assert not refuses(_error(500, {"message": "n>1 is not supported"}), "n")


def test_a_redirect_names_where_without_query_or_key():
    exc = _error(301, {}, {"Location": "https://new.example/v1/images?key=" + KEY}, b"")
    assert "new.example/v1/images" in str(exc) and KEY not in str(exc) and "?" not in str(exc)


def test_an_error_inside_a_200_is_mapped():
    assert isinstance(error_from_response(200, {}, b"", Scrubber(KEY),
                                          err={"code": "insufficient_quota"}), errors.QuotaError)


def test_compressed_chunks_decode_raw_and_wrapped_deflate():
    data = b"hello " * 1000
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS, 16 + zlib.MAX_WBITS):
        z = zlib.compressobj(6, zlib.DEFLATED, wbits)
        packed = z.compress(data) + z.flush()
        inflater = body._Inflater("gzip" if wbits > 16 else "deflate")
        assert b"".join(inflater.feed(packed)) == data


@pytest.mark.parametrize("style", ["plain", "newlines", "slashes", "urlsafe-nopad", "data_url"])
def test_spooled_base64_decodes_piece_by_piece(monkeypatch, style):
    monkeypatch.setattr(body, "IN_MEMORY", 1000)
    monkeypatch.setattr(body, "BIG_STRING", 300)
    data = bytes(range(256)) * 40 + b"\x01"
    text = base64.b64encode(data).decode()
    if style == "newlines":
        text = "\n".join(text[i:i + 76] for i in range(0, len(text), 76))
    elif style == "urlsafe-nopad":
        text = base64.urlsafe_b64encode(data).decode().rstrip("=")
    elif style == "data_url":
        text = "data:image/png;base64," + text
    raw = json.dumps({"data": [{"b64_json": text}]})
    if style == "slashes":  # PHP writes / as \/
        raw = raw.replace("/", "\\/")
    answer = body.read_answer(iter([raw.encode()]))
    value = answer.payload["data"][0]["b64_json"]
    assert answer.is_big(value)
    for size in (5, 7, 64, 4096):
        assert decode_b64_pieces(answer.pieces(value, size)) == data
    answer.close()
