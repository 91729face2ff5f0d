from __future__ import annotations

import pytest

from bianxie_core import cost
from bianxie_core.errors import UsageError
from bianxie_core.models import get_model

# A real edit: one 1024² input image, low quality, 1024² output (reference §2).
REAL_USAGE = {
    "input_tokens": 219,
    "input_tokens_details": {"text_tokens": 25, "image_tokens": 194},
    "output_tokens": 272,
    "total_tokens": 491,
}


@pytest.fixture(autouse=True)
def english(monkeypatch):
    monkeypatch.setenv("LANGUAGE", "en")


@pytest.mark.parametrize(
    "quality, size, tokens",
    [
        ("low", "1024x1024", 272),
        ("low", "1024x1536", 408),
        ("low", "1536x1024", 400),
        ("medium", "1024x1024", 1056),
        ("medium", "1024x1536", 1584),
        ("medium", "1536x1024", 1568),
        ("high", "1024x1024", 4160),
        ("high", "1024x1536", 6240),
        ("high", "1536x1024", 6208),
    ],
    ids=lambda v: str(v),
)
def test_output_token_table(quality, size, tokens):
    result = cost.estimate(get_model("gpt-image-1"), size, quality)
    assert result.output_tokens == tokens
    assert result.input_tokens == 0
    assert not result.estimated and result.notes == ()


@pytest.mark.parametrize(
    "model, price",
    [("gpt-image-1", 0.01088), ("gpt-image-1-mini", 0.002176), ("gpt-image-1.5", 0.008704)],
    ids=["gpt-image-1", "mini", "1.5"],
)
def test_seed_prices_low_square(model, price):
    result = cost.estimate(get_model(model), "1024x1024", "low")
    assert result.price == pytest.approx(price)
    assert result.currency == "USD"


@pytest.mark.parametrize("n", [1, 2, 10], ids=["n1", "n2", "n10"])
def test_n_multiplies_output(n):
    result = cost.estimate(get_model("gpt-image-1"), "1536x1024", "high", n)
    assert result.output_tokens == 6208 * n
    assert result.price == pytest.approx(6208 * n * 40 / 1e6)


def test_input_billed_once_per_request():
    model = get_model("gpt-image-1")
    one = cost.estimate(model, "1024x1024", "low", 4, input_images=[(1024, 1024)], prompt="x")
    split = cost.estimate(
        model, "1024x1024", "low", 4, input_images=[(1024, 1024)], prompt="x", requests=4
    )
    assert split.output_tokens == one.output_tokens
    assert split.input_tokens == 4 * one.input_tokens


@pytest.mark.parametrize(
    "size, quality, tokens, fragment",
    [
        ("2048x1152", "medium", 2376, "2048x1152 are not published"),
        ("1024x1024", "auto", 1056, "quality auto is counted as medium"),
        ("auto", "low", 272, "size auto is counted as 1024x1024"),
        ("3840x2160", "low", 2152, "scaled by area"),
    ],
    ids=["free-size", "quality-auto", "size-auto", "free-size-4k"],
)
def test_guesses_are_marked(size, quality, tokens, fragment):
    result = cost.estimate(get_model("gpt-image-1"), size, quality)
    assert result.output_tokens == tokens
    assert result.estimated
    assert any(fragment in note for note in result.notes)
    assert fragment in result.format()


@pytest.mark.parametrize(
    "model, fragment",
    [
        ("gpt-image-2", "third-party"),
        ("gpt-image-9-future", "not in the model table"),
    ],
    ids=["price-estimated", "unknown-model"],
)
def test_model_price_guesses_marked(model, fragment):
    result = cost.estimate(get_model(model), "1024x1024", "low")
    assert result.estimated
    assert any(fragment in note for note in result.notes)


def test_price_override_removes_third_party_note():
    prices = {"gpt-image-2": {"text_in": 1, "image_in": 1, "image_out": 10}}
    result = cost.estimate(get_model("gpt-image-2"), "1024x1024", "low", prices=prices)
    assert not result.estimated
    assert result.price == pytest.approx(272 * 10 / 1e6)


@pytest.mark.parametrize(
    "size, tokens",
    [
        ((1024, 1024), 194),
        ((1100, 1024), 323),
        ((1536, 1024), 323),
        ((451, 300), 194),
        ((4096, 4096), 194),
        ((2048, 512), 581),
        ((512, 2048), 581),
    ],
    ids=[
        "1024-square",
        "slightly-larger",
        "landscape",
        "small-not-upscaled",
        "huge-square",
        "wide-4-tiles",
        "tall-4-tiles",
    ],
)
def test_input_image_tokens(size, tokens):
    assert cost.input_image_tokens(*size) == tokens


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("", 0),
        ("abcd" * 10, 10),
        ("abcde", 2),
        ("一只戴帽子的猫", 7),
        ("a cat 一只猫", 5),
        ("ＡＢＣ", 3),
    ],
    ids=["empty", "ascii", "ascii-rounded-up", "chinese", "mixed", "fullwidth"],
)
def test_text_tokens(text, tokens):
    assert cost.text_tokens(text) == tokens


def test_edit_estimate_matches_real_usage_closely():
    # The real edit billed 25 text + 194 image tokens; 32 per image + a short prompt ≈ 25.
    result = cost.estimate(
        get_model("gpt-image-1"), "1024x1024", "low", input_images=[(1024, 1024)]
    )
    assert result.input_tokens == 32 + 194
    assert result.price == pytest.approx((32 * 5 + 194 * 10 + 272 * 40) / 1e6)


