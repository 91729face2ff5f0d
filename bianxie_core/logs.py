"""A rotating log under ``BIANXIE_HOME/logs/`` (GIMP's Python on Windows has no console).

It records request ids and outcomes, never the key: every line is scrubbed of it (in any
form ``config.key_forms`` knows) as it is written.
"""

from __future__ import annotations

import logging
import logging.handlers

from bianxie_core import config as configmod

_NAME = "bianxie"


class _Scrubbing(logging.Formatter):
    """The last guard: a server's echo of the key (in an error's ``param``, a request id
    header, a traceback) never reaches the file, whichever path brought it here."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for form in configmod.known_key_forms():
            text = text.replace(form, "sk-…")
        return text


def get_logger() -> logging.Logger:
    logger = logging.getLogger(_NAME)
    if not logger.handlers:
        folder = configmod.home() / "logs"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handler: logging.Handler = logging.handlers.RotatingFileHandler(
                folder / "bianxie.log", maxBytes=512 * 1024, backupCount=2, encoding="utf-8")
        except OSError:
            handler = logging.NullHandler()
        handler.setFormatter(_Scrubbing("%(asctime)s %(process)d %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
