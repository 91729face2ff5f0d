"""The API key as text: how it is shown, the forms a server might echo it in, and what a
key may look like. No settings are read here (see config.py, which re-exports these)."""

from __future__ import annotations

import base64
from urllib.parse import quote, quote_plus

from bianxie_core.errors import ConfigError
from bianxie_core.i18n import _


def redact_key(key: str) -> str:
    key = (key or "").strip()
    if not key:
        return _("(not set)")
    if len(key) < 12:  # the last 4 of a short key would be too much of it
        return _("(set)")
    prefix = "sk-" if key.startswith("sk-") else ""
    return prefix + "…" + key[-4:]


def key_forms(key: str) -> list:
    """The key as a server, a library or a user might echo it, longest first: clear,
    URL-encoded, and base64 (standard or urlsafe, padded or not, also inside an encoded
    "Bearer <key>"). Light on purpose: the history and the prompt list use it without requests."""
    raw = key.encode()
    forms = {key, quote(key, safe=""), quote_plus(key)}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode()
        forms |= {whole, whole.rstrip("=")}
        for pad in (1, 2):  # the characters that depend on the key alone, at each alignment
            forms.add(encode(b"\0" * pad + raw).decode()[4:-4])
    return sorted((f for f in forms if len(f) >= 8 or f in (key, quote(key, safe=""))),
                  key=len, reverse=True)


MAX_KEY_CHARS = 1024  # keys are under 200 characters; a pasted file is not one


def clean_key(key: str, source: str) -> str:
    key = (key or "").strip()
    if len(key) > MAX_KEY_CHARS:
        raise ConfigError(_("{source} is {count} characters long, far longer than a key: copy "
                            "only the key.").format(source=source, count=len(key)))
    if any(c.isspace() for c in key):
        raise ConfigError(
            _(
                "{source} contains spaces or line breaks inside it, so it cannot be a key: copy "
                "it again in one piece."
            ).format(source=source)
        )
    if key and not all(" " < c < "\x7f" for c in key):
        raise ConfigError(
            _(
                "{source} contains characters that cannot be in a key (non-ASCII or invisible "
                "ones): copy it again from the provider's website."
            ).format(source=source)
        )
    return key
