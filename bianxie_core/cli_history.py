"""``bianxie history``: list the paid images, or export them (which recovers them)."""

from __future__ import annotations

import io
import sys
import warnings
from pathlib import Path
from typing import Optional

from bianxie_core import config as configmod
from bianxie_core import errors
from bianxie_core.cli_outputs import as_text, say, tell, write_output
from bianxie_core.history import image_ext
from bianxie_core.i18n import _, ngettext
from bianxie_core.safe_text import printable
from bianxie_core.wire import decode_b64


def open_history():
    from bianxie_core.history import History

    return History(configmod.home() / "history")


DEFAULT_HISTORY_LIMIT = 50  # entries listed without --limit (--export copies all)


def cmd_history(args, out) -> int:
    from bianxie_core.jobs import unkept_left

    for path in unkept_left():  # the history was full when they came
        say(_("warning: {text}").format(text=_(
            "A paid image the history could not keep waits in {path}: copy it out, then "
            "remove its folder.").format(path=path)))
    history = open_history()
    entries = history.pending() if args.pending else history.entries()
    if args.export is not None:
        return _export(history, entries, args, out)
    # an image not received intact (an unreadable note alone does not stop an export)
    damaged = {e.id for e in entries if not e.imported and e.meta.get("broken")}
    if not entries:
        print(_("No images are waiting in the history.") if args.pending
              else _("The history is empty."), file=sys.stderr)
    for entry in entries[: args.limit or DEFAULT_HISTORY_LIMIT]:
        state = _("damaged") if entry.id in damaged else \
            _("imported") if entry.imported else _("not imported")
        # the sidecar and the folder's names are files anybody could have edited
        tell(f"{entry.id}\t{state}\t{printable(entry.image_path, 500)}\t"
             f"{printable(entry.prompt, 60)}", out)
    return 0


def _export(history, entries: list, args, out) -> int:
    """Copy the images out and mark them imported: exporting is recovering them. An entry
    kept as damaged base64 is exported when it decodes to a whole image after all (wrapped
    lines, the URL-safe alphabet, a data: prefix). A damaged sidecar is kept aside (see
    History.mark_imported)."""
    target = _export_folder(args.export)
    damaged = 0
    exported = 0
    for entry in entries:
        if args.limit is not None and exported >= args.limit:
            break
        data = _image_of(entry)
        if data is None:
            damaged += 1
            continue
        dest = target / (entry.id + "." + image_ext(data) if entry.meta.get("broken")
                         else entry.image_path.name)
        write_output(dest, data)
        exported += 1
        if not entry.imported:
            history.mark_imported(entry.id, where=as_text(dest))
        tell(str(dest), out)
    if damaged:
        say(ngettext(
            "{count} damaged entry (its image was not received intact) is not exported.",
            "{count} damaged entries (their images were not received intact) are not exported.",
            damaged).format(count=damaged))
    if not exported and not damaged:
        print(_("Nothing to export: no images are waiting in the history.") if args.pending
              else _("Nothing to export: the history is empty."), file=sys.stderr)
    return 0


def _image_of(entry) -> Optional[bytes]:
    """The entry's image bytes; for one kept as damaged base64, the image it decodes to, or
    None when it is damaged indeed."""
    try:
        data = entry.image_path.read_bytes()
    except OSError as exc:
        raise errors.BianxieError(errors.file_problem(exc)) from None
    if entry.imported or not entry.meta.get("broken"):
        return data
    try:
        decoded = decode_b64(data)
    except ValueError:
        return None
    return decoded if whole_image(decoded) else None


def whole_image(data: bytes) -> bool:
    """Whether ``data`` decodes to a whole image (a cut that still decodes as base64 gives a
    truncated file). One with more pixels than Pillow decodes unasked is not decoded to check
    it, and counts as whole."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                image.load()
    except Image.DecompressionBombError:
        return True
    except Exception:  # noqa: BLE001 - Pillow raises many types for damaged data
        return False
    return True


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
