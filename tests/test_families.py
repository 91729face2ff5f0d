"""Issue 15: the capability table per model family, where a model is placed, and what an
unknown id gets (a family, or one sentence asking for its door; never a request)."""

from __future__ import annotations

import json

import pytest

from bianxie_core import config as configmod
from bianxie_core import cost, families, models
from bianxie_core.errors import UsageError
from bianxie_core.params import GenerateRequest
from bianxie_core.service import Service, requests_for
from tests.test_client import run_cli


@pytest.mark.parametrize("model, family, door, mask", [
    ("gpt-image-1.5", "gpt-image", "images", "native"),
    ("gpt-image-2", "gpt-image-2", "images", "native"),
    ("gpt-image-2.5", "gpt-image-2.5", "images", "native"),
    ("gemini-2.5-flash-image", "gemini-image", "chat", "none"),
    ("gemini-3-pro-image-preview", "gemini-image", "chat", "none"),
    ("gemini-3.1-flash-image-preview", "gemini-image", "chat", "none"),
    ("doubao-seedream-4-5-251128", "seedream", "json", "none"),
    ("doubao-seedream-5-0", "seedream", "json", "none"),
    ("flux-kontext-pro", "flux-kontext", "images", "none"),
    ("FLUX.1-Kontext-max", "flux-kontext", "images", "none"),
    ("qwen-image-edit-plus", "qwen-image-edit", "images", "none"),
    ("gpt-image-9-future", "gpt-image-2", "images", "native"),
])
def test_a_model_is_placed_in_its_family_by_name(model, family, door, mask):
    spec = models.get_model(model)
    assert spec.family.name == family
    assert spec.family.door == door and spec.family.mask == mask


def test_every_family_is_complete_data():
    for family in families.FAMILIES.values():
        assert family.door in families.DOORS
        assert family.mask in ("native", "none")
        assert family.sizes in ("standard", "free", "aspect", "none")
        assert family.n in ("native", "parallel", "one")
        assert family.answer in ("b64", "url") and family.max_refs >= 1
        assert family.price in ("tokens", "unknown") and family.price_source
        if family.sizes == "aspect":
            assert family.aspect_ratios and family.wire
        assert families.patterns(family)


def test_gpt_image_25_takes_its_qualities_and_no_input_fidelity():
    spec = models.get_model("gpt-image-2.5")
    assert spec.family.qualities[-2:] == ("xhigh", "max") and not spec.input_fidelity
    GenerateRequest(prompt="x", model="gpt-image-2.5", quality="xhigh").validate(spec)
    with pytest.raises(UsageError, match="quality"):
        GenerateRequest(prompt="x", model="gpt-image-1.5", quality="xhigh").validate(
            models.get_model("gpt-image-1.5"))


def test_an_unknown_id_gets_a_sentence_asking_its_door_and_nothing_is_sent(srv1, home):
    spec = models.get_model("mystery-model-7")
    assert spec.family is None
    with pytest.raises(UsageError) as caught:
        Service().generate(GenerateRequest(prompt="a cat", model="mystery-model-7"))
    assert "bianxie config set door mystery-model-7=images" in caught.value.message
    assert srv1.requests == []


def test_the_unknown_id_through_the_cli_is_one_line_no_traceback(srv1, capsys, tmp_path):
    code, out, err = run_cli(["generate", "-p", "a cat", "-m", "mystery-model-7", "-o",
                              str(tmp_path / "never.png")], capsys)
    assert code != 0 and "Traceback" not in err
    assert "config set door" in err and srv1.requests == []


def test_config_set_door_places_an_unknown_model(home, capsys):
    code, out, err = run_cli(["config", "set", "door", "my-banana=chat"], capsys)
    assert code == 0, err
    cfg = configmod.load()
    assert cfg.models["my-banana"] == {"door": "chat"}
    assert models.get_model("my-banana", cfg.models).family.name == "gemini-image"
    code, out, err = run_cli(["config", "get", "door"], capsys)
    assert "my-banana=chat" in out


@pytest.mark.parametrize("value", ["my-banana", "my-banana=fax", "=chat"])
def test_config_set_door_refuses_a_bad_value_in_one_sentence(home, capsys, value):
    code, out, err = run_cli(["config", "set", "door", value], capsys)
    assert code != 0 and "MODEL=DOOR" in err and "Traceback" not in err


def test_a_door_in_the_config_does_not_override_a_matching_family():
    cfg_models = {"doubao-seedream-4-5": {"door": "json"}}
    assert models.get_model("doubao-seedream-4-5", cfg_models).family.name == "seedream"


