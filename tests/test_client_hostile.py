"""ImagesClient against ordinary-but-untested and hostile servers (issue 13).

Compressed answers, broken items among good ones, lenient base64, whole-image checks,
malformed streams, echoed keys, trickling and endless bodies, redirects, errors inside a 200,
junk usage. Each test names the FakeServer knob (tests/fakeapi/hostile.py) it turns on.
"""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from bianxie_core import errors
from bianxie_core.client import ImagesClient
from bianxie_core.params import EditRequest, GenerateRequest, ImageFile
from tests.fakeapi import FakeServer
from tests.fakeapi.hostile import B64_STYLES, BROKEN_ITEMS, ECHO_FIELDS

KEY = "sk-CANARY-hostile-5e6f708192a3b4c5d6e7f8a9"


def _forms(key: str = KEY) -> list:
    raw = key.encode()
    forms = [key, key[3:], base64.b64encode(raw).decode().rstrip("="),
             base64.urlsafe_b64encode(raw).decode().rstrip("=")]
    for pad in (1, 2):
        forms.append(base64.b64encode(b"\0" * pad + raw).decode()[4:-4])
    return forms


def assert_no_key(*texts) -> None:
    for text in texts:
        for form in _forms():
            assert form not in str(text), "the key leaked"


def exc_texts(exc: BaseException) -> list:
    return [str(exc), repr(exc), repr(exc.args)] + [repr(v) for v in vars(exc).values()]


@pytest.fixture
def srv():
    with FakeServer(key=KEY) as server:
        yield server


def client(srv_or_url, **kw) -> ImagesClient:
    url = srv_or_url if isinstance(srv_or_url, str) else srv_or_url.base_url
    return ImagesClient(url, KEY, **kw)


def gen(n=None, **kw) -> GenerateRequest:
    return GenerateRequest(prompt="a red fox", model="gpt-image-1", quality="low",
                           size="1024x1024", n=n, **kw)


class Sink:
    def __init__(self):
        self.calls = []

    def __call__(self, index, data, info):
        self.calls.append((index, data, dict(info)))

    @property
    def good(self):
        return [c for c in self.calls if not c[2].get("broken")]

    @property
    def broken(self):
        return [c for c in self.calls if c[2].get("broken")]


# --- compression ------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["gzip", "deflate", "deflate-raw"])
def test_compressed_json_answers_are_decoded(srv, how):
    srv.compress = how
    sink = Sink()
    result = client(srv).generate(gen(n=2), on_image=sink)
    assert [im.data for im in result.images] == srv.responses
    assert [c[1] for c in sink.good] == srv.responses
    assert result.usage and result.usage["output_tokens"] > 0


@pytest.mark.parametrize("how", ["gzip", "deflate"])
def test_compressed_streams_are_decoded(srv, how):
    srv.compress, srv.compress_stream = how, True
    partials = []
    result = client(srv).generate(gen(stream=True, partial_images=2),
                                  on_partial=lambda i, d: partials.append(d))
    assert result.streamed and result.images[0].data == srv.responses[0]
    assert partials == srv.partials


@pytest.mark.parametrize("how", ["gzip", "deflate", "deflate-raw"])
def test_compressed_429_insufficient_quota_is_a_quota_error_never_retried(srv, how):
    srv.compress, srv.fault = how, "insufficient_quota"
    with pytest.raises(errors.QuotaError):
        client(srv).generate(gen())
    assert len(srv.requests) == 1


def test_compressed_html_error_page_gives_its_title(srv):
    srv.fault = "bad_gateway_html"
    with pytest.raises(errors.ServerError) as info:
        client(srv).generate(gen())
    assert "502 Bad Gateway" not in str(info.value) and "Bad Gateway" in str(info.value)


def test_compressed_url_download_is_decoded(srv):
    srv.fault = "url"
    result = client(srv).generate(gen())
    assert result.images[0].data == srv.responses[0]


def test_gzip_bomb_behind_a_url_stops_at_the_cap(srv):
    srv.fault, srv.download_bomb_mb = "url", 200
    sink = Sink()
    with pytest.raises(errors.ResponseError) as info:
        client(srv).generate(gen(), on_image=sink)
    assert "larger than 64 MB" in str(info.value)
    assert sink.calls == []


# --- broken items among good ones --------------------------------------------------------------

