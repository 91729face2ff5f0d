"""Red team of gpt-image-2.5's xhigh and max qualities: the command line takes them for the
model that does, the cost limit is not passed by an estimate that may be too low, and the
plug-in's quality drop-down follows the model without losing the user's choice."""

from __future__ import annotations

import pytest

from bianxie_core import config as configmod
from bianxie_core import cost, models
from tests.test_client import assert_plain, run_cli


def _generate(tmp_path, *extra):
    return ["generate", "-p", "a lighthouse", "-o", str(tmp_path / "o.png"), "--quiet", *extra]


@pytest.mark.parametrize("quality", ["xhigh", "max"])
def test_the_command_line_sends_xhigh_and_max_to_gpt_image_25(srv1, tmp_path, capsys, quality):
    code, out, err = run_cli(_generate(tmp_path, "-m", "gpt-image-2.5", "-q", quality), capsys)
    assert code == 0, err
    assert srv1.requests[-1].json["quality"] == quality


def test_the_command_line_refuses_max_for_gpt_image_15_in_a_sentence(srv1, tmp_path, capsys):
    code, out, err = run_cli(_generate(tmp_path, "-m", "gpt-image-1.5", "-q", "max"), capsys)
    assert code == 2 and not srv1.requests
    assert ("gpt-image-1.5 does not take quality max: choose one of auto, low, medium, "
            "high.") in err
    assert_plain(err)


def test_bianxie_cost_refuses_max_for_gpt_image_15_as_a_run_does(home, capsys):
    code, out, err = run_cli(["cost", "-m", "gpt-image-1.5", "-q", "max"], capsys)
    assert code == 2
    assert "gpt-image-1.5 does not take quality max: choose one of auto, low, medium, high." \
        in err
    assert_plain(err)


def _priced_25(limit):
    cfg = configmod.load()
    cfg.prices = {"gpt-image-2.5": {"text_in": 5, "image_in": 8, "image_out": 40}}
    cfg.cost_confirm_above = limit
    configmod.save(cfg)
    return cfg


def test_an_estimate_of_max_is_open_ended_high_is_not(home):
    cfg = _priced_25(0)
    spec = models.get_model("gpt-image-2.5")
    high = cost.estimate(spec, "1024x1024", "high", prices=cfg.prices)
    most = cost.estimate(spec, "1024x1024", "max", prices=cfg.prices)
    assert most.price == high.price > 0
    assert most.open_ended and not high.open_ended
    assert high.within(1.0) and not most.within(1.0)


def test_a_cost_limit_is_not_passed_silently_by_max_counted_as_high(srv1, tmp_path, capsys):
    """high 1024x1024 at these prices ≈ $0.17: under a $1 limit; max may cost more, so the
    limit cannot be shown to hold and the run is asked about (refused without a terminal)."""
    _priced_25(1.0)
    code, out, err = run_cli(_generate(tmp_path, "-m", "gpt-image-2.5", "-q", "high",
                                       "-s", "1024x1024"), capsys)
    assert code == 0, err
    code, out, err = run_cli(_generate(tmp_path, "-m", "gpt-image-2.5", "-q", "max",
                                       "-s", "1024x1024"), capsys)
    assert code == 2 and len(srv1.requests) == 1
    assert "--yes" in err and "may cost more" in err
    assert_plain(err)
    code, out, err = run_cli(_generate(tmp_path, "-m", "gpt-image-2.5", "-q", "max",
                                       "-s", "1024x1024", "--yes"), capsys)
    assert code == 0 and srv1.requests[-1].json["quality"] == "max"


def test_the_plugin_asks_before_max_counted_as_high_under_a_limit(home):
    from tests.test_plugin_modules import plugin_confirms

    _priced_25(1.0)
    setup = ("from bianxie_core import models\n"
             "spec = models.get_model('gpt-image-2.5')\n"
             "prices = {'gpt-image-2.5': {'text_in': 5, 'image_in': 8, 'image_out': 40}}\n")
    at_max = "cost.estimate(spec, '1024x1024', 'max', prices=prices)"
    # asked; the stub's answer is not "Run"
    assert plugin_confirms(home, at_max, setup) == ["False", "True"]


# --- Re-run: a new model with the stored quality --------------------------------------------
@pytest.mark.parametrize("model, quality", [("gpt-image-1.5", "high"),
                                            ("gemini-2.5-flash-image", "auto"),
                                            ("", "max"), ("gpt-image-2.6", "max")])
