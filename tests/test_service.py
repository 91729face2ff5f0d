"""Service: history first, relay quirks (remembered per base URL), utf-8 end to end."""

from __future__ import annotations

import pytest

from bianxie_core import config as configmod
from bianxie_core import errors
from bianxie_core.history import History
from bianxie_core.service import Service
from tests.test_client import (  # noqa: F401
    KEY, assert_no_key, edit_request, gen, image_file, mask_image, opened, product,
)


def history_bytes(home) -> list:
    return [e.image_path.read_bytes() for e in History(home / "history").entries()]


def history_entries(home) -> list:
    return History(home / "history").entries()


# --- history holds every image, byte-identical ----------------------------------------------
CASES = [
    ("generate", lambda: gen(), None),
    ("edit", lambda: edit_request(), None),
    ("generate-n3", lambda: gen(n=3), None),
    ("edit-mask-n2", lambda: edit_request(
        images=[image_file(product("coffee.png"))], mask=image_file(mask_image()), n=2), None),
    ("parallel", lambda: gen(n=3), "refuse_n"),
    ("url", lambda: gen(n=2), "url"),
    ("stream", lambda: gen(stream=True, partial_images=2), None),
    ("wrong-size", lambda: gen(size="1536x1024"), "wrong_size"),
]


@pytest.mark.parametrize("make,fault", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_history_holds_every_image_byte_identical(make, fault, srv1, home):
    srv = srv1
    srv.fault = fault
    request = make()
    seen = []
    service = Service()
    run = service.edit if hasattr(request, "images") else service.generate
    outcome = run(request, on_saved=lambda item: seen.append(item.entry.image_path.exists()))
    n = request.n or 1
    assert len(outcome.images) == n and all(seen) and len(seen) == n
    assert sorted(history_bytes(home)) == sorted(srv.responses)
    assert sorted(i.data for i in outcome.images) == sorted(srv.responses)
    for entry in history_entries(home):
        assert entry.meta["prompt"] == request.prompt
        assert entry.meta["host"] == "127.0.0.1:%d" % srv.port
        assert entry.meta["request_id"]
        assert entry.meta["job"] == outcome.job_id
        assert_no_key(entry.meta_path.read_text("utf-8"))
    if fault == "wrong_size":  # saved all the same; the host decides what to do with it
        assert opened(outcome.images[0].data).size == (1000, 700)


def test_truncated_base64_is_kept_as_received(srv, home):
    srv.fault = "truncated_b64"
    with pytest.raises(errors.ResponseError) as info:
        Service().generate(gen())
    assert info.value.may_be_billed
    (entry,) = history_entries(home)
    assert entry.meta["broken"] == "base64"
    raw = entry.image_path.read_bytes()
    assert raw.startswith(b"/9j/")  # the text as received: base64 of a JPEG, cut
    assert len(raw) > 100


# --- relay quirks ---------------------------------------------------------------------------
def test_refuse_n_goes_parallel_and_is_remembered(srv, home):
    srv.fault = "refuse_n"
    srv.latency = 0.3
    outcome = Service().generate(gen(n=3))
    assert len(outcome.images) == 3
    assert len(srv.requests) == 4  # the refused one (a 400: not billed), then 3 singles
    singles = srv.requests[1:]
    assert all("n" not in r.json for r in singles)
    assert max(r.time for r in singles) - min(r.time for r in singles) < srv.latency
    assert "no_n" in configmod.quirks(configmod.load(), srv.base_url)
    assert outcome.usage["output_tokens"] == 3 * 272

    srv.reset()
    srv.fault = "refuse_n"
    outcome = Service().generate(gen(n=2))
    assert len(srv.requests) == 2 and len(outcome.images) == 2  # parallel at once
    assert all("n" not in r.json for r in srv.requests)


def test_a_refusal_of_n_that_names_no_parameter_goes_parallel(srv, home):
    srv.fault, srv.n_refusal_words = "refuse_n", "n>1 is not supported by this channel"
    outcome = Service().generate(gen(n=2))
    assert len(outcome.images) == 2
    assert len(srv.requests) == 3 and all("n" not in r.json for r in srv.requests[1:])
    assert "no_n" in configmod.quirks(configmod.load(), srv.base_url)


def test_quirk_is_per_base_url(srv, home):
    configmod.remember_quirk("https://other.example/v1", "no_n")
    Service().generate(gen(n=2))
    assert len(srv.requests) == 1 and srv.requests[0].json["n"] == 2


def test_refuse_stream_falls_back_to_plain_and_is_remembered(srv, home):
    srv.fault = "refuse_stream"
    partials = []
    outcome = Service().generate(gen(stream=True, partial_images=2),
                                 on_partial=lambda i, d: partials.append(i))
    assert len(srv.requests) == 2
    assert srv.requests[1].json.get("stream") is None
    assert "partial_images" not in srv.requests[1].json
    assert len(outcome.images) == 1 and not outcome.streamed and partials == []
    assert "no_stream" in configmod.quirks(configmod.load(), srv.base_url)

    srv.reset()
    srv.fault = "refuse_stream"
    Service().generate(gen(stream=True, partial_images=2))
    assert len(srv.requests) == 1 and "stream" not in srv.requests[0].json


def test_a_relay_that_cannot_pass_a_stream_on_is_not_resent_but_remembered(srv, home):
    """new-api reading the model's SSE answer as JSON: billed upstream, 500 bad_response_body."""
    srv.fault = "stream_unread"
    with pytest.raises(errors.ServerError) as info:
        Service().edit(edit_request(stream=True, partial_images=1))
    assert len(srv.requests) == 1 and info.value.may_be_billed
    assert "streaming previews are now off" in str(info.value)
    assert "no_stream" in configmod.quirks(configmod.load(), srv.base_url)
    outcome = Service().edit(edit_request(stream=True, partial_images=1))  # the next run
    assert len(srv.requests) == 2 and srv.requests[1].field("stream") is None
    assert len(outcome.images) == 1


def test_refuse_stream_on_edits(srv, home):
    srv.fault = "refuse_stream"
    outcome = Service().edit(edit_request(stream=True, partial_images=1))
    assert len(srv.requests) == 2 and srv.requests[1].field("stream") is None
    assert sorted(history_bytes(home)) == sorted(srv.responses) == [outcome.images[0].data]


def test_parallel_partial_failure_keeps_the_rest(srv, home):
    configmod.remember_quirk(srv.base_url, "no_n")
    srv.fault, srv.fault_count = "server_error", 1
    outcome = Service().generate(gen(n=3))
    assert len(outcome.images) == 2 and len(srv.requests) == 3
    assert outcome.failures and "1 of 3" in outcome.failures[0] and not outcome.warnings
    assert_no_key(*outcome.failures)


def test_refusals_are_not_retried_when_the_quirk_does_not_apply(srv, home):
    srv.fault = "refuse_n"
    Service().generate(gen())  # n=1: nothing to refuse
    assert len(srv.requests) == 1
    assert configmod.quirks(configmod.load(), srv.base_url) == set()


# --- utf-8 prompts --------------------------------------------------------------------------
PROMPTS = ["一只戴着宇航员头盔的橘猫，水彩风格", "a rocket 🚀 over 海 🌊, \"quoted\" & <tagged>"]


@pytest.mark.parametrize("prompt", PROMPTS, ids=["chinese", "emoji-mixed"])
def test_utf8_prompts_end_to_end(prompt, srv, home):
    Service().generate(gen(prompt=prompt))
    assert srv.requests[0].json["prompt"] == prompt
    Service().edit(edit_request(prompt=prompt))
    assert srv.requests[1].field("prompt") == prompt
    assert {e.meta["prompt"] for e in history_entries(home)} == {prompt}


def test_outcome_prices_the_usage(srv, home):
    outcome = Service().generate(gen(quality="high", size="1024x1024"))
    assert outcome.usage["output_tokens"] == 4160
    assert outcome.price == pytest.approx(
        (outcome.usage["input_tokens"] * 5.0 + 4160 * 40.0) / 1e6, rel=1e-6)
    assert outcome.currency == "USD"


@pytest.mark.parametrize("sizes", [[(1024, 1024)], [(1100, 1024), (512, 512)], [(300, 2000)]],
                         ids=["one-tile", "two-images", "tall"])
def test_the_estimate_before_an_edit_is_what_the_fake_bills(sizes, srv1, home):
    from bianxie_core import cost

    request = edit_request(images=[image_file(product("coffee.png", size)) for size in sizes],
                           quality="low", size="1024x1024")
    service = Service()
    estimate = cost.estimate_request(service.model(request.model), request)
    outcome = service.edit(request)
    assert (estimate.input_tokens, estimate.output_tokens) == (
        outcome.usage["input_tokens"], outcome.usage["output_tokens"])
    assert estimate.price == pytest.approx(outcome.price)


def test_history_cap_drops_only_imported_entries_before_a_run(srv1, home):
    old = History(home / "history")
    imported = [old.record(b"\x89PNG\r\n\x1a\n" + bytes(300_000), {"prompt": "old"})
                for _ in range(4)]
    pending = old.record(b"\x89PNG\r\n\x1a\n" + bytes(300_000), {"prompt": "unpaid-for-import"})
    for entry in imported:
        old.mark_imported(entry.id)
    cfg = configmod.load()
    cfg.history_cap_mb = 1
    Service(cfg).generate(gen())
    ids = {e.id for e in history_entries(home)}
    assert pending.id in ids  # never deleted before it reached an image
    assert len(ids & {e.id for e in imported}) < len(imported)  # the cap removed some
    assert History(home / "history").size() <= 2**20 + 300_000 + len(srv1.responses[0])


def test_a_stream_the_relay_cannot_pass_on_stays_a_billed_error_if_the_config_cannot_be_saved(
        srv, home, monkeypatch):
    srv.fault = "stream_unread"

    def cannot_save(*a, **kw):
        raise errors.ConfigError("the config file cannot be written")

    monkeypatch.setattr(configmod, "remember_quirk", cannot_save)
    with pytest.raises(errors.ServerError) as info:
        Service().edit(edit_request(stream=True, partial_images=1))
    assert info.value.may_be_billed and "streaming previews" in str(info.value)


def test_retries_never_resend_a_stream_the_relay_cannot_pass_on(srv, home):
    srv.fault = "stream_unread"
    with pytest.raises(errors.ServerError):
        Service(retries=2).edit(edit_request(stream=True, partial_images=1))
    assert len(srv.requests) == 1


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "refused-n"])
def test_the_settings_estimate_counts_the_single_requests_the_fake_bills(stream, srv1, home):
    """Issue 17: a streamed n = 3 edit (or one on a relay that refuses n > 1) goes out as three
    requests, each billing the input again; the dialogs' estimate says so."""
    from bianxie_core.edit_settings import EditSettings
    from bianxie_core.service import requests_for

    srv1.fault = "refuse_n"
    if not stream:
        configmod.remember_quirk(srv1.base_url, "no_n")
    settings = EditSettings(prompt="a red cup", model="gpt-image-1", size="1024x1024",
                            quality="low", n=3, stream=stream)
    cfg = configmod.load()
    requests = requests_for(cfg, settings.n, settings.stream)
    estimate = settings.estimate(Service(cfg).model(settings.model), edit=True,
                                 requests=requests)
    request = edit_request(images=[image_file(product("coffee.png", (1024, 1024)))],
                           prompt=settings.prompt, model="gpt-image-1", size="1024x1024",
                           quality="low", n=3, stream=True if stream else None,
                           partial_images=1 if stream else None)
    outcome = Service().edit(request)
    assert requests == 3 and len(srv1.requests) == 3
    assert (estimate.input_tokens, estimate.output_tokens) == (
        outcome.usage["input_tokens"], outcome.usage["output_tokens"])
    assert estimate.price == pytest.approx(outcome.price)