@pytest.mark.parametrize(
    "model, fidelity, image_tokens, estimated",
    [
        ("gpt-image-1", None, 194, False),
        ("gpt-image-1", "low", 194, False),
        ("gpt-image-1", "high", 3050, True),
        ("gpt-image-1-mini", "high", 194, False),  # mini ignores input_fidelity
    ],
    ids=["default", "low", "high", "mini-high-ignored"],
)
def test_input_fidelity(model, fidelity, image_tokens, estimated):
    result = cost.estimate(
        get_model(model), "1024x1024", "low", input_images=[(1024, 1024)], input_fidelity=fidelity
    )
    assert result.input_tokens == 32 + image_tokens
    assert result.estimated is estimated
    assert any("input_fidelity" in note for note in result.notes) is estimated


@pytest.mark.parametrize(
    "size, quality, n",
    [("1024x1024", "ultra", 1), ("big", "low", 1), ("1024x1024", "low", 0)],
    ids=["bad-quality", "bad-size", "n-zero"],
)
def test_bad_input_refused(size, quality, n):
    with pytest.raises(UsageError):
        cost.estimate(get_model("gpt-image-1"), size, quality, n)


def test_price_overrides_and_currency():
    prices = {"gpt-image-1": {"image_out": 280}}  # e.g. CNY per 1M tokens
    result = cost.estimate(
        get_model("gpt-image-1"), "1024x1024", "low", prices=prices, currency="CNY"
    )
    assert result.price == pytest.approx(272 * 280 / 1e6)
    assert result.format() == "≈ 272 output tokens ≈ 0.0762 CNY"


def test_price_override_must_be_a_number():
    with pytest.raises(UsageError, match="image_out"):
        cost.estimate(
            get_model("gpt-image-1"), "1024x1024", "low", prices={"gpt-image-1": {"image_out": "x"}}
        )


def test_format_with_input_and_notes():
    result = cost.estimate(get_model("gpt-image-1.5"), "1024x1024", "auto", prompt="p" * 1000)
    assert result.input_tokens == 250
    assert result.format() == (
        "≈ 1,056 output tokens + 250 input tokens ≈ $0.0350 "
        "(estimate: quality auto is counted as medium)"
    )


@pytest.mark.parametrize(
    "value, currency, text",
    [
        (0.01088, "USD", "$0.0109"),
        (0.002176, "USD", "$0.0022"),
        (0.0004, "USD", "$0.000400"),
        (0, "USD", "$0.0000"),
        (12.3, "CNY", "12.30 CNY"),
        (1234.5, "usd", "$1,234.50"),
        (0.5, "EUR", "0.5000 EUR"),
    ],
    ids=["cents", "fraction-of-cent", "tiny", "zero", "cny", "thousands", "eur"],
)
def test_format_price(value, currency, text):
    assert cost.format_price(value, currency) == text


@pytest.mark.parametrize(
    "model, usage, price",
    [
        ("gpt-image-1", REAL_USAGE, (25 * 5 + 194 * 10 + 272 * 40) / 1e6),
        ("gpt-image-1-mini", REAL_USAGE, (25 * 2 + 194 * 2.5 + 272 * 8) / 1e6),
        ("gpt-image-1", {"input_tokens": 219, "output_tokens": 272}, (219 * 5 + 272 * 40) / 1e6),
        (
            "gpt-image-1",
            {
                "input_tokens": 230,
                "input_tokens_details": {"image_tokens": 194},
                "output_tokens": 272,
            },
            (36 * 5 + 194 * 10 + 272 * 40) / 1e6,
        ),
        (
            "gpt-image-1",
            {"prompt_tokens": 219, "completion_tokens": 272},
            (219 * 5 + 272 * 40) / 1e6,
        ),
        ("gpt-image-1", None, 0.0),
        ("gpt-image-1", {"input_tokens": "x", "output_tokens": None}, 0.0),
    ],
    ids=[
        "real-usage",
        "real-usage-mini",
        "no-details",
        "partial-details",
        "chat-style",
        "no-usage",
        "garbage",
    ],
)
def test_actual(model, usage, price):
    assert cost.actual(get_model(model), usage) == pytest.approx(price)


def test_actual_with_override():
    prices = {"gpt-image-1": {"text_in": 0, "image_in": 0, "image_out": 100}}
    assert cost.actual(get_model("gpt-image-1"), REAL_USAGE, prices=prices) == pytest.approx(
        272 * 100 / 1e6
    )


def test_notes_join_with_the_languages_punctuation(monkeypatch):
    estimate = cost.Estimate(output_tokens=1, input_tokens=0, price=0.0, currency="USD",
                             estimated=True, notes=("a", "b"))
    assert estimate.format().endswith("(estimate: a; b)")
    monkeypatch.setenv("LANGUAGE", "zh_CN")  # the catalogue is chosen per language
    assert "a；b" in estimate.format() and "; " not in estimate.format()


def test_over_limit_says_why_in_one_sentence_for_the_cli_and_the_plugin():
    """Unknown price, a floor (xhigh/max counted as high) under the limit, a price above it."""
    known = cost.Estimate(1000, 100, 0.5, "USD", False)
    assert known.over_limit(0.2).startswith("This run may cost")
    floor = cost.Estimate(1000, 100, 0.1, "USD", True, open_ended=True)
    assert not floor.within(0.2)
    assert floor.over_limit(0.2).startswith("This run costs at least")
    unknown = cost.Estimate(0, 0, 0.0, "USD", True, price_known=False)
    assert unknown.over_limit(0.2).startswith("The price of this run is unknown")
