"""The last prompts per procedure (``BIANXIE_HOME/prompts.json``), newest first, for the
dialogs' prompt history. Best effort: a missing or broken file is an empty history, and a
file that cannot be written loses only the history, never the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, List, Optional

from bianxie_core import config as configmod

LIMIT = 20
FILE_NAME = "prompts.json"
VERSION = 1


def prompts_path(home: Optional[Path] = None) -> Path:
    return (home or configmod.home()) / FILE_NAME


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    table = data.get("procedures") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        return {}
    return {name: [p for p in items if isinstance(p, str)]
            for name, items in table.items() if isinstance(items, list)}


def recent(procedure: str, *, path: Optional[Path] = None) -> List[str]:
    """The prompts used with ``procedure``, newest first (at most ``LIMIT``)."""
    return _read(path or prompts_path()).get(procedure, [])[:LIMIT]


def remember(procedure: str, prompt: str, *, path: Optional[Path] = None,
             secrets: Optional[Iterable[str]] = None) -> bool:
    """Put ``prompt`` first in ``procedure``'s history (moved there if it was already in it).

    Empty prompts and prompts containing the API key (in any form ``config.key_forms`` knows)
    are not stored. Returns whether the
    history file was written.
    """
    text = (prompt or "").strip()
    if not text:
        return False
    forms = (configmod.known_key_forms() if secrets is None else  # also base64, URL-encoded
             [f for s in secrets if s for f in configmod.key_forms(s)])
    if any(f in text for f in forms):
        return False
    path = path or prompts_path()
    table = _read(path)
    items = [text] + [p for p in table.get(procedure, []) if p != text]
    table[procedure] = items[:LIMIT]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        configmod.write_private(path, json.dumps(
            {"version": VERSION, "procedures": table}, ensure_ascii=False, indent=1
        ).encode("utf-8"))
    except OSError:
        return False
    return True
