"""The fake server's issue-13 knobs (tests/fakeapi/hostile.py) do what they say, strictly."""

from __future__ import annotations

import base64
import gzip
import json
import zlib

import pytest
import requests

from tests.fakeapi import FakeServer
from tests.fakeapi.hostile import BROKEN_ITEMS, accepts

KEY = "sk-fake-hostile-0123456789"
BODY = {"prompt": "a fox", "model": "gpt-image-1", "quality": "low", "size": "1024x1024"}


@pytest.fixture
def srv():
    with FakeServer(key=KEY) as server:
        yield server


def post(srv, body=None, encoding="gzip, deflate", stream=False):
    return requests.post(srv.base_url + "/images/generations", json=body or BODY, stream=stream,
                         headers={"Authorization": "Bearer " + KEY,
                                  "Accept-Encoding": encoding})


def raw(response) -> bytes:
    return response.raw.read(decode_content=False)


def test_gzip_by_default_when_the_client_accepts_it(srv):
    r = post(srv, stream=True)
    assert r.headers["Content-Encoding"] == "gzip" and r.headers["Vary"] == "Accept-Encoding"
    assert json.loads(gzip.decompress(raw(r)))["data"]


@pytest.mark.parametrize("encoding", ["identity", "br", "gzip;q=0", ""])
def test_no_compression_the_client_did_not_ask_for(srv, encoding):
    r = post(srv, encoding=encoding, stream=True)
    assert "Content-Encoding" not in r.headers
    assert json.loads(raw(r))["data"]


@pytest.mark.parametrize("how,wbits", [("deflate", zlib.MAX_WBITS),
                                       ("deflate-raw", -zlib.MAX_WBITS)])
def test_deflate_knobs(srv, how, wbits):
    srv.compress = how
    r = post(srv, encoding="deflate", stream=True)
    assert r.headers["Content-Encoding"] == "deflate"
    assert json.loads(zlib.decompress(raw(r), wbits))["data"]


def test_compression_off(srv):
    srv.compress = None
    r = post(srv, stream=True)
    assert "Content-Encoding" not in r.headers and json.loads(raw(r))["data"]


def test_errors_are_compressed_too(srv):
    srv.fault = "insufficient_quota"
    r = post(srv, stream=True)
    assert r.status_code == 429 and r.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(raw(r)))["error"]["code"] == "insufficient_quota"


def test_accepts():
    assert accepts("gzip, deflate", "gzip") and accepts("*", "deflate")
    assert not accepts("gzip;q=0, deflate", "gzip") and not accepts("identity", "gzip")


@pytest.mark.parametrize("kind", BROKEN_ITEMS)
def test_a_broken_item_among_good_ones(srv, kind):
    srv.broken_item = kind
    data = post(srv, dict(BODY, n=3)).json()["data"]
    assert len(data) == 3 and len(srv.responses) == 2
    assert [base64.b64decode(d["b64_json"]) for d in data[1:]] == srv.responses


def test_counts_and_styles(srv):
    srv.count_delta, srv.b64_style = 2, "newlines"
    data = post(srv).json()["data"]
    assert len(data) == 3 and "\n" in data[0]["b64_json"]


@pytest.mark.parametrize("field", ["param", "code", "type", "message"])
def test_echo_key_fields(srv, field):
    srv.echo_key = field
    r = post(srv)
    assert r.status_code == 400 and KEY in r.json()["error"][field]


def test_echo_key_title_and_header(srv):
    srv.echo_key = "title"
    assert KEY in post(srv).text
    srv.echo_key = "header"
    assert KEY in post(srv).headers["X-Request-Id"]


def test_redirect_and_error_in_200(srv):
    srv.redirect = 308
    r = requests.post(srv.base_url + "/images/generations", json=BODY, allow_redirects=False,
                      headers={"Authorization": "Bearer " + KEY})
    assert r.status_code == 308 and "/moved/v1/images/generations" in r.headers["Location"]
    srv.redirect, srv.error_in_200 = None, True
    r = post(srv)
    assert r.status_code == 200 and r.json()["error"]["code"] == "insufficient_quota"


def test_usage_raw_is_sent_verbatim(srv):
    srv.usage_raw = '{"input_tokens": 1e400}'
    assert b'"usage": {"input_tokens": 1e400}' in post(srv).content


def test_the_wrong_key_still_fails_first(srv):
    srv.echo_key = "param"
    r = requests.post(srv.base_url + "/images/generations", json=BODY,
                      headers={"Authorization": "Bearer sk-wrong"})
    assert r.status_code == 401
