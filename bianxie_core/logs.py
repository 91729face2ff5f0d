"""A rotating log under ``BIANXIE_HOME/logs/`` (GIMP's Python on Windows has no console).

It records request ids and outcomes, never the key: nothing here is given the key, and
messages pass through the same errors that are scrubbed of it.
"""

from __future__ import annotations

import logging
import logging.handlers

from bianxie_core import config as configmod

_NAME = "bianxie"


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
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
