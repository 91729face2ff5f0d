"""Fault points for the GIMP tests, inert in use: each does nothing unless the environment
variable ``BIANXIE_TEST_FAULT`` names it, which only the tests set (tests/test_gimp_*.py)."""

import os

VARIABLE = "BIANXIE_TEST_FAULT"


def test_fault(point):
    """BIANXIE_TEST_FAULT=<point> makes that step fail, to prove nothing is lost."""
    if os.environ.get(VARIABLE) == point:
        raise RuntimeError("test fault at " + point)


def test_user_acts_while_waiting(needs):
    """BIANXIE_TEST_FAULT=close-image / delete-layer does what a user may do while the model
    works (headless tests cannot act while a PDB call runs)."""
    fault = os.environ.get(VARIABLE)
    if fault not in ("close-image", "delete-layer") or len(needs) < 2:
        return
    image, layer = needs[:2]
    if fault == "close-image" and image.is_valid():
        image.delete()
    elif fault == "delete-layer" and layer.is_valid():
        image.remove_layer(layer)


def test_progress_shown(text, fraction):
    """BIANXIE_TEST_FAULT=progress logs each progress text and fraction shown (headless GIMP
    shows no progress bar to read)."""
    if os.environ.get(VARIABLE) == "progress":
        from bianxie_core import logs

        logs.get_logger().info("progress shown: %s | %s", text, fraction)
