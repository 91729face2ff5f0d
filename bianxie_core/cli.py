"""The ``bianxie`` command line: the same core the GIMP plug-in runs.

``main()`` parses arguments and turns errors into exit codes; the commands (``cli_paid``,
``cli_history``, ``cli_settings``; the parser in ``cli_parser``, the output rules in
``cli_outputs``) do the work without error handling. Exit codes: 0 success, 1 API or network
error (or some images of a run lost), 2 usage or validation error (nothing was sent),
130 interrupted.
"""

from __future__ import annotations

import contextlib
import io
import sys
import traceback
from typing import List, Optional

from bianxie_core import config as configmod
from bianxie_core import errors
from bianxie_core.cli_outputs import Scrubbed, say
from bianxie_core.cli_parser import build_parser
from bianxie_core.cli_settings import CONFIG_KEYS
from bianxie_core.i18n import _

__all__ = ["main", "run", "build_parser", "error_text"]

# Commands that may pay: an interruption leaves any returned image in the history.
_PAYING_COMMANDS = {"generate", "edit", "inpaint", "expand"}


def error_text(exc: errors.BianxieError) -> str:
    """The error as the CLI says it: its history hint, not the plug-in's "Recover Results"."""
    return exc.describe(_("The request may already have been charged: any image it returns is "
                          "kept in the history (`bianxie history --pending`)."))


def _lenient(stream) -> None:
    """A name the terminal's encoding cannot show is written escaped: an exception there would
    come after the paid file is written, before the next one is."""
    with contextlib.suppress(AttributeError, ValueError):
        if stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")


def main(argv: Optional[List[str]] = None, out=None) -> int:
    forms = configmod.known_key_forms()
    saved = sys.stdout, sys.stderr
    for stream in saved:
        _lenient(stream)
    # A closed stdout or stderr (``>&-``) is None. print() skips a None stdout, but prints to
    # stdout, among the written files' names, what is meant for a None stderr.
    sys.stdout = saved[0] if saved[0] is None else Scrubbed(saved[0], forms)
    sys.stderr = Scrubbed(saved[1] if saved[1] is not None else io.StringIO(), forms,
                          gone_ok=True)
    out = out or saved[0]
    try:
        return _main(argv, out if out is None else Scrubbed(out, forms))
    finally:
        sys.stdout, sys.stderr = saved


def run() -> int:
    """The ``bianxie`` command: ``main()``, and what --traceback lets escape from it printed
    here without the key (users paste it into bug reports; Python's own printing comes after
    main() has given the terminal back)."""
    try:
        return main()
    except Exception as exc:  # noqa: BLE001 - only with --traceback
        text = traceback.format_exc()
        for form in configmod.known_key_forms():
            text = text.replace(form, "sk-…")
        if sys.stderr is not None:
            sys.stderr.write(text)
        return getattr(exc, "exit_code", 1)


def _main(argv: Optional[List[str]], out) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "config" and args.action == "set" and not args.name:
        parser.error(_("config set needs a name: {names}").format(names=", ".join(CONFIG_KEYS)))
    warning = configmod.loose_permissions()
    if warning:
        say(_("warning: {text}").format(text=warning))
    try:
        return args.func(args, out)
    except errors.BianxieError as exc:
        if args.traceback:
            raise
        say(_("error: {message}").format(message=error_text(exc)))
        return exc.exit_code
    except KeyboardInterrupt:
        if getattr(args, "sent", False):  # set by cli_paid when the request goes out
            text = _("Interrupted. Any image already returned is in the history "
                     "(`bianxie history --pending`).")
        elif args.command in _PAYING_COMMANDS:
            text = _("Interrupted before anything was sent: nothing was charged.")
        else:
            text = _("Interrupted.")
        print(text, file=sys.stderr)
        return 130
    except OSError as exc:
        if args.traceback:
            raise
        say(_("error: {message}").format(message=errors.file_problem(exc)))
        return 1
    except Exception as exc:  # a bug: still one line (its text could quote anything)
        if args.traceback:
            raise
        print(_("error: unexpected {kind}; run again with --traceback and report it. Any image "
                "already returned is in the history.").format(kind=type(exc).__name__),
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
