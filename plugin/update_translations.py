#!/usr/bin/env python3
"""Regenerate the translation catalogues: ``python3 plugin/update_translations.py``.

For each gettext domain this extracts the messages passed as literals to ``_()``, ``N_()`` and
``ngettext()`` in the sources (with ``ast``, so no GNU gettext is needed), merges them into
``<locale>/<lang>/LC_MESSAGES/<domain>.po`` keeping every existing translation, and compiles the
``.mo`` next to it. Messages that left the sources stay in the ``.po`` as ``#~`` entries (not
compiled), so a reworded message's old translation is at hand. New messages get an empty
``msgstr``: translate them, then run the command again to compile.

The output depends only on the sources and the ``.po`` files, so running it twice changes
nothing; ``tests/test_i18n.py`` runs it into a temporary folder and compares bytes.
"""

from __future__ import annotations

import argparse
import ast
import re
import struct
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple, Optional

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("zh_CN",)
GETTEXT_NAMES = ("_", "N_")
NGETTEXT_NAMES = ("ngettext",)
PLURAL_FORMS = {"zh_CN": "nplurals=1; plural=0;"}


class Domain(NamedTuple):
    name: str
    sources: tuple[str, ...]  # globs relative to ROOT
    locale_dir: str  # relative to ROOT
    title: str


DOMAINS = (
    Domain("bianxie", ("bianxie_core/*.py",), "bianxie_core/locale", "便携AI core and CLI"),
    Domain("bianxie_gimp", ("plugin/bianxie_gimp/*.py",), "plugin/bianxie_gimp/locale",
           "便携AI for GIMP"),
)

Key = tuple[str, Optional[str]]  # (msgid, msgid_plural)


class Message(NamedTuple):
    msgid: str
    plural: str | None
    files: tuple[str, ...]


class Entry(NamedTuple):
    msgid: str
    plural: str | None
    msgstr: tuple[str, ...]  # one string, or one per plural form
    files: tuple[str, ...] = ()
    obsolete: bool = False

    @property
    def key(self) -> Key:
        return (self.msgid, self.plural)

    @property
    def translated(self) -> bool:
        return bool(self.msgstr) and all(self.msgstr)


# -- extraction -----------------------------------------------------------------------------


def _literal(node: ast.AST) -> str | None:
    """The string a node always evaluates to: a constant or ``"a" + "b"``; else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal(node.left), _literal(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def _callee(node: ast.Call) -> str:
    return node.func.id if isinstance(node.func, ast.Name) else ""


def extract_file(path: Path, rel: str) -> tuple[list[tuple[str, str | None]], list[str]]:
    """The (msgid, plural) pairs in one file in source order, and the calls that can't be read."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    found: list[tuple[int, int, str, str | None]] = []
    problems: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _callee(node)
        count = 1 if name in GETTEXT_NAMES else 2 if name in NGETTEXT_NAMES else 0
        if not count:
            continue
        texts = [_literal(arg) for arg in node.args[:count]]
        if len(node.args) < count or any(text is None for text in texts):
            problems.append(f"{rel}:{node.lineno}: {name}() needs string literals to be "
                            "translatable")
            continue
        found.append((node.lineno, node.col_offset, texts[0],
                      texts[1] if count == 2 else None))
    found.sort(key=lambda item: (item[0], item[1]))
    return [(msgid, plural) for _line, _col, msgid, plural in found if msgid], problems


def source_files(domain: Domain, root: Path = ROOT) -> list[tuple[Path, str]]:
    paths = sorted({p for pattern in domain.sources for p in root.glob(pattern) if p.is_file()})
    return [(p, p.relative_to(root).as_posix()) for p in paths]