def test_a_rerun_with_a_new_model_fits_the_stored_quality_to_it(home, model, quality):
    """Re-run has no quality argument: a layer made at max re-run with gpt-image-1.5 could
    only be refused ("quality must be one of …"), with nothing in the dialog to change it."""
    from bianxie_core.edit_settings import EditSettings
    from tests.test_plugin_arguments import Config, arguments

    stored = EditSettings(model="gpt-image-2.5", quality="max", prompt="a red apple")
    settings = arguments.settings_from(Config(prompt="", model=model), stored)
    assert settings.quality == quality
    spec = models.get_model(settings.model)
    settings.generate_request(spec=spec).validate(spec)


def test_a_script_s_own_quality_is_not_changed_but_refused(home):
    from bianxie_core.edit_settings import EditSettings
    from bianxie_core.errors import UsageError
    from tests.test_plugin_arguments import EDIT, Config, arguments

    settings = arguments.settings_from(Config(**dict(EDIT, model="gpt-image-1.5",
                                                     quality="max")), EditSettings())
    assert settings.quality == "max"
    spec = models.get_model(settings.model)
    with pytest.raises(UsageError, match="gpt-image-1.5 does not take quality max"):
        settings.generate_request(spec=spec).validate(spec)


# --- the dialog's quality drop-down ---------------------------------------------------------
FOLLOWS = """
import dialogs
from gi.repository import Gimp
NICKS = ("auto", "low", "medium", "high", "xhigh", "max")
class Choice:
    def __init__(self):
        self.off = set()
    def list_nicks(self):
        return list(NICKS)
    def set_sensitive(self, nick, on):
        (self.off.discard if on else self.off.add)(nick)
    def is_valid(self, nick):
        return nick in NICKS and nick not in self.off
choice = Choice()
Gimp.param_spec_choice_get_choice = lambda pspec: choice
class Config:
    def __init__(self, **values):
        self.values, self.handlers = values, []
    def find_property(self, name):
        return object() if name in self.values else None
    def get_property(self, name):
        return self.values[name]
    def set_property(self, name, value):
        if name == "quality" and not choice.is_valid(value):
            raise TypeError("GObject refuses an insensitive choice: " + value)
        self.values[name] = value
        for signal, handler in list(self.handlers):
            if signal in ("notify", "notify::" + name):
                handler(self, type("P", (), {"name": name})())
    def connect(self, signal, handler):
        self.handlers.append((signal, handler))
config = Config(model="gpt-image-2.5", quality="max")
dialogs.quality_follows_model(config)
"""


def _follows(home, code):
    from tests.test_plugin_modules import run_stubbed

    out = run_stubbed(FOLLOWS + code, BIANXIE_HOME=str(home), LANGUAGE="en")
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    return out.stdout.split()


def test_typing_a_model_name_letter_by_letter_keeps_the_quality_chosen(home):
    """gpt-image-2.5 at max, its 5 replaced by 6: on the way the name is gpt-image-2. (a model
    without max), which switched the quality to high for good."""
    assert _follows(home, "for text in ('gpt-image-2.', 'gpt-image-2', 'g', '', 'gpt-image-2.6'):\n"
                          "    config.set_property('model', text)\n"
                          "print(config.get_property('quality'), sorted(choice.off))\n") \
        == ["max", "[]"]


def test_a_model_without_max_shows_high_and_greys_out_xhigh_and_max(home):
    assert _follows(home, "config.set_property('model', 'gpt-image-1.5')\n"
                          "print(config.get_property('quality'), *sorted(choice.off))\n") \
        == ["high", "max", "xhigh"]


def test_a_quality_chosen_by_hand_is_the_one_kept(home):
    assert _follows(home, "config.set_property('quality', 'low')\n"
                          "config.set_property('model', 'gemini-2.5-flash-image')\n"
                          "config.set_property('model', 'gpt-image-2.5')\n"
                          "print(config.get_property('quality'), len(choice.off))\n") \
        == ["low", "0"]


def test_a_failure_while_following_the_model_leaves_every_quality_choosable(home):
    """An exception in a GObject signal handler is no one's to catch: it must not escape."""
    assert _follows(home, "from bianxie_core import catalog\n"
                          "config.set_property('model', 'gpt-image-1.5')\n"
                          "def broken(*a):\n    raise RuntimeError('boom')\n"
                          "catalog.quality_choices = broken\n"
                          "config.set_property('model', 'gpt-image-2.5')\n"
                          "print(config.get_property('quality'), len(choice.off))\n") \
        == ["high", "0"]


