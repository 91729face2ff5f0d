"""Translations for the core's user-visible text (gettext domain ``bianxie``).

The language follows ``LANGUAGE``/``LC_ALL``/``LC_MESSAGES``/``LANG``, as gettext does; GIMP
passes its UI language to plug-ins the same way. No system locale is needed: the catalogue
ships inside the package (``bianxie_core/locale``).
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path

DOMAIN = "bianxie"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_cache: dict[tuple, gettext.NullTranslations] = {}


def _languages() -> tuple:
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return tuple(value.split(":"))
    return ()


def translation() -> gettext.NullTranslations:
    """The catalogue for the current environment (re-read when the language variables change)."""
    key = _languages()
    if key not in _cache:
        _cache[key] = gettext.translation(DOMAIN, LOCALE_DIR, fallback=True)
    return _cache[key]


def _(message: str) -> str:
    return translation().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translation().ngettext(singular, plural, n)


def join_sentences(*parts: str) -> str:
    """Sentences joined with a space, but none after Chinese full-width punctuation."""
    text = ""
    for part in (p.strip() for p in parts if p and p.strip()):
        if text and text[-1] not in "。！？；：）」":
            text += " "
        text += part
    return text