def extract(domain: Domain, root: Path = ROOT) -> tuple[list[Message], list[str]]:
    """Every message of a domain in first-use order, with the files that use it."""
    order: dict[Key, list[str]] = {}
    problems: list[str] = []
    for path, rel in source_files(domain, root):
        pairs, bad = extract_file(path, rel)
        problems += bad
        for key in pairs:
            files = order.setdefault(key, [])
            if rel not in files:
                files.append(rel)
    return [Message(msgid, plural, tuple(files)) for (msgid, plural), files in order.items()], \
        problems


# -- .po reading and writing ----------------------------------------------------------------

_PO_LINE = re.compile(r'^(msgid|msgid_plural|msgstr(?:\[(\d+)\])?)\s+(".*")\s*$')


def _unquote(text: str) -> str:
    return ast.literal_eval(text)


def parse_po(text: str) -> list[Entry]:
    """The entries of a .po file (header included, msgid ""); flags and references dropped."""
    entries: list[Entry] = []
    current: dict[str, object] = {}
    field: str | None = None

    def flush():
        if "msgid" in current:
            strs = current.get("msgstr", {})
            msgstr = tuple(strs[i] for i in sorted(strs))
            entries.append(Entry(current["msgid"], current.get("msgid_plural"), msgstr,
                                 obsolete=bool(current.get("obsolete"))))
        current.clear()

    for raw in text.splitlines():
        line = raw.strip()
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].strip()
        elif not line or line.startswith("#"):
            if not line and current.get("msgstr"):
                flush()
                field = None
            continue
        match = _PO_LINE.match(line)
        if match:
            keyword, index, quoted = match.groups()
            if keyword == "msgid" and "msgid" in current:
                flush()
            if obsolete:
                current["obsolete"] = True
            if keyword.startswith("msgstr"):
                field = "msgstr"
                slot = int(index) if index is not None else 0
                current.setdefault("msgstr", {})[slot] = _unquote(quoted)
                current["slot"] = slot
            else:
                field = keyword
                current[keyword] = _unquote(quoted)
        elif line.startswith('"') and field:
            if field == "msgstr":
                current["msgstr"][current["slot"]] += _unquote(line)
            else:
                current[field] += _unquote(line)
        else:
            raise ValueError(f"cannot read .po line: {raw!r}")
    flush()
    return entries


def _quote(text: str) -> str:
    out = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
           .replace("\r", "\\r").replace("\n", "\\n"))
    return f'"{out}"'


def _po_field(keyword: str, text: str, prefix: str = "") -> list[str]:
    if "\n" not in text.rstrip("\n"):
        return [f"{prefix}{keyword} {_quote(text)}"]
    parts = text.splitlines(keepends=True)
    return [f'{prefix}{keyword} ""'] + [f"{prefix}{_quote(part)}" for part in parts]


def format_entry(entry: Entry) -> list[str]:
    prefix = "#~ " if entry.obsolete else ""
    lines = [f"#: {name}" for name in entry.files]
    lines += _po_field("msgid", entry.msgid, prefix)
    if entry.plural is None:
        lines += _po_field("msgstr", entry.msgstr[0] if entry.msgstr else "", prefix)
    else:
        lines += _po_field("msgid_plural", entry.plural, prefix)
        for index, text in enumerate(entry.msgstr or ("",)):
            lines += _po_field(f"msgstr[{index}]", text, prefix)
    return lines


def header(domain: Domain, lang: str) -> str:
    return (f"Project-Id-Version: {domain.name}\n"
            f"Language: {lang}\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=UTF-8\n"
            "Content-Transfer-Encoding: 8bit\n"
            f"Plural-Forms: {PLURAL_FORMS.get(lang, 'nplurals=2; plural=(n != 1);')}\n")


