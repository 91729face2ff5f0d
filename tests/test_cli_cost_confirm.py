"""``cost-confirm-above`` holds on the command line too: a run estimated above it is asked
about on a terminal, refused without one unless ``--yes``, and nothing is sent before."""

from __future__ import annotations

import builtins
import io
import sys

import pytest

from bianxie_core import config as configmod
from tests.test_client import assert_plain, run_cli  # noqa: F401

# gpt-image-1 high 1536x1024 x 2 ≈ $0.50; the limit is below it, low quality is below the limit
EXPENSIVE = ["-m", "gpt-image-1", "-q", "high", "-s", "1536x1024", "-n", "2"]
CHEAP = ["-m", "gpt-image-1", "-q", "low", "-s", "1024x1024"]


@pytest.fixture
def limit(srv1):
    configmod.update(cost_confirm_above=0.10)
    return srv1


def _generate(tmp_path, *extra):
    return ["generate", "-p", "a lighthouse", "-o", str(tmp_path / "o.png"), "--quiet", *extra]


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_above_the_limit_without_a_terminal_is_refused_before_sending(limit, tmp_path, capsys):
    code, out, err = run_cli(_generate(tmp_path, *EXPENSIVE), capsys)
    assert code == 2 and limit.requests == []
    assert "--yes" in err and "$0.1000" in err
    assert_plain(err)


def test_yes_runs_it(limit, tmp_path, capsys):
    code, out, err = run_cli(_generate(tmp_path, *EXPENSIVE, "--yes"), capsys)
    assert code == 0 and len(limit.requests) == 1


def test_below_the_limit_or_without_one_nothing_is_asked(limit, tmp_path, capsys):
    assert run_cli(_generate(tmp_path, *CHEAP), capsys)[0] == 0
    configmod.update(cost_confirm_above=0)
    assert run_cli(_generate(tmp_path, *EXPENSIVE), capsys)[0] == 0
    assert len(limit.requests) == 2


@pytest.mark.parametrize("answer, sent", [("y", 1), ("n", 0), ("", 0)], ids=["yes", "no", "enter"])
def test_on_a_terminal_it_asks(answer, sent, limit, tmp_path, capsys, monkeypatch):
    asked = []
    monkeypatch.setattr(sys, "stdin", _Terminal())
    monkeypatch.setattr(builtins, "input", lambda *prompt: asked.append(prompt) or answer)
    code, out, err = run_cli(_generate(tmp_path, *EXPENSIVE), capsys)
    assert len(asked) == 1 and "[y/N]" in err and "[y/N]" not in out  # out: the paths
    assert len(limit.requests) == sent
    assert code == (0 if sent else 2)  # declined: nothing was sent


def test_inpaint_asks_before_sending_too(limit, photo_and_selection, tmp_path, capsys):
    photo, selection = photo_and_selection
    code, out, err = run_cli(["inpaint", "--image", str(photo), "--selection", str(selection),
                              "-p", "a red cup", "-m", "gpt-image-1", "-q", "high", "-n", "3",
                              "-o", str(tmp_path / "out.png"), "--quiet"], capsys)
    assert code == 2 and limit.requests == [] and "--yes" in err


def test_n_images_sent_one_by_one_are_counted_with_an_input_each(srv1, tmp_path, capsys):
    """Streamed n > 1 goes as n requests, each billing the input image again: the limit
    between the one-request and the n-request estimate must be asked about."""
    from bianxie_core import cost
    from bianxie_core.models import get_model
    from bianxie_core.params import EditRequest
    from tests.test_client import image_file, product

    image = tmp_path / "in.png"
    product("coffee.png", (1024, 1024)).save(image)
    request = EditRequest(prompt="x", model="gpt-image-1", images=[image_file(product(
        "coffee.png", (1024, 1024)))], n=3, quality="low", size="1024x1024", stream=True)
    one = cost.estimate_request(get_model("gpt-image-1"), request).price
    split = cost.estimate_request(get_model("gpt-image-1"), request, requests=3).price
    configmod.update(cost_confirm_above=(one + split) / 2)
    argv = ["edit", "--image", str(image), "-p", "x", "-m", "gpt-image-1", "-q", "low",
            "-s", "1024x1024", "-n", "3", "-o", str(tmp_path / "o.png"), "--quiet"]
    code, out, err = run_cli(argv + ["--stream"], capsys)
    assert code == 2 and srv1.requests == [] and "--yes" in err
    assert run_cli(argv, capsys)[0] == 0  # one request with n=3: below the limit
