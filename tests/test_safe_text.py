from __future__ import annotations

import pytest

from bianxie_core.safe_text import printable


@pytest.mark.parametrize("raw, shown", [
    ("plain words", "plain words"),
    ("\x1b[31mred\x1b[0m", "red"),
    ("copy\x1b]52;c;ZXZpbA==\x07 me", "copy me"),
    ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),
    ("one\nerror: fake line", "one error: fake line"),
    ("back\rspace", "back space"),
    ("bell\x07 and nul\x00", "bell and nul"),
    ("\x9b31mc1\x9bm", "c1"),
    ("right\u202eleft", "rightleft"),
    ("中文 消息", "中文 消息"),
], ids=["plain", "csi", "osc52", "osc8", "newline", "cr", "c0", "c1-csi", "bidi", "cjk"])
def test_printable_keeps_words_and_drops_controls(raw, shown):
    assert printable(raw) == shown


def test_printable_caps_the_length():
    shown = printable("x" * 1_000_000, limit=50)
    assert len(shown) == 50 and shown.endswith("…")


def test_printable_takes_any_object():
    assert printable(None) == "None" and printable(12) == "12"