def merge(domain: Domain, lang: str, messages: Iterable[Message],
          old: Iterable[Entry]) -> list[Entry]:
    """The new catalogue: header, the sources' messages in order, then obsolete entries."""
    known = {entry.key: entry for entry in old if entry.msgid}
    entries = [Entry("", None, (header(domain, lang),))]
    used = set()
    for message in messages:
        key = (message.msgid, message.plural)
        used.add(key)
        previous = known.get(key)
        if previous is not None and previous.translated:
            msgstr = previous.msgstr
        else:
            msgstr = ("",)
        entries.append(Entry(message.msgid, message.plural, msgstr, message.files))
    obsolete = [e for key, e in known.items() if key not in used and e.translated]
    for entry in sorted(obsolete, key=lambda e: e.key[0]):
        entries.append(Entry(entry.msgid, entry.plural, entry.msgstr, obsolete=True))
    return entries


def format_po(domain: Domain, entries: list[Entry]) -> str:
    lines = [f"# Translations of {domain.title} (gettext domain {domain.name}).",
             "# Generated by plugin/update_translations.py; edit only the msgstr lines."]
    for entry in entries:
        lines += format_entry(entry)
        lines.append("")
    return "\n".join(lines)


# -- .mo compilation ------------------------------------------------------------------------


def compile_mo(entries: Iterable[Entry]) -> bytes:
    """A GNU .mo file of the translated, current entries, keys sorted, no hash table."""
    pairs = {}
    for entry in entries:
        if entry.obsolete or not entry.translated:
            continue
        key = entry.msgid if entry.plural is None else entry.msgid + "\0" + entry.plural
        pairs[key.encode("utf-8")] = "\0".join(entry.msgstr).encode("utf-8")
    keys = sorted(pairs)
    count = len(keys)
    originals_at = 7 * 4
    translations_at = originals_at + count * 8
    data_at = translations_at + count * 8
    table_o, table_t, blob = [], [], b""
    for key in keys:
        table_o += [len(key), data_at + len(blob)]
        blob += key + b"\0"
    for key in keys:
        value = pairs[key]
        table_t += [len(value), data_at + len(blob)]
        blob += value + b"\0"
    head = struct.pack("<7I", 0x950412DE, 0, count, originals_at, translations_at, 0, data_at)
    return head + struct.pack(f"<{4 * count}I", *table_o, *table_t) + blob


# -- the command ----------------------------------------------------------------------------


def catalogue_paths(domain: Domain, lang: str, root: Path = ROOT) -> tuple[Path, Path]:
    folder = root / domain.locale_dir / lang / "LC_MESSAGES"
    return folder / f"{domain.name}.po", folder / f"{domain.name}.mo"


def build(domain: Domain, lang: str, po_text: str, root: Path = ROOT) -> tuple[str, bytes,
                                                                               list[str]]:
    """The regenerated .po text and .mo bytes for one catalogue, and extraction problems."""
    messages, problems = extract(domain, root)
    entries = merge(domain, lang, messages, parse_po(po_text) if po_text else [])
    return format_po(domain, entries), compile_mo(entries), problems


def update(source_root: Path = ROOT, out_root: Path | None = None) -> list[str]:
    """Rewrite every catalogue (into ``out_root`` instead when given); returns report lines."""
    out_root = out_root or source_root
    report = []
    for domain in DOMAINS:
        for lang in LANGUAGES:
            po_in, _mo_in = catalogue_paths(domain, lang, source_root)
            po_out, mo_out = catalogue_paths(domain, lang, out_root)
            po_text = po_in.read_text(encoding="utf-8") if po_in.exists() else ""
            new_po, new_mo, problems = build(domain, lang, po_text, source_root)
            po_out.parent.mkdir(parents=True, exist_ok=True)
            po_out.write_bytes(new_po.encode("utf-8"))
            mo_out.write_bytes(new_mo)
            missing = [e.msgid for e in merge(domain, lang, extract(domain, source_root)[0],
                                              parse_po(new_po)) if e.msgid and not e.translated]
            report += problems
            report.append(f"{po_out.relative_to(out_root)}: {len(missing)} untranslated")
            report += [f"  untranslated: {msgid!r}" for msgid in missing]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the catalogues under this folder "
                        "instead of the source tree (the staleness test uses it)")
    args = parser.parse_args(argv)
    for line in update(ROOT, args.out):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
