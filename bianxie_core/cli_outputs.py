"""Where the CLI writes its results: output names, the checks made before paying, and the
atomic write of a paid image."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

from bianxie_core import errors
from bianxie_core.files import write_atomic
from bianxie_core.i18n import _
from bianxie_core.safe_text import printable

# The files the CLI writes: extension -> format (as output_format names it).
_SUFFIX_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
_FORMAT_SUFFIXES = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}


MESSAGE_LIMIT = 1000  # characters of one line on stderr; a server's 1 MB message is cut


def say(line: str) -> None:
    """One line on stderr, safe for the terminal: text from a server or a file name can hold
    escape sequences, line breaks or bytes that are not text (see safe_text)."""
    print(printable(line, MESSAGE_LIMIT), file=sys.stderr)


def tell(line: str, out) -> None:
    """A written file's name on stdout, for the caller's script. A reader that has gone
    (``| head -1``, a closed stdout) stops nothing: the files are written all the same."""
    try:
        print(line, file=out, flush=True)
    except (OSError, ValueError):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            # what is still buffered would fail again, with a traceback, when Python exits
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


class Scrubbed:
    """A text stream that never passes the API key on, in any form a server might echo it
    (clear, URL-encoded, base64): whichever field of an answer a line quotes, and after
    ``printable`` has joined what invisible characters split."""

    def __init__(self, stream, forms, *, gone_ok: bool = False):
        """``gone_ok``: a write to a terminal that has gone (EIO once its window closed) loses
        the line, not the rest of the run (stderr: the paid files are still to be written)."""
        self._stream = stream
        self._forms = tuple(forms)
        self._gone_ok = gone_ok

    def write(self, text):
        for form in self._forms:
            text = text.replace(form, "sk-…")
        try:
            return self._stream.write(text)
        except (OSError, ValueError):
            if not self._gone_ok:
                raise
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except (OSError, ValueError):
            if not self._gone_ok:
                raise

    def __getattr__(self, name):
        return getattr(self._stream, name)


def as_text(path) -> str:
    """``path`` for a UTF-8 record (a history sidecar): a name that is not UTF-8 is kept as
    its escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def output_paths(output: str, count: int, fmt: Optional[str]) -> List[Path]:
    """The files for ``count`` images named ``output``. ``fmt`` (--output-format) wins: a name
    without its extension gets it (out.png → out.jpg for jpeg); without ``fmt`` the name's
    extension decides (none: .png). UsageError when the name cannot be a file bianxie writes."""
    if not output.strip():
        raise errors.UsageError(_("The output name is empty: give a file name, for example "
                                  "-o out.png."))
    path = Path(output)
    if output.endswith(("/", os.sep)) or path.name in ("", ".", ".."):
        raise _is_a_folder(path, fmt)
    if path.suffix and path.suffix.lower() not in _SUFFIX_FORMATS:
        raise errors.UsageError(_("The output name {name} ends in {suffix}, which bianxie "
                                  "cannot write: use .png, .jpg or .webp.").format(
                                      name=path.name, suffix=path.suffix))
    if not path.suffix or (fmt and file_format(path) != fmt):
        path = path.with_suffix(_FORMAT_SUFFIXES[fmt or "png"])
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}{path.suffix}") for i in range(1, count + 1)]


def file_format(path: Path) -> str:
    """"png", "jpeg" or "webp": what a file from output_paths() is written as."""
    return _SUFFIX_FORMATS[path.suffix.lower()]


def _is_a_folder(path: Path, fmt: Optional[str]) -> errors.UsageError:
    example = path / ("out" + _FORMAT_SUFFIXES[fmt or "png"])
    return errors.UsageError(_("{path} is a folder: give a file name, for example "
                               "{example}.").format(path=path, example=example))


NAME_MAX = 255  # bytes in one file name: ext4, XFS, APFS, NTFS (in UTF-16 units) and more