def test_no_quality_below_max_says_it_costs_most():
    """High said "Most detail, costs most" beside Extra high and Maximum."""
    from tests.test_plugin_modules import run_stubbed

    out = run_stubbed("import json, registry\n"
                      "print(json.dumps(registry.quality_choices()))\n", LANGUAGE="en")
    assert out.returncode == 0, out.stderr
    import json

    choices = json.loads(out.stdout)
    assert [c[0] for c in choices][-1] == "max"
    assert not [c for c in choices[:-1] if "most" in c[2].lower()], choices


# --- Recover Results' check boxes -------------------------------------------------------------
def test_recover_offers_every_pending_result_on_one_line_each(home):
    """Past 50 the rest were left out without a word; a prompt's line breaks made rows of
    several lines (the boxes are in a scrolled list now, not a dialog taller than the screen)."""
    from tests.test_plugin_modules import run_stubbed

    out = run_stubbed(
        "import dialogs, checklist\nfrom unittest import mock\n"
        "class Entry:\n"
        "    def __init__(self, i):\n"
        "        self.id, self.meta = 'e%d' % i, {'prompt': 'a red\\n apple  %d' % i}\n"
        "labels = []\n"
        "class Check:\n"
        "    def __init__(self, label=''):\n"
        "        labels.append(label)\n"
        "    def set_active(self, on):\n        self.on = on\n"
        "    def get_active(self):\n        return self.on\n"
        "Gtk = mock.MagicMock()\nGtk.CheckButton = Check\n"
        "def ask(title, cancel, ok, fill):\n"
        "    return [item for check, item in fill(mock.MagicMock(), Gtk) if check.get_active()]\n"
        "checklist.ask = ask\n"
        "chosen = dialogs.choose_entries([Entry(i) for i in range(60)])\n"
        "print(len(chosen), len(labels), sum('\\n' in t for t in labels), labels[0])\n",
        BIANXIE_HOME=str(home), LANGUAGE="en")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["60", "60", "0", "e0", "a", "red", "apple", "0"]


def test_the_check_box_dialog_cannot_be_confirmed_with_nothing_checked():
    """Keep Variants with every box cleared and Keep Checked pressed kept them all without a
    word: the button is greyed out while nothing is checked (Recover's Import too)."""
    from tests.test_plugin_modules import run_stubbed

    out = run_stubbed(
        "import checklist\nfrom gi.repository import GimpUi, Gtk\n"
        "class Check:\n"
        "    def __init__(self): self.on, self.handlers = True, []\n"
        "    def get_active(self): return self.on\n"
        "    def connect(self, signal, handler): self.handlers.append(handler)\n"
        "    def set(self, on):\n"
        "        self.on = on\n"
        "        for handler in self.handlers: handler(self)\n"
        "checks = [Check(), Check()]\n"
        "dialog = GimpUi.Dialog.return_value\n"
        "said = []\n"
        "dialog.set_response_sensitive.side_effect = lambda r, on: said.append(on)\n"
        "def run():\n"
        "    checks[0].set(False); checks[1].set(False); checks[1].set(True)\n"
        "    return Gtk.ResponseType.OK\n"
        "dialog.run.side_effect = run\n"
        "print(checklist.ask('t', 'c', 'o', lambda box, gtk: [(c, i) for i, c in "
        "enumerate(checks)]), said)\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1] [True, True, False, True]"


# --- a family that takes no quality -----------------------------------------------------------
GEMINI = "gemini-2.5-flash-image"


def test_auto_is_what_a_model_without_qualities_takes_and_nothing_is_sent(srv1, tmp_path,
                                                                          capsys):
    """`-q auto` was refused with "… takes no quality setting: leave it at auto"."""
    code, out, err = run_cli(_generate(tmp_path, "-m", GEMINI, "-q", "auto"), capsys)
    assert code == 0, err
    assert len(srv1.requests) == 1 and "quality" not in srv1.requests[0].body.decode()


def test_bianxie_cost_says_what_a_run_says_of_max_for_gemini(home, capsys):
    code, out, err = run_cli(["cost", "-m", GEMINI, "-q", "max"], capsys)
    assert code == 2 and f"{GEMINI} takes no quality setting: leave it at auto." in err
    code, out, err = run_cli(["cost", "-m", GEMINI], capsys)
    assert code == 0, err
    code, out, err = run_cli(["cost", "-m", "gpt-image-1"], capsys)
    assert code == 0 and "medium" in out, err  # the default for a model that takes one
