"""Red team of issue 15's doors: answers, ids, parameters, money and secrets as real relays
and models give them, each against the fake made messier where the relay is."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from bianxie_core import cost, errors, families, models
from bianxie_core.params import GenerateRequest
from bianxie_core.service import Service

GEMINI = "gemini-3-pro-image-preview"


def png(w=64, h=48, colour=(10, 120, 30), fmt="PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), colour).save(out, fmt)
    return out.getvalue()


def durl(data: bytes, ctype="image/png") -> str:
    return "data:%s;base64,%s" % (ctype, base64.b64encode(data).decode())


def chat(content, finish="stop", **message):
    def choice(data, handler):
        body = content(data, handler) if callable(content) else content
        return {"index": 0, "message": dict({"role": "assistant", "content": body}, **message),
                "finish_reason": finish}
    return choice


def run(prompt="a cat", model=GEMINI, **kw):
    return Service().generate(GenerateRequest(prompt=prompt, model=model, **kw))


# --- money ---------------------------------------------------------------------------------
def test_cli_report_of_a_model_without_price_says_price_unknown_not_zero(srv1, tmp_path,
                                                                          capsys):
    from tests.test_client import run_cli

    code, _out, err = run_cli(["generate", "-m", GEMINI, "-o", str(tmp_path / "a.png"),
                               "-p", "a cat"], capsys)
    assert code == 0, err
    assert "1292 tokens" in err and "price unknown" in err
    assert "$0.0" not in err


def test_worker_status_of_a_model_without_price_says_price_unknown_in_the_plugin(srv1, home):

    from bianxie_core import worker
    from bianxie_core.jobs import Job
    from tests.test_plugin_modules import run_stubbed

    status = worker.run(Job.create(GenerateRequest(prompt="a cat", model=GEMINI)))
    assert status.state == "done" and status.usage and status.price_known is False
    text = run_stubbed(
        "import waiting, json\n"
        "from bianxie_core.job_folder import JobStatus\n"
        "waiting.session_total = lambda: 0.0\n"
        "print(waiting.usage_text(JobStatus(usage={'total_tokens': 1292}, price=0.0, "
        "currency='USD', price_known=False)))\n", LANGUAGE="en")
    assert text.returncode == 0, text.stderr
    assert "1292 tokens" in text.stdout and "price unknown" in text.stdout.lower()
    assert "$0.0" not in text.stdout


# --- unknown ids as relays list them -------------------------------------------------------
@pytest.mark.parametrize("name, family", [
    ("google/gemini-2.5-flash-image", "gemini-image"),
    ("black-forest-labs/flux-kontext-pro", "flux-kontext"),
    ("qwen/qwen-image-edit", "qwen-image-edit"),
    ("openai/gpt-image-1", "gpt-image"),
    ("bytedance/doubao-seedream-4-0-250828", "seedream"),
    ("GOOGLE/Gemini-3-Pro-Image-Preview", "gemini-image"),
    ("google/gemini-2.5-flash", None),  # a chat model with no image: still unplaced
])
def test_ids_with_a_provider_prefix_are_placed_by_their_own_name(name, family):
    placed = families.by_pattern(name)
    assert (placed.name if placed else None) == family


@pytest.mark.parametrize("quality", ["xhigh", "max"])
def test_gpt_image_25_with_a_price_set_estimates_xhigh_and_max(home, capsys, quality):
    from bianxie_core import config as configmod
    from tests.test_client import run_cli

    cfg = configmod.load()
    cfg.prices = {"gpt-image-2.5": {"text_in": 5, "image_in": 8, "image_out": 40}}
    configmod.save(cfg)
    high = cost.estimate(models.get_model("gpt-image-2.5"), "1024x1024", "high",
                         prices=cfg.prices)
    same = cost.estimate(models.get_model("gpt-image-2.5"), "1024x1024", quality,
                         prices=cfg.prices)
    assert same.price >= high.price > 0 and same.estimated
    code, out, err = run_cli(["cost", "-m", "gpt-image-2.5", "-q", quality, "-s",
                              "1024x1024"], capsys)
    assert code == 0, err
    assert "$" in out and quality in out


# --- chat answers --------------------------------------------------------------------------
def test_every_image_of_a_chat_answer_is_in_the_history_the_last_is_the_answer(srv1, home):
    draft, final = png(colour=(1, 2, 3)), png(colour=(200, 0, 0))
    srv1.chat_choice = chat("a first try ![a](%s) and the final one\n![b](%s)"
                            % (durl(draft), durl(final)))
    outcome = run()
    assert [image.data for image in outcome.images] == [final] and not outcome.warnings
    kept = {entry.image_path.read_bytes(): entry for entry in Service().history.entries()}
    assert set(kept) == {draft, final}  # both were paid for (completion image tokens)
    assert kept[draft].meta.get("draft") and not kept[final].meta.get("draft")


def test_a_chat_image_cut_off_by_the_token_limit_is_kept_and_said_plainly(srv1, home):
    srv1.chat_choice = chat(lambda data, handler: "Here it is: ![image](%s"
                            % durl(data)[:-4000], finish="length")
    with pytest.raises(errors.ResponseError) as caught:
        run()
    message = str(caught.value)
    assert "cut off" in message and "base64," not in message and "iVBOR" not in message
    assert [e.meta.get("broken") for e in Service().history.entries()] == ["image"]


def test_a_chat_answer_streamed_though_not_asked_still_gives_its_image(srv1, home):
    srv1.chat_streams = True
    outcome = run()
    assert [image.data for image in outcome.images] == srv1.responses
    assert outcome.usage["output_tokens"] == 1290
    assert len(Service().history.entries()) == 1


# --- parameters a family does not take: refused before sending, never dropped on the way -------
@pytest.mark.parametrize("model", [GEMINI, "doubao-seedream-4-5-251128", "flux-kontext-pro"])
@pytest.mark.parametrize("field, value", [("background", "transparent"),
                                          ("background", "opaque"), ("moderation", "low")])
def test_openai_only_options_for_another_family_are_refused_before_sending(
        srv1, home, model, field, value):
    with pytest.raises(errors.UsageError) as caught:
        run(model=model, **{field: value})
    assert field in str(caught.value) and model in str(caught.value)
    assert not srv1.requests


def test_auto_background_and_quality_are_what_every_family_takes(srv1, home):
    assert run(background="auto").images


# --- a door set in the config ----------------------------------------------------------------
def test_a_door_set_for_a_model_of_the_table_is_the_door_it_goes_through(srv1, home, capsys,
                                                                          tmp_path):
    from tests.test_client import run_cli

    code, out, err = run_cli(["config", "set", "door", "gpt-image-2=chat"], capsys)
    assert code == 0, err
    spec = Service().model("gpt-image-2")
    assert spec.family.door == "chat" and "chat door" in out
    run_cli(["generate", "-m", "gpt-image-2", "-p", "a cat", "-o", str(tmp_path / "a.png")],
            capsys)
    assert srv1.requests[-1].path == "/v1/chat/completions"  # said and done alike


def test_a_gemini_model_set_to_the_images_door_is_not_priced_as_gpt_image(home, capsys):
    from tests.test_client import run_cli

    assert run_cli(["config", "set", "door", GEMINI + "=images"], capsys)[0] == 0
    code, out, err = run_cli(["cost", "-m", GEMINI, "-n", "3"], capsys)
    assert code == 0, err
    assert "price unknown" in out and "$" not in out


# --- URL answers -----------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["flux-kontext-pro", "doubao-seedream-4-5-251128"])
def test_a_url_answer_is_fetched_again_when_the_object_store_says_slow_down(srv1, home, model):
    srv1.download_503 = 2
    outcome = run(model=model)
    assert [image.data for image in outcome.images] == srv1.responses
    assert len(srv1.requests) == 1 and len(Service().history.entries()) == 1


def test_a_seedream_batch_with_failed_and_html_items_keeps_and_writes_the_good_one(
        srv1, home, capsys, tmp_path):
    from tests.test_client import run_cli

    failed = {"error": {"code": "OutputImageSensitiveContentDetected",
                        "message": "The output image may contain sensitive information."}}
    srv1.seedream_batch = lambda item, handler: [
        failed, item, handler._url_item(b"<html>AccessDenied</html>", "png")]
    code, _out, err = run_cli(["generate", "-m", "doubao-seedream-4-5-251128", "-p", "a cat",
                               "-o", str(tmp_path / "a.png")], capsys)
    assert code == 1 and "sensitive information" in err and "web page" in err
    assert (tmp_path / "a.png").exists() and "<html" not in err
    kept = Service().history.entries()
    assert sorted(bool(e.meta.get("broken")) for e in kept) == [False, True]
    assert len(srv1.requests) == 1


def test_a_cost_limit_is_not_passed_silently_by_a_run_whose_price_is_unknown(srv1, home,
                                                                              capsys, tmp_path):
    from tests.test_client import run_cli

    assert run_cli(["config", "set", "cost-confirm-above", "0.05"], capsys)[0] == 0
    code, _out, err = run_cli(["generate", "-m", GEMINI, "-n", "4", "-p", "a cat",
                               "-o", str(tmp_path / "a.png")], capsys)
    assert code != 0 and "price unknown" in err and "--yes" in err
    assert not srv1.requests
    code, _out, err = run_cli(["generate", "-m", GEMINI, "-n", "2", "-p", "a cat", "--yes",
                               "-o", str(tmp_path / "a.png")], capsys)
    assert code == 0, err
    assert len(srv1.requests) == 2


def test_the_plugin_asks_before_a_run_whose_price_is_unknown_when_a_limit_is_set(home):

    from bianxie_core import config as configmod
    from tests.test_plugin_modules import plugin_confirms

    cfg = configmod.load()
    cfg.cost_confirm_above = 0.05
    configmod.save(cfg)
    unknown = "cost.Estimate(0, 0, 0.0, 'USD', True, (), price_known=False)"
    # asked; the stub's answer is not "Run"
    assert plugin_confirms(home, unknown) == ["False", "True"]


@pytest.mark.parametrize("model, n", [("qwen-image-edit-plus", 2), (GEMINI, 3)])
def test_the_dialog_estimate_and_bianxie_cost_agree_for_a_family_without_streaming(
        home, capsys, model, n):

    from tests.test_client import run_cli
    from tests.test_plugin_modules import run_stubbed

    out = run_stubbed(
        "import dialogs\nfrom unittest import mock\n"
        "from bianxie_core.edit_settings import EditSettings\n"
        "config = mock.MagicMock()\nconfig.find_property.return_value = None\n"
        "settings = EditSettings(model=%r, n=%d, stream=True, prompt='a cat')\n"
        "print(dialogs.estimate_for(config, stored=(settings, False)).format())\n" % (model, n),
        BIANXIE_HOME=str(home), LANGUAGE="en")
    assert out.returncode == 0, out.stderr
    _code, said, err = run_cli(["cost", "-m", model, "-n", str(n)], capsys)
    assert "price unknown" in said, err
    assert "1 requests" not in said and "1 request," not in said  # "in one request"
    assert said.split("\n", 1)[1].replace("  estimate: ", "").split("\n")[0] in out.stdout


# --- answers at an aspect nobody asked for ----------------------------------------------------
def test_a_gemini_answer_at_another_aspect_keeps_the_outside(
        srv1, photo_and_selection, tmp_path, capsys):
    import numpy as np

    from bianxie_core.planning import DEFAULT_FEATHER, DEFAULT_GROW
    from tests.test_cli_families import outside_selection
    from tests.test_client import run_cli

    srv1.gemini_square = True
    photo, selection = photo_and_selection
    code, _out, err = run_cli(["inpaint", "--image", str(photo), "--selection", str(selection),
                               "-p", "a red cup", "-m", GEMINI, "-o",
                               str(tmp_path / "out.png"), "--quiet"], capsys)
    assert code == 0, err
    result = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    original = np.asarray(Image.open(photo).convert("RGB"))
    keep = outside_selection(original.shape, DEFAULT_GROW + DEFAULT_FEATHER)
    assert np.array_equal(result[keep], original[keep])
    centre = result[195:205, 295:305].astype(int)
    assert np.abs(centre - [255, 0, 255]).max() < 60


def noisy_png(side: int) -> bytes:
    import numpy as np

    pixels = np.random.default_rng(7).integers(0, 255, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", compress_level=1)
    return out.getvalue()


def test_a_huge_data_url_in_a_content_part_is_the_image_not_a_link(srv1, home):
    big = noisy_png(2400)  # a 4K-class answer: the JSON is over 16 MiB, kept in a spool file
    assert len(big) * 4 / 3 > 16 * 2**20
    srv1.chat_choice = chat([{"type": "text", "text": "Here it is."},
                             {"type": "image_url", "image_url": {"url": durl(big)}}])
    outcome = run()
    assert [image.data for image in outcome.images] == [big]


def test_raw_base64_in_an_image_url_part_is_the_image(srv1, home):
    # a relay fork whose upload of the image to its store failed puts the bare base64 there
    srv1.chat_choice = chat(lambda data, handler: [
        {"type": "text", "text": ""},
        {"type": "image_url", "image_url": {"url": base64.b64encode(data).decode(),
                                            "mime_type": "image/png"}}])
    outcome = run()
    assert [image.data for image in outcome.images] == srv1.responses


# --- secrets -------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["message", "param", "code", "type", "title", "header"])
@pytest.mark.parametrize("model", [GEMINI, "doubao-seedream-4-5-251128", "flux-kontext-pro"])
def test_a_relay_echoing_the_key_on_any_door_never_shows_it(srv1, home, field, model):
    from tests.core_fixtures import KEY

    srv1.echo_key = field
    with pytest.raises(errors.BianxieError) as caught:
        run(model=model)
    assert KEY not in str(caught.value) and KEY[3:20] not in str(caught.value)
    for path in home.rglob("*"):
        if path.is_file() and path.name != "config.json":
            assert KEY.encode() not in path.read_bytes(), path


def test_the_key_is_in_no_chat_request_body_nor_url(srv1, home):
    from tests.core_fixtures import KEY

    run(prompt="a cat")
    (sent,) = srv1.requests
    assert KEY.encode() not in sent.body and KEY not in sent.path
    assert sent.headers["Authorization"] == "Bearer " + KEY


# --- sizes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("size, sent", [("4096x4096", "4096x4096"), ("1024x1024", "2048x2048"),
                                        ("3840x2160", None), ("5000x2142", None)])
def test_a_seedream_size_keeps_its_resolution_step_within_the_model_limit(srv1, home, size,
                                                                          sent):
    import json

    from bianxie_core.models import parse_size

    try:
        run(model="doubao-seedream-4-5-251128", size=size)
    except errors.UsageError:
        assert not srv1.requests  # a size it cannot take: refused before sending
        return
    got = json.loads(srv1.requests[-1].body)["size"]
    w, h = parse_size(got)
    asked_w, asked_h = parse_size(size)
    if sent:
        assert got == sent
    assert w * h <= 4096 * 4096
    assert w * h >= 0.5 * min(asked_w * asked_h, 4096 * 4096)  # not a lower step silently


def test_a_streamed_chat_answer_blocked_by_the_safety_filter_says_so(srv1, home):
    srv1.chat_streams, srv1.chat_fault = True, "content_filter"
    with pytest.raises(errors.ModerationError):
        run()
    assert not Service().history.entries()


def test_a_chat_image_in_the_url_safe_base64_alphabet_is_read(srv1, home):
    srv1.chat_choice = chat(lambda data, handler: "![image](data:image/png;base64,%s)"
                            % base64.urlsafe_b64encode(data).decode())
    assert [image.data for image in run().images] == srv1.responses


def test_a_text_only_answer_quoting_other_media_shows_no_base64(srv1, home):
    import re

    srv1.chat_choice = chat("No picture, sorry. [media](data:audio/wav;base64,%s)"
                            % base64.b64encode(b"\0" * 3000).decode())
    with pytest.raises(errors.ResponseError) as caught:
        run()
    assert "No picture, sorry." in str(caught.value)
    assert not re.search(r"[A-Za-z0-9+/]{40}", str(caught.value))


@pytest.mark.parametrize("shape", ["url", "image_url_string", "b64_json"])
def test_message_images_in_the_shapes_other_relays_use_are_read(srv1, home, shape):
    def images(data):
        if shape == "url":
            return [{"type": "image", "url": durl(data)}]
        if shape == "image_url_string":
            return [{"type": "image_url", "image_url": durl(data)}]
        return [{"type": "image", "b64_json": base64.b64encode(data).decode()}]

    srv1.chat_choice = lambda data, handler: {
        "index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "", "images": images(data)}}
    assert [image.data for image in run().images] == srv1.responses


@pytest.mark.parametrize("model, size, per_image", [
    ("doubao-seedream-4-5-251128", "2048x2048", 16384),  # Ark: output_tokens = w × h / 256
    ("doubao-seedream-4-5-251128", "4K", 65536),
    (GEMINI, "1536x1024", 1290), (GEMINI, "4096x4096", 2000)])
def test_a_priced_family_is_estimated_by_its_own_output_tokens_as_its_usage_bills(
        srv1, home, model, size, per_image):
    prices = {model: {"text_in": 1, "image_in": 1, "image_out": 30}}
    spec = models.get_model(model)
    estimate = cost.estimate(spec, size, "auto", 2, prices=prices)
    assert estimate.output_tokens == 2 * per_image
    assert "medium" not in " ".join(estimate.notes)  # no gpt-image quality rule
    if model == GEMINI:
        outcome = run(model=model, size=size)
        assert outcome.usage["output_tokens"] == per_image  # what the fake bills, as the relay
