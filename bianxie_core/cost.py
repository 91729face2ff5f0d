"""Token and price estimates before a run, and the actual price of a returned ``usage``.

Output tokens for the three standard sizes are the published table. Everything else is a
guess, and the estimate says which part:

* free sizes (gpt-image-2): the 1024x1024 count scaled by pixel area;
* quality/size ``auto``: counted as medium / 1024x1024; gpt-image-2.5's xhigh/max as high;
* input images: ``65 + 129 × tiles`` of 512 px, after scaling the shorter side down to 512 px.
  This is fitted to measured usage (a 1024² input bills 194 image tokens, one tile; a slightly
  larger one 323, two tiles), not the 2048²-then-768 px rule of OpenAI's vision models, which
  would give 581 for 1024². Each input image also adds about 32 text tokens;
* ``input_fidelity=high``: not published; a third-party figure of about 3,050 tokens per input
  image is used instead of the tile count.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from bianxie_core.errors import UsageError
from bianxie_core.i18n import _, ngettext
from bianxie_core.models import ModelSpec, Price, parse_size
from bianxie_core.params import ABOVE_HIGH  # gpt-image-2.5's levels: no published token counts

QUALITIES = ("low", "medium", "high")
OUTPUT_TOKENS = {
    ("low", "1024x1024"): 272,
    ("low", "1024x1536"): 408,
    ("low", "1536x1024"): 400,
    ("medium", "1024x1024"): 1056,
    ("medium", "1024x1536"): 1584,
    ("medium", "1536x1024"): 1568,
    ("high", "1024x1024"): 4160,
    ("high", "1024x1536"): 6240,
    ("high", "1536x1024"): 6208,
}
SQUARE = "1024x1024"

INPUT_TILE = 512  # px
INPUT_BASE_TOKENS = 65
INPUT_TILE_TOKENS = 129
INPUT_TEXT_TOKENS_PER_IMAGE = 32
HIGH_FIDELITY_IMAGE_TOKENS = 3050  # fal.ai's figure for a 1024² input; not published


@dataclass(frozen=True)
class Estimate:
    output_tokens: int
    input_tokens: int
    price: float
    currency: str
    estimated: bool  # True when any part is a guess beyond the published token table
    notes: tuple = ()  # translated clauses saying what was guessed
    price_known: bool = True  # False: no price for the model (``price`` is then 0)
    open_ended: bool = False  # True: a floor (xhigh/max counted as high), it may cost more

    def within(self, limit: float) -> bool:
        """Whether this run can be shown to cost no more than ``limit``."""
        return self.price_known and not self.open_ended and self.price <= limit

    def over_limit(self, limit: float) -> str:
        """Why this run may cost more than ``limit`` (when not ``within`` it), in a sentence."""
        shown = {"estimate": self.format(), "limit": format_price(limit, self.currency)}
        if not self.price_known:
            return _("The price of this run is unknown ({estimate}), and you set a limit of "
                     "{limit}.").format(**shown)
        if self.open_ended and self.price <= limit:
            return _("This run costs at least {estimate} and may cost more than your limit "
                     "of {limit}.").format(**shown)
        return _("This run may cost {estimate}, more than your limit of {limit}.").format(
            **shown)

    def format(self) -> str:
        """``≈ 1,056 output tokens + 250 input tokens ≈ $0.0354 (estimate: …)``."""
        if not self.price_known:
            text = _("price unknown")
            return text + (" (" + _("; ").join(self.notes) + ")" if self.notes else "")
        text = "≈ " + ngettext(
            "{count} output token", "{count} output tokens", self.output_tokens
        ).format(count=f"{self.output_tokens:,}")
        if self.input_tokens:
            text += " + " + ngettext(
                "{count} input token", "{count} input tokens", self.input_tokens
            ).format(count=f"{self.input_tokens:,}")
        text += " ≈ " + format_price(self.price, self.currency)
        if self.notes:
            text += " (" + _("estimate: {notes}").format(notes=_("; ").join(self.notes)) + ")"
        return text


def format_price(value: float, currency: str) -> str:
    """``$0.0109`` for USD, ``12.30 CNY`` for any other currency."""
    if value >= 1:
        number = f"{value:,.2f}"
    elif value >= 0.001 or value == 0:
        number = f"{value:.4f}"
    else:
        number = f"{value:.6f}"
    currency = (currency or "USD").strip()
    return "$" + number if currency.upper() == "USD" else f"{number} {currency}"


def price_for(model: ModelSpec, prices: Optional[Mapping] = None) -> Price:
    """The model's price with the config's ``prices[model.name]`` fields laid over it."""
    override = (prices or {}).get(model.name) or {}
    if not isinstance(override, Mapping):
        override = {}
    values = {}
    for name in ("text_in", "image_in", "image_out"):
        value = override.get(name, getattr(model.price, name))
        try:
            values[name] = float(value)
        except (TypeError, ValueError):
            raise UsageError(
                _(
                    "The price {name} for {model} in the settings must be a number (per 1M "
                    "tokens): fix it with `bianxie config`."
                ).format(name=name, model=model.name)
            ) from None
    return Price(**values)


def text_tokens(text: str) -> int:
    """About 1 token per CJK (wide) character and 1 per 4 other characters."""
    wide = sum(1 for c in text if unicodedata.east_asian_width(c) in ("W", "F"))
    return wide + math.ceil((len(text) - wide) / 4)


def input_image_tokens(width: int, height: int) -> int:
    """Image tokens billed for one input image (see the module docstring for the rule)."""
    shorter = min(width, height)
    scale = min(1.0, INPUT_TILE / shorter) if shorter > 0 else 1.0
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    tiles = math.ceil(w / INPUT_TILE) * math.ceil(h / INPUT_TILE)
    return INPUT_BASE_TOKENS + INPUT_TILE_TOKENS * tiles


def _output_per_image(size: str, quality: str, notes: list) -> tuple:
    """(tokens per image, guessed?)"""
    quality = (quality or "auto").strip().lower()
    size = (size or "auto").strip().lower()
    guessed = False
    if quality == "auto":
        notes.append(_("quality auto is counted as medium"))
        quality, guessed = "medium", True
    elif quality in ABOVE_HIGH:
        notes.append(_("quality {quality} has no published token count: counted as high, "
                       "it may cost more").format(quality=quality))
        quality, guessed = "high", True
    elif quality not in QUALITIES:
        raise UsageError(
            _("quality must be low, medium, high or auto, not {value!r}.").format(value=quality)
        )
    if size == "auto":
        notes.append(_("size auto is counted as 1024x1024"))
        size, guessed = SQUARE, True
    if (quality, size) in OUTPUT_TOKENS:
        return OUTPUT_TOKENS[(quality, size)], guessed
    width, height = parse_size(size)
    notes.append(
        _("output tokens for {size} are not published: scaled by area from 1024x1024").format(
            size=size
        )
    )
    return round(OUTPUT_TOKENS[(quality, SQUARE)] * width * height / 1024**2), True


def estimate_request(model: ModelSpec, request, *, prices: Optional[Mapping] = None,
                     currency: str = "USD", requests: int = 1) -> Estimate:
    """What sending ``request`` (a GenerateRequest or an EditRequest) should cost, in
    ``requests`` HTTP requests (its n images one by one: the input is billed each time)."""
    return estimate(model, request.size or "auto", request.quality or "auto", request.n or 1,
                    input_images=[image.dimensions() for image in getattr(request, "images", ())],
                    prompt=request.prompt, input_fidelity=getattr(request, "input_fidelity", None),
                    prices=prices, currency=currency, requests=requests)


def estimate(
    model: ModelSpec,
    size: str,
    quality: str,
    n: int = 1,
    *,
    input_images: Sequence = (),
    prompt: str = "",
    input_fidelity: Optional[str] = None,
    prices: Optional[Mapping] = None,
    currency: str = "USD",
    requests: int = 1,
) -> Estimate:
    """Tokens and price of making ``n`` images.

    ``input_images``: (width, height) of each image sent to an edit. ``requests``: how many
    HTTP requests the n images are split into (a relay that refuses n>1); the input is billed
    once per request.
    """
    if n < 1 or requests < 1:
        raise UsageError(_("n must be at least 1, not {value}.").format(value=min(n, requests)))
    if model.family is not None and model.family.n != "native":
        requests = n  # a family without n: n requests, whoever counted them
    if model.price_unknown and not (prices or {}).get(model.name):
        return _unknown(model, n, requests, currency)
    notes: list = []
    own = model.family.output_tokens_for(size) if model.family is not None else 0
    if own:  # a family of its own billing: its own count, not gpt-image's quality table
        per_image, estimated = own, True
        notes.append(_("{count:,} output tokens per image, as {family} bills them").format(
            count=own, family=model.family.label))
    else:
        per_image, estimated = _output_per_image(size, quality, notes)
    output = per_image * n

    text_in = text_tokens(prompt or "") + INPUT_TEXT_TOKENS_PER_IMAGE * len(input_images)
    image_in = sum(input_image_tokens(w, h) for w, h in input_images)
    if input_images and (input_fidelity or "").lower() == "high" and model.input_fidelity:
        image_in = sum(
            max(input_image_tokens(w, h), HIGH_FIDELITY_IMAGE_TOKENS) for w, h in input_images
        )
        notes.append(
            _(
                "input_fidelity=high costs extra input tokens that are not published: about "
                "{count:,} per image assumed"
            ).format(count=HIGH_FIDELITY_IMAGE_TOKENS)
        )
        estimated = True
    text_in, image_in = text_in * requests, image_in * requests

    if not model.known and model.name not in (prices or {}):
        notes.append(
            _("{model} is not in the model table: priced like the newest model").format(
                model=model.name
            )
        )
        estimated = True
    elif model.price_estimated and model.name not in (prices or {}):
        notes.append(_("the prices of {model} are third-party figures").format(model=model.name))
        estimated = True

    price = price_for(model, prices)
    total = (price.text_in * text_in + price.image_in * image_in + price.image_out * output) / 1e6
    open_ended = not own and (quality or "").strip().lower() in ABOVE_HIGH
    return Estimate(output, text_in + image_in, total, currency, estimated, tuple(notes),
                    open_ended=open_ended)


def _unknown(model: ModelSpec, n: int, requests: int, currency: str) -> Estimate:
    """No price is known for ``model``: say so, and how it is billed, rather than guess."""
    family = model.family
    if family is None:
        notes = (_("{model} is not a model this program knows").format(model=model.name),)
    else:
        how = _("billed by tokens") if family.billing == "tokens" else _("billed per image")
        many = ngettext("{count} image in {requests} requests, {how}",
                        "{count} images in {requests} requests, {how}", n)
        one = ngettext("{count} image in one request, {how}",
                       "{count} images in one request, {how}", n)
        notes = ((one if requests == 1 else many).format(count=n, requests=requests, how=how),
            _("set its price with the prices setting to see an estimate"))
    return Estimate(0, 0, 0.0, currency, True, notes, price_known=False)


MAX_TOKENS = 2**53  # far above any image's usage; a larger count is a broken answer


def token_count(value) -> int:
    """A token count as a server may send it: a number or a numeric string; anything else
    (a list, an object, true, NaN, 1e400, a negative) counts 0. Never raises: usage is read
    after paying."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return 0
    if isinstance(value, (int, float)) and math.isfinite(value) and 0 < value < MAX_TOKENS:
        return int(value)
    return 0


def usage_tokens(usage: Optional[Mapping]) -> tuple:
    """(text_in, image_in, output) from a response's ``usage``; input without details is text.

    Relays that report chat-style ``prompt_tokens``/``completion_tokens`` are understood too.
    """
    if not isinstance(usage, Mapping):
        return 0, 0, 0
    total_in = token_count(usage.get("input_tokens", usage.get("prompt_tokens")))
    output = token_count(usage.get("output_tokens", usage.get("completion_tokens")))
    details = usage.get("input_tokens_details")
    if isinstance(details, Mapping) and details:
        text = token_count(details.get("text_tokens"))
        image = token_count(details.get("image_tokens"))
        text += max(0, total_in - text - image)
    else:
        text, image = total_in, 0
    return text, image, output


def actual(
    model: ModelSpec,
    usage: Optional[Mapping],
    *,
    prices: Optional[Mapping] = None,
    currency: str = "USD",
) -> float:
    """The price of a returned ``usage``, in the currency the prices are in."""
    text, image, output = usage_tokens(usage)
    price = price_for(model, prices)
    return (price.text_in * text + price.image_in * image + price.image_out * output) / 1e6
