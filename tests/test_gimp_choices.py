"""Choice arguments in real GIMP 3.0 and 3.2, one GIMP session per version: scripts pass
quality, background, output format, input fidelity and context by name from Python and from
Script-Fu; a wrong name, or a size the model does not take, is refused before anything is
sent."""

from __future__ import annotations

import json

import pytest

from bianxie_core import params
from tests.fakeapi import FakeServer
from tests.gimp.batch import CALLING_ERROR, KEY, SUCCESS, batch_env, out_folder, script

pytestmark = pytest.mark.gimp
CASES = ("python-names", "generate-names", "script-fu-names", "script-fu-wrong",
         "python-wrong", "size-for-model", "quality-for-model", "max-for-its-model",
         "selected-after-one", "selected-after-two")


@pytest.fixture(scope="module")
def choices_run(gimp_env):
    servers = {name: FakeServer(dialect="openai", key=KEY).start() for name in CASES}
    try:
        inner, _host = out_folder(gimp_env, "choices")
        env = batch_env(inner, f"{gimp_env.home}/bianxie-choices",
                        BX_URLS=json.dumps({k: s.base_url for k, s in servers.items()}))
        result = gimp_env.run_batch(script("choices"), env=env, timeout=300)
        cases = dict(json.loads(v) for v in result.values("case"))
        listed = dict(json.loads(v) for v in result.values("choices"))
        yield result, cases, listed, {k: [r for r in s.requests if r.path.startswith(
            "/v1/images/")] for k, s in servers.items()}
    finally:
        for srv in servers.values():
            srv.stop()


def test_the_procedure_browser_lists_each_choice_by_name(choices_run):
    result, _cases, listed, _sent = choices_run
    assert result.marker("done") == "1", result.describe()
    edit = listed["bianxie-edit-selection"]
    assert edit["quality"] == list(params.ALL_QUALITIES)
    assert edit["output-format"] == list(params.OUTPUT_FORMATS)
    assert edit["input-fidelity"] == ["default", *params.INPUT_FIDELITIES]
    assert edit["context"] == ["auto", "pixels", "percent", "layer"]
    assert listed["bianxie-generate"]["background"] == list(params.BACKGROUNDS)
    assert "background" not in edit and "input-fidelity" not in listed["bianxie-generate"]


def test_python_scripts_pass_choices_by_name(choices_run):
    _result, cases, _listed, sent = choices_run
    assert cases["python-names"] == {"status": SUCCESS, "message": "", "layers": 2}
    (request,) = sent["python-names"]
    assert (request.field("quality"), request.field("input_fidelity"),
            request.field("output_format")) == ("high", "high", "webp")
    assert cases["generate-names"]["status"] == SUCCESS, cases["generate-names"]
    (request,) = sent["generate-names"]
    assert (request.json["background"], request.json["output_format"],
            request.json["quality"]) == ("transparent", "webp", "low")


def test_script_fu_passes_choices_by_name(choices_run):
    _result, cases, _listed, sent = choices_run
    assert cases["script-fu-names"]["status"] == SUCCESS, cases["script-fu-names"]
    assert cases["script-fu-names"]["layers"] == 2
    (request,) = sent["script-fu-names"]
    assert (request.field("quality"), request.field("input_fidelity"),
            request.field("output_format")) == ("high", "low", "jpeg")


def test_a_wrong_name_is_refused_and_nothing_is_sent(choices_run):
    _result, cases, _listed, sent = choices_run
    wrong = cases["script-fu-wrong"]
    assert wrong["status"] != SUCCESS and wrong["layers"] == 1, wrong
    # GIMP's own sentence, counting from run-mode = 0: quality is argument 6
    assert wrong["message"].strip() == "Error: Invalid value for argument 6", wrong
    assert sent["script-fu-wrong"] == []
    python = cases["python-wrong"]  # GObject will not hold it: the script stops right there
    assert "raised" in python, python
    assert "hihg" in python["raised"] and "quality" in python["raised"], python
    assert python["held"] == "auto"
    assert sent["python-wrong"] == []


def test_a_size_the_model_does_not_take_is_refused_with_a_sentence(choices_run):
    _result, cases, _listed, sent = choices_run
    refused = cases["size-for-model"]
    assert refused["status"] == CALLING_ERROR and refused["layers"] == 1, refused
    assert refused["message"].startswith("size 2048x2048 is not available for gpt-image-1")
    assert sent["size-for-model"] == []


def test_a_quality_the_model_does_not_take_is_refused_and_its_own_is_sent(choices_run):
    _result, cases, _listed, sent = choices_run
    refused = cases["quality-for-model"]
    assert refused["status"] == CALLING_ERROR and refused["layers"] == 1, refused
    # the model named: it may be Settings' default, not one the script gave
    assert refused["message"] == ("gpt-image-1.5 does not take quality max: choose one of "
                                  "auto, low, medium, high."), refused
    assert sent["quality-for-model"] == []
    assert cases["max-for-its-model"]["status"] == SUCCESS, cases["max-for-its-model"]
    (request,) = sent["max-for-its-model"]
    assert (request.json["model"], request.json["quality"]) == ("gpt-image-2.5", "max")


def test_after_an_edit_the_result_is_what_a_next_run_gets(choices_run):
    """Filters > Repeat Last runs on the selected layer: the result, not its mask; after n>1
    the variant shown (#1), not the hidden last one it was."""
    cases = choices_run[1]
    one = cases["selected-after-one"]
    assert one["status"] == SUCCESS, one
    assert one["selected"] == [["a pear", False, True, False]], one
    two = cases["selected-after-two"]
    assert two["status"] == SUCCESS, two
    assert two["selected"] == [["a pear #1", False, True, False]], two