@pytest.mark.parametrize("kind", BROKEN_ITEMS)
def test_one_broken_item_does_not_cost_the_good_ones(srv, kind):
    srv.broken_item = kind
    sink = Sink()
    result = client(srv).generate(gen(n=4), on_image=sink)
    good = srv.responses[-3:]  # the fake logs the good items it sent
    assert [im.data for im in result.images] == good
    assert [im.index for im in result.images] == [1, 2, 3]
    assert [c[1] for c in sink.good] == good
    assert len(result.failures) == 1 and result.failures[0].startswith("Image 1 of 4")
    assert "\n" not in result.failures[0] and "None" not in result.failures[0]
    with_bytes = kind in ("bad_base64", "truncated", "html")
    assert [c[0] for c in sink.broken] == ([0] if with_bytes else [])


@pytest.mark.parametrize("kind", ["null", "truncated", "html", "file_url", "error"])
def test_no_good_item_raises_as_before(srv, kind):
    srv.broken_item = kind
    with pytest.raises(errors.BianxieError) as info:
        client(srv).generate(gen())
    assert info.value.may_be_billed or isinstance(info.value, errors.APIError)
    assert "None" not in str(info.value)


def test_file_url_says_it_cannot_be_downloaded(srv):
    srv.broken_item = "file_url"
    with pytest.raises(errors.ResponseError) as info:
        client(srv).generate(gen())
    assert "cannot be downloaded" in str(info.value)


@pytest.mark.parametrize("delta,n,kept,warned", [(3, 1, 4, False), (40, 1, 10, True),
                                                 (-1, 2, 1, True), (2, 2, 4, False)])
def test_wrong_image_counts_keep_what_was_paid_up_to_ten(srv, delta, n, kept, warned):
    """More images than asked may all be billed: each is kept (the hosts say what arrived
    beyond n), but never more than ten; fewer than asked is a warning."""
    srv.count_delta = delta
    sink = Sink()
    result = client(srv).generate(gen(n=n if n > 1 else None), on_image=sink)
    assert len(result.images) == kept and len(sink.calls) == kept
    assert len(result.warnings) == warned
    assert not warned or str(n) in result.warnings[0]


# --- the image must be whole ---------------------------------------------------------------------

def test_truncated_base64_on_a_boundary_is_not_delivered(srv):
    srv.broken_item = "truncated"
    sink = Sink()
    with pytest.raises(errors.ResponseError) as info:
        client(srv).generate(gen(), on_image=sink)
    assert "incomplete" in str(info.value)
    assert [c[2]["broken"] for c in sink.calls] == ["image"]


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_the_actual_format_is_reported(srv, fmt):
    result = client(srv).generate(gen(output_format=fmt))
    assert result.images[0].format == fmt


# --- lenient base64 ----------------------------------------------------------------------------

@pytest.mark.parametrize("style", [s for s in B64_STYLES if s])
def test_base64_as_relays_send_it(srv, style):
    srv.b64_style = style
    result = client(srv).generate(gen())
    assert result.images[0].data == srv.responses[0]


# --- streams -------------------------------------------------------------------------------------

def test_malformed_events_before_the_final_one_lose_nothing(srv):
    srv.sse_junk = True
    partials, sink = [], Sink()
    result = client(srv).generate(gen(stream=True, partial_images=1), on_image=sink,
                                  on_partial=lambda i, d: partials.append((i, d)))
    assert result.images[0].data == srv.responses[0]
    assert [c[1] for c in sink.good] == srv.responses


def test_an_sse_error_that_is_a_bare_string_says_it(srv):
    srv.fault, srv.stream_error_text = "stream_error", "upstream \x1b[31mexploded\x1b[0m"
    with pytest.raises(errors.ServerError) as info:
        client(srv).generate(gen(stream=True))
    assert "upstream exploded" in str(info.value) and "?" not in str(info.value)
    assert "\x1b" not in str(info.value)


# --- secrets and the terminal ---------------------------------------------------------------------

@pytest.mark.parametrize("compress", [None, "gzip"])
@pytest.mark.parametrize("field", ECHO_FIELDS)
def test_an_echoed_key_is_in_no_exception_attribute(srv, field, compress):
    srv.echo_key, srv.compress = field, compress
    request = gen(stream=True) if field == "sse_code" else gen()
    with pytest.raises(errors.BianxieError) as info:
        client(srv).generate(request)
    assert_no_key(*exc_texts(info.value))


def test_model_ids_are_printable_and_junk_items_are_skipped(srv):
    srv.models_data = [42, "gpt-image-1", None, {"id": 7}, {"id": "evil\x1b]52;c;aGk=\x07-model"},
                       {"id": "gpt-image-1"}, {"object": "model"}]
    assert client(srv).list_models() == ["evil-model", "gpt-image-1"]


