"""The plug-in's procedure arguments outside GIMP: the choices' names are the API's words, and
a procedure config becomes the settings the core sends."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bianxie_core import params
from bianxie_core.edit_settings import EditSettings
from bianxie_core.models import get_model
from tests.test_plugin_modules import run_stubbed

PLUGIN = Path(__file__).resolve().parent.parent / "plugin" / "bianxie_gimp"
if str(PLUGIN) not in sys.path:
    sys.path.insert(0, str(PLUGIN))

import arguments  # noqa: E402


def registry_nicks():
    out = run_stubbed(
        "import json, registry\n"
        "print(json.dumps({name: [c[0] for c in getattr(registry, name + '_choices')()]\n"
        "                  for name in ('quality', 'background', 'format', 'fidelity',\n"
        "                               'context')}))\n")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_choices_are_the_words_the_core_checks():
    nicks = registry_nicks()
    assert nicks["quality"] == list(params.ALL_QUALITIES)
    assert nicks["background"] == list(params.BACKGROUNDS)
    assert nicks["format"] == list(params.OUTPUT_FORMATS)
    assert nicks["fidelity"] == [arguments.FIDELITY_DEFAULT, *params.INPUT_FIDELITIES]
    assert nicks["context"] == ["auto", "pixels", "percent", "layer"]


class Config:
    """A procedure config's two calls the mapping uses."""

    def __init__(self, **values):
        self.values = {k.replace("_", "-"): v for k, v in values.items()}

    def find_property(self, name):
        return object() if name in self.values else None

    def get_property(self, name):
        return self.values[name]


EDIT = dict(prompt="a red apple", model="", size="auto", quality="auto", n=1,
            input_fidelity="default", context="auto", grow=6, feather=12, color_match=True,
            remove=False, align=True, output_format="png", stream=True, context_pixels=128,
            context_percent=50)


@pytest.mark.parametrize("mode, text", [("auto", "auto"), ("layer", "layer"),
                                        ("pixels", "40"), ("percent", "25%")])
def test_the_context_choice_and_its_amount_become_the_core_s_context(mode, text):
    config = Config(**dict(EDIT, context=mode, context_pixels=40, context_percent=25))
    assert arguments.settings_from(config, EditSettings()).context == text


def test_the_model_s_default_fidelity_sends_none_and_the_others_go_as_named():
    base = EditSettings(model="gpt-image-1")
    assert arguments.settings_from(Config(**EDIT), base).input_fidelity == ""
    chosen = arguments.settings_from(Config(**dict(
        EDIT, input_fidelity="high", quality="high", output_format="webp")), base)
    assert (chosen.input_fidelity, chosen.quality, chosen.output_format) == ("high", "high",
                                                                             "webp")
    assert chosen.model == "gpt-image-1"  # an empty model keeps the base's


def test_help_finds_the_readme_s_words_for_every_procedure_in_both_languages():
    import help as plugin_help  # the plug-in's module (no gi at import)

    text = (PLUGIN.parent.parent / "README.md").read_text("utf-8")
    for name, (english, chinese) in plugin_help.ITEMS.items():
        en = plugin_help.section(name, False, text)
        zh = plugin_help.section(name, True, text)
        assert english.rstrip("…") in en and "**" not in en, (name, en)
        assert chinese.rstrip("…") in zh and "**" not in zh, (name, zh)
    assert plugin_help.section("bianxie-edit-selection", False, "") == ""
    # the item that tells how to use it, not one that mentions it in passing
    assert plugin_help.section("bianxie-edit-selection", False, text).startswith("Make a")
    assert plugin_help.section("bianxie-edit-selection", True, text).startswith("建立选区")


VARIANTS = """
import json, contextlib
import variants
from gi.repository import Gimp

class Layer:
    def __init__(self, name, children=()):
        self.name, self.children, self.visible = name, list(children), True
    def is_valid(self): return True
    def is_group(self): return bool(self.children)
    def get_children(self): return list(self.children)
    def set_visible(self, value): self.visible = value

class Image:
    def __init__(self, group): self.group, self.selected = group, []
    def remove_layer(self, layer): self.group.children.remove(layer)
    def set_selected_layers(self, layers): self.selected = [l.name for l in layers]

variants.one_undo_step = lambda image: contextlib.nullcontext()
out = {}
for case, mode, answer in (("kept", "interactive", [1, 2]), ("closed", "interactive", None),
                           ("script", "script", [0]), ("all", "interactive", [0, 1, 2])):
    group = Layer("g", [Layer("#1"), Layer("#2"), Layer("#3")])
    asked = []
    variants.choose = lambda found, a=answer: (asked.append(len(found)),
                                               None if a is None else [found[i] for i in a])[1]
    run_mode = Gimp.RunMode.INTERACTIVE if mode == "interactive" else object()
    image = Image(group)
    variants.pick_variants(image, group, run_mode)
    out[case] = [asked, [(c.name, c.visible) for c in group.children]]
    out[case + "-selected"] = image.selected
print(json.dumps(out))
"""


def test_the_variant_chooser_keeps_the_chosen_and_never_asks_a_script():
    out = run_stubbed(VARIANTS)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    three = [["#1", True], ["#2", True], ["#3", True]]
    assert got["kept"] == [[3], [["#2", True], ["#3", False]]]  # the first kept is shown
    assert got["kept-selected"] == ["#2"]  # and selected: Repeat Last edits what is shown
    assert got["closed"] == [[3], three]  # no choice: the group stays
    assert got["all"] == [[3], three]
    assert got["script"] == [[], three]  # never asked outside an interactive run


@pytest.mark.parametrize("from_config,argument,want", [
    (True, True, True), (True, False, False), (False, True, False), (False, False, False)],
    ids=["on", "off for this edit", "off in the config", "off in both"])
def test_the_dialogs_align_toggle_and_the_config_must_both_say_on(from_config, argument, want):
    settings = arguments.settings_from(Config(prompt="x", align=argument),
                                       EditSettings(align=from_config))
    assert settings.align is want
    assert settings.region_options(get_model(settings.model)).align is want
    assert EditSettings.from_stored(settings.stored()).align is want