def check_writable(path: Path, probed: Optional[dict] = None) -> None:
    """UsageError, before anything is sent, when ``path`` cannot be written as a file (its
    missing folders are created when it is written). ``probed``: folder -> whether a file
    could be made there, so that many outputs in one folder probe it once."""
    _check_name(path)
    _check_link_owner(path)
    if path.is_symlink() and not path.exists():
        raise errors.UsageError(_("{path} is a link to {target}, which does not exist: choose "
                                  "another output path, or remove the link.").format(
                                      path=path, target=os.readlink(path)))
    if path.is_dir():
        raise _is_a_folder(path, file_format(path))
    if path.exists() and not path.is_file():  # the rename would put a file in its place
        raise errors.UsageError(_("{path} is a device, a pipe or a socket, not a file: choose "
                                  "another output path.").format(path=path))
    folder = path.parent
    existing = next(p for p in (folder, *folder.parents) if p.exists() or p == Path(p.anchor))
    if not existing.is_dir():
        raise errors.UsageError(_("{file} is a file, not a folder, so {path} cannot be written: "
                                  "choose another output path.").format(file=existing, path=path))
    probed = {} if probed is None else probed
    if existing not in probed:
        probed[existing] = _can_create_in(existing)
    if not probed[existing] or (path.exists() and not os.access(path, os.W_OK)):
        raise errors.UsageError(_("You have no permission to write {path}: choose another output "
                                  "path.").format(path=path))


def _check_link_owner(path: Path) -> None:
    """A link is written through only when it is the user's own: in a shared folder (/tmp)
    another user's link could point at any of the user's files. (The kernel refuses to follow
    such links, but the output is written by renaming onto the link's resolved target.)"""
    if not hasattr(os, "geteuid") or not path.is_symlink():
        return
    if path.lstat().st_uid != os.geteuid():
        raise errors.UsageError(_("{path} is a link made by another user: choose another "
                                  "output path, or remove the link.").format(path=path))


def _check_name(path: Path) -> None:
    if any(len(os.fsencode(part)) > NAME_MAX for part in path.parts):
        raise errors.UsageError(_("The output name {name}… is longer than the {limit} bytes a "
                                  "file name can have: choose a shorter one.").format(
                                      name=str(path)[:60], limit=NAME_MAX))


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be made in ``folder`` (tried: permissions say yes to root even in
    /proc)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".bianxie-probe-"):
            return True
    except OSError:
        return False


def write_output(path: Path, data: bytes) -> None:
    """Write a result that is already paid for, atomically: a temporary file in the same
    folder, flushed to the disk, then renamed over ``path`` (through a link, its target), so
    a full disk never leaves a half-written file in place of the old one. BianxieError (one
    sentence naming the file) on failure; the temporary file is removed."""
    try:
        _check_link_owner(path)  # again: the link may have been made while the run waited
    except errors.UsageError as exc:
        raise errors.BianxieError(exc.message) from None
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data, _file_mode(target))
    except OSError as exc:
        raise errors.BianxieError(_("{path} could not be written ({reason}).").format(
            path=path, reason=errors.os_reason(exc))) from None


def _file_mode(path: Path) -> int:
    """The mode a new file gets (0666 less the umask), or the replaced file's."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def planned_outputs(args, count: int) -> List[Path]:
    """The output files, checked before anything is sent (so any problem is exit 2)."""
    try:
        return _planned_outputs(args, count)
    except OSError as exc:  # a path too long for the system, a loop of links…
        raise errors.UsageError(errors.file_problem(exc, printable(args.output, 200))) from None


def _planned_outputs(args, count: int) -> List[Path]:
    paths = output_paths(args.output, count, args.output_format)
    given = Path(args.output)
    for path in (given, *paths):
        _check_name(path)
    if given.is_dir():  # "-o out" must not become out.png beside the folder out/
        raise _is_a_folder(given, args.output_format)
    probed: dict = {}
    for path in paths:
        check_writable(path, probed)
    if given.suffix and given.suffix != paths[0].suffix:
        print(_("note: writing {fmt} as asked by --output-format, so the output is named "
                "{path}.").format(fmt=args.output_format, path=paths[0]), file=sys.stderr)
    return paths
