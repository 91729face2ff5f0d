"""``bianxie inpaint`` against a model that redraws with drift: aligned by default, as it came
with ``--no-align`` or ``config set align off``."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bianxie_core import config as configmod
from tests.fakeapi.redraw import Redraw
from tests.test_client import run_cli
from tests.core_fixtures import SELECTION


def _error_in_selection(result_path, photo) -> float:
    x0, y0, x1, y1 = SELECTION
    result = np.asarray(Image.open(result_path).convert("RGB"), np.float64)[y0:y1, x0:x1]
    original = np.asarray(Image.open(photo).convert("RGB"), np.float64)[y0:y1, x0:x1]
    return float(np.abs(result - original).mean())


def _inpaint(photo, selection, out, capsys, *extra):
    return run_cli(["inpaint", "--image", str(photo), "--selection", str(selection), "-p",
                    "keep everything", "-m", "gpt-image-1", "-q", "low", "--context", "200",
                    "-o", str(out), *extra], capsys)


@pytest.mark.parametrize("how", ["default", "--no-align", "config-off"])
def test_a_drifted_answer_is_put_back_unless_told_not_to(how, srv1, photo_and_selection,
                                                         tmp_path, capsys):
    photo, selection = photo_and_selection
    srv1.fill = "echo"  # a change-nothing edit ...
    srv1.redraw = Redraw(dx=6, dy=-4, scale=1.02, rotation=0.6)  # ... redrawn with drift
    if how == "config-off":
        code, _, err = run_cli(["config", "set", "align", "off"], capsys)
        assert code == 0, err
        assert configmod.load().align is False
    extra = ("--no-align",) if how == "--no-align" else ()
    code, out, err = _inpaint(photo, selection, tmp_path / "out.png", capsys, *extra)
    assert code == 0, err
    error = _error_in_selection(tmp_path / "out.png", photo)
    if how == "default":
        assert error <= 3, error
        assert "drift" in err.lower() or "moved" in err.lower() or "shift" in err.lower(), err
    else:
        assert error > 6, error
