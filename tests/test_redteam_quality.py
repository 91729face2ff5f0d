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
    assert "quality must be one of auto, low, medium, high, not 'max'" in err
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
    from tests.test_plugin_modules import run_stubbed

    _priced_25(1.0)
    out = run_stubbed(
        "import dialogs\nfrom bianxie_core import cost, models\n"
        "from gi.repository import Gtk\n"
        "spec = models.get_model('gpt-image-2.5')\n"
        "prices = {'gpt-image-2.5': {'text_in': 5, 'image_in': 8, 'image_out': 40}}\n"
        "dialogs.estimate_for = lambda *a: cost.estimate(spec, '1024x1024', 'max', "
        "prices=prices)\n"
        "print(dialogs.confirm_cost(None), Gtk.MessageDialog.called)\n",
        BIANXIE_HOME=str(home), LANGUAGE="en")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]  # asked; the stub's answer is not "Run"