def test_models_lists_the_families_with_door_mask_and_sizes(home, capsys):
    code, out, err = run_cli(["models", "--families"], capsys)
    assert code == 0, err
    lines = {line.split("\t")[0]: line for line in out.splitlines()}
    assert "chat completions" in lines["gemini-image"]
    assert "no mask" in lines["flux-kontext"] and "3:7" in lines["flux-kontext"]
    assert "images JSON" in lines["seedream"] and "URL answers" in lines["seedream"]


def test_the_server_lists_seedream_and_flux_as_image_models():
    from bianxie_core.catalog import is_image_model

    assert is_image_model("doubao-seedream-4-5-251128") and is_image_model("flux-kontext-pro")
    assert not is_image_model("gpt-4o-mini")


@pytest.mark.parametrize("model", ["gemini-3-pro-image-preview", "doubao-seedream-4-5",
                                   "flux-kontext-pro", "qwen-image-edit", "gpt-image-2.5"])
def test_cost_says_unknown_rather_than_guess_and_cli_and_settings_agree(home, capsys, model):
    from bianxie_core.edit_settings import EditSettings

    code, out, err = run_cli(["cost", "-m", model, "-n", "2"], capsys)
    assert code == 0, err
    assert "price unknown" in out
    cfg = configmod.load()
    settings = EditSettings(prompt="x", model=model, n=2)
    spec = models.get_model(model)
    dialog = settings.estimate(spec, edit=True, requests=requests_for(cfg, 2, True))
    assert not dialog.price_known and "price unknown" in dialog.format()


def test_a_configured_price_prices_a_gemini_model_per_request():
    spec = models.get_model("gemini-3-pro-image-preview")
    prices = {spec.name: {"text_in": 2.0, "image_in": 2.0, "image_out": 120.0}}
    one = cost.estimate(spec, "1024x1024", "auto", 1, prompt="x", prices=prices)
    three = cost.estimate(spec, "1024x1024", "auto", 3, prompt="x", prices=prices, requests=1)
    assert one.price_known and three.price > 2.9 * one.price  # n parallel requests, each billed


def test_a_dialog_is_offered_only_what_the_model_takes(home):
    from bianxie_core import catalog

    assert catalog.quality_choices("gemini-3-pro-image-preview") == ("auto",)
    assert catalog.quality_choices("gpt-image-2.5")[-2:] == ("xhigh", "max")
    assert catalog.quality_choices("gpt-image-1.5") == ("auto", "low", "medium", "high")
    sizes = catalog.size_choices("flux-kontext-pro")
    assert sizes[-1] == "auto" and len(sizes) == 10  # its nine aspect ratios
    assert catalog.size_choices("qwen-image-edit-plus") == ("auto",)


def test_a_listed_model_without_a_family_says_how_to_give_it_one(home):
    from bianxie_core import catalog

    entry = catalog.info("mystery-model-7", configmod.load(), "server")
    assert entry.family is None and "config set door mystery-model-7" in entry.description()
    seedream = catalog.info("doubao-seedream-4-5", configmod.load(), "server")
    assert "Seedream" in seedream.description() and "placed by its name" in (
        seedream.description())


def test_config_set_family_gives_a_relays_own_name_its_familys_qualities(srv1, home, capsys):
    """A name the relay gave gpt-image-2.5 matches no pattern: put in its family, it takes
    xhigh and max, which the images door (gpt-image-2's, by ``door``) would refuse."""
    srv1.model_mapping = {"house-image": "gpt-image-2.5"}
    code, out, err = run_cli(["config", "set", "family", "house-image=gpt-image-2.5"], capsys)
    assert code == 0, err
    assert "GPT Image 2.5" in out
    assert configmod.load().models["house-image"] == {"family": "gpt-image-2.5"}
    code, out, err = run_cli(["config", "get", "family"], capsys)
    assert "house-image=gpt-image-2.5" in out
    code, out, err = run_cli(["generate", "-p", "a lighthouse", "-m", "house-image", "-q", "max",
                              "-o", str(home / "out.png"), "--quiet", "--yes"], capsys)
    assert code == 0, err
    (sent,) = srv1.requests
    assert json.loads(sent.body)["quality"] == "max"


def test_config_set_door_after_family_is_the_door_alone(home, capsys):
    run_cli(["config", "set", "family", "house-image=gpt-image-2.5"], capsys)
    code, out, err = run_cli(["config", "set", "door", "house-image=chat"], capsys)
    assert code == 0, err
    assert configmod.load().models["house-image"] == {"door": "chat"}


@pytest.mark.parametrize("value", ["house-image", "house-image=gpt-9", "=gpt-image-2.5"])
def test_config_set_family_refuses_a_bad_value_in_one_sentence(home, capsys, value):
    code, out, err = run_cli(["config", "set", "family", value], capsys)
    assert code != 0 and "MODEL=FAMILY" in err and "gpt-image-2.5" in err
    assert "Traceback" not in err
