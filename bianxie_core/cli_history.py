"""``bianxie history``: list the paid images, or export them (which recovers them)."""

from __future__ import annotations

import sys
from pathlib import Path

from bianxie_core import config as configmod
from bianxie_core import errors
from bianxie_core.i18n import _, ngettext
from bianxie_core.safe_text import printable


def open_history():
    from bianxie_core.history import History

    return History(configmod.home() / "history")


DEFAULT_HISTORY_LIMIT = 50  # entries listed without --limit (--export copies all)


def cmd_history(args, out) -> int:
    history = open_history()
    entries = history.pending() if args.pending else history.entries()
    # an image not received intact (an unreadable note alone does not stop an export)
    damaged = {e.id for e in entries if not e.imported and e.meta.get("broken")}
    if args.export is not None:
        return _export(history, [e for e in entries if e.id not in damaged], len(damaged),
                       args, out)
    if not entries:
        print(_("No images are waiting in the history.") if args.pending
              else _("The history is empty."), file=sys.stderr)
    for entry in entries[: args.limit or DEFAULT_HISTORY_LIMIT]:
        state = _("damaged") if entry.id in damaged else \
            _("imported") if entry.imported else _("not imported")
        # the sidecar and the folder's names are files anybody could have edited
        print(f"{entry.id}\t{state}\t{printable(entry.image_path, 500)}\t"
              f"{printable(entry.prompt, 60)}", file=out)
    return 0


def _export(history, entries: list, damaged: int, args, out) -> int:
    """Copy the images out and mark them imported: exporting is recovering them."""
    target = _export_folder(args.export)
    if damaged:
        print(ngettext(
            "{count} damaged entry (its image was not received intact) is not exported.",
            "{count} damaged entries (their images were not received intact) are not exported.",
            damaged).format(count=damaged), file=sys.stderr)
    if not entries:
        print(_("Nothing to export: no images are waiting in the history.") if args.pending
              else _("Nothing to export: the history is empty."), file=sys.stderr)
    for entry in entries[: args.limit]:
        dest = target / entry.image_path.name
        try:
            dest.write_bytes(entry.image_path.read_bytes())
        except OSError as exc:
            raise errors.BianxieError(errors.file_problem(exc)) from None
        if not entry.imported:
            history.mark_imported(entry.id, where=str(dest))
        print(str(dest), file=out)
    return 0


def _export_folder(text: str) -> Path:
    target = Path(text)
    if not text.strip():
        raise errors.UsageError(_("No export folder was given: give one, for example "
                                  "--export recovered."))
    if target.exists() and not target.is_dir():
        raise errors.UsageError(_("{path} is a file: give a folder to export into (it is "
                                  "created if needed).").format(path=target))
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise errors.UsageError(errors.file_problem(exc)) from None
    return target