# --- hangs and memory -------------------------------------------------------------------------

@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_trickle_ends_at_the_deadline(srv, part):
    srv.trickle, srv.trickle_interval = part, 0.2
    with pytest.raises(errors.TimeoutError) as info:
        client(srv, timeout=1.0).generate(gen())
    assert "1 s" in str(info.value)


def test_a_trickling_download_ends_at_the_deadline(srv):
    srv.fault = "url"
    c = client(srv, timeout=1.5)
    srv.trickle, srv.trickle_interval = "body", 0.2  # the JSON too, so the deadline covers both
    with pytest.raises(errors.TimeoutError):
        c.generate(gen())


def test_an_endless_body_stops_at_the_cap(srv):
    srv.endless = True
    with pytest.raises(errors.ResponseError) as info:
        client(srv).generate(gen())
    assert "larger than 72 MB" in str(info.value)


def test_a_large_answer_is_spooled_and_delivered(srv):
    srv.huge_b64_mb = 24  # over the 16 MiB kept in memory: parsed from the spool file
    sink = Sink()
    result = client(srv).generate(gen(n=2), on_image=sink)
    assert len(result.images) == 2 and result.images[0].format == "png"
    assert len(result.images[0].data) > 17 * 1024 * 1024
    assert result.images[1].data == srv.responses[-1]


def test_429_waits_are_bounded_by_the_timeout(srv):
    srv.fault, srv.retry_after = "rate_limit", "5"
    with pytest.raises(errors.RateLimitError):
        client(srv, timeout=2.0).generate(gen())
    assert len(srv.requests) == 1


# --- redirects, errors inside a 200, usage ------------------------------------------------

@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_says_the_base_url_moved(srv, status):
    srv.redirect = status
    with pytest.raises(errors.BadRequestError) as info:
        client(srv).generate(gen())
    assert "redirect" in str(info.value) and "moved" in str(info.value)
    assert "/moved/v1" in str(info.value) and not info.value.may_be_billed
    assert len(srv.requests) == 1


def test_a_200_holding_an_error_goes_through_the_error_table(srv):
    srv.error_in_200 = True
    with pytest.raises(errors.QuotaError):
        client(srv).generate(gen())


@pytest.mark.parametrize("raw", ['{"input_tokens": "12", "output_tokens": 1e400}',
                                 '[1, 2]', '"lots"', '{"input_tokens": [1], '
                                 '"input_tokens_details": {"text_tokens": -5, "image_tokens": 3}}',
                                 '{"total_tokens": true}', "null"])
def test_junk_usage_never_crashes_after_paying(srv, raw):
    srv.usage_raw = raw
    result = client(srv).generate(gen())
    assert result.images
    usage = result.usage
    assert usage is None or isinstance(usage, dict)
    for value in (usage or {}).values():
        inner = value.values() if isinstance(value, dict) else [value]
        assert all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in inner)


# --- multipart file names ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ['a\r\nContent-Type: text/html\r\n\r\nx.png', 'quo"te.png',
                                  "火箭\n.png"])
def test_file_names_cannot_break_the_multipart_headers(srv, name):
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (9, 9, 9)).save(buf, "PNG")
    image = ImageFile(name=name, data=buf.getvalue(), content_type="image/png")
    client(srv).edit(EditRequest(images=[image], prompt="x", model="gpt-image-1"))
    files = srv.requests[0].files
    assert [(f.field, f.content_type, f.data) for f in files] == [
        ("image", "image/png", buf.getvalue())]
    assert "\r" not in files[0].filename and "\n" not in files[0].filename


@pytest.mark.parametrize("timeout", [1e10, float("inf"), float("nan")])
def test_a_huge_timeout_never_overflows_after_paying(srv, timeout):
    sink = Sink()
    result = client(srv, timeout=timeout).generate(gen(), on_image=sink)
    assert result.images and len(sink.good) == 1


def test_a_relays_n_refusal_without_param_is_recognised(srv):
    from bianxie_core.error_table import refuses

    srv.fault, srv.n_refusal_words = "refuse_n", "n>1 is not supported by this channel"
    with pytest.raises(errors.BadRequestError) as info:
        client(srv).generate(gen(n=2))
    assert info.value.param is None and refuses(info.value, "n")
    assert not refuses(info.value, "stream")
