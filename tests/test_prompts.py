"""Prompt history per procedure: newest first, deduplicated, at most 20, never the key."""

from __future__ import annotations

import json

import pytest

from bianxie_core import prompts
from tests.test_client import KEY  # noqa: F401


def test_newest_first_and_per_procedure(home):
    for text in ("a cat", "a dog", "a bird"):
        assert prompts.remember("bianxie-edit-selection", text)
    prompts.remember("bianxie-generate", "an otter")
    assert prompts.recent("bianxie-edit-selection") == ["a bird", "a dog", "a cat"]
    assert prompts.recent("bianxie-generate") == ["an otter"]
    assert prompts.recent("bianxie-expand") == []
    assert prompts.prompts_path().exists()


def test_repeat_moves_to_front_without_duplicates(home):
    for text in ("one", "two", "three", " two  "):
        prompts.remember("p", text)
    assert prompts.recent("p") == ["two", "three", "one"]


def test_keeps_only_the_last_twenty(home):
    for i in range(30):
        prompts.remember("p", f"prompt {i}")
    got = prompts.recent("p")
    assert len(got) == prompts.LIMIT == 20
    assert got[0] == "prompt 29" and got[-1] == "prompt 10"


@pytest.mark.parametrize("text", ["", "   ", None], ids=["empty", "blank", "none"])
def test_empty_prompts_are_not_stored(home, text):
    assert not prompts.remember("p", text)
    assert prompts.recent("p") == []


def test_a_prompt_quoting_the_key_is_never_stored(home):
    assert not prompts.remember("p", f"my key is {KEY} ok")  # from BIANXIE_API_KEY
    assert not prompts.remember("p", "xx sk-file-secret-123456 yy",
                                secrets=["sk-file-secret-123456"])
    assert prompts.recent("p") == []
    assert not prompts.prompts_path().exists()


def test_chinese_prompts_round_trip(home):
    prompts.remember("p", "一只戴红帽子的猫")
    raw = prompts.prompts_path().read_text("utf-8")
    assert "一只戴红帽子的猫" in raw
    assert prompts.recent("p") == ["一只戴红帽子的猫"]


@pytest.mark.parametrize("content", [b"", b"{oops", b"[]", b'{"procedures": []}',
                                     b'{"procedures": {"p": ["ok", 3, null]}}'],
                         ids=["empty", "garbage", "list", "bad-table", "bad-items"])
def test_broken_file_reads_as_history_so_far(home, content):
    path = prompts.prompts_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    expected = ["ok"] if b'"ok"' in content else []
    assert prompts.recent("p") == expected
    assert prompts.remember("p", "new")
    assert prompts.recent("p") == ["new"] + expected
    assert json.loads(path.read_text())["version"] == prompts.VERSION


def test_unwritable_folder_loses_only_the_history(home, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert prompts.remember("p", "x", path=blocker / "prompts.json") is False
    assert prompts.recent("p", path=blocker / "prompts.json") == []
