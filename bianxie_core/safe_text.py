"""Text that came from a server or a file, made safe to show on a terminal or in a dialog.

A server's message, a model id or a file name can hold escape sequences (colours, OSC 52
clipboard writes, OSC 8 links), carriage returns and line breaks that fake a line of our own,
or a megabyte of text. ``printable`` keeps the words and drops the rest.
"""

from __future__ import annotations

import re
import unicodedata

DEFAULT_LIMIT = 300

# ESC-introduced sequences (CSI, OSC, DCS, …) and their 8-bit C1 forms, whole.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"          # CSI … final byte
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])"  # OSC, DCS, SOS, PM, APC …
    r".*?(?:\x07|\x1b\\|\x9c|$)"                 # … up to BEL or ST
    r"|\x1b[@-_]?",                              # any other ESC pair
    re.S,
)


def printable(text: object, limit: int = DEFAULT_LIMIT) -> str:
    """``text`` on one line, without control or formatting characters, at most ``limit``
    characters (an ellipsis marks a cut)."""
    text = _ESCAPES.sub("", str(text))
    text = "".join(
        " " if ch in "\t\n\r\v\f\u2028\u2029"
        else ch for ch in text if ch in "\t\n\r\v\f\u2028\u2029"
        or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    text = re.sub(r" {2,}", " ", text).strip()
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"
