"""Translations: complete, current, placeholder-safe, and actually used at run time (zh_CN)."""

from __future__ import annotations

import gettext
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bianxie_core import errors, i18n, models
from bianxie_core.cli import build_parser
from bianxie_core.params import GenerateRequest

ROOT = Path(__file__).resolve().parent.parent
RUN = "run python3 plugin/update_translations.py"
CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
BACKTICKED = re.compile(r"`[^`]*`")


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        "update_translations", ROOT / "plugin" / "update_translations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()
CATALOGUES = [(domain, lang) for domain in tool.DOMAINS for lang in tool.LANGUAGES]
IDS = [f"{domain.name}-{lang}" for domain, lang in CATALOGUES]


def committed_entries(domain, lang):
    po, _mo = tool.catalogue_paths(domain, lang)
    assert po.exists(), f"{po} is missing: {RUN}"
    return tool.parse_po(po.read_text(encoding="utf-8"))


@pytest.mark.parametrize("domain", tool.DOMAINS, ids=[d.name for d in tool.DOMAINS])
def test_every_call_has_literal_messages(domain):
    _messages, problems = tool.extract(domain)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("domain,lang", CATALOGUES, ids=IDS)
def test_every_message_is_translated(domain, lang):
    messages, _problems = tool.extract(domain)
    assert messages, f"no messages found for {domain.name}: the extractor is broken"
    translated = {e.key for e in committed_entries(domain, lang) if e.translated and not e.obsolete}
    missing = [m.msgid for m in messages if (m.msgid, m.plural) not in translated]
    assert not missing, (f"{len(missing)} messages have no {lang} translation in {domain.name} "
                         f"({RUN}, then translate them):\n" + "\n".join(map(repr, missing)))


@pytest.mark.parametrize("domain,lang", CATALOGUES, ids=IDS)
def test_committed_catalogues_are_current(domain, lang, tmp_path):
    tool.update(ROOT, tmp_path)
    for committed, fresh in zip(tool.catalogue_paths(domain, lang),
                                tool.catalogue_paths(domain, lang, tmp_path)):
        assert committed.exists(), f"{committed} is missing: {RUN}"
        assert committed.read_bytes() == fresh.read_bytes(), f"{committed} is stale: {RUN}"


@pytest.mark.parametrize("domain,lang", CATALOGUES, ids=IDS)
def test_placeholders_and_commands_survive_translation(domain, lang):
    wrong = []
    for entry in committed_entries(domain, lang):
        if not entry.msgid or entry.obsolete:
            continue
        for pattern in (PLACEHOLDER, BACKTICKED):
            want = sorted(pattern.findall(entry.msgid))
            wrong += [f"{entry.msgid!r} -> {text!r}" for text in entry.msgstr
                      if sorted(pattern.findall(text)) != want]
    assert not wrong, "placeholders or `commands` differ:\n" + "\n".join(wrong)


@pytest.mark.parametrize("domain,lang", CATALOGUES, ids=IDS)
def test_mo_loads_and_is_deterministic(domain, lang):
    entries = committed_entries(domain, lang)
    mo = tool.catalogue_paths(domain, lang)[1]
    with open(mo, "rb") as fh:
        catalogue = gettext.GNUTranslations(fh)
    assert tool.compile_mo(entries) == tool.compile_mo(list(reversed(entries)))
    for entry in (e for e in entries if e.msgid and e.translated and not e.obsolete):
        if entry.plural is None:
            assert catalogue.gettext(entry.msgid) == entry.msgstr[0]
        else:
            assert catalogue.ngettext(entry.msgid, entry.plural, 2) == entry.msgstr[0]


@pytest.mark.parametrize("text,expected", [
    ('msgid "a"\nmsgstr "b"\n', [("a", None, ("b",))]),
    ('msgid ""\n"x\\n"\n"y"\nmsgstr "\\"q\\""\n', [("x\ny", None, ('"q"',))]),
    ('msgid "a"\nmsgid_plural "as"\nmsgstr[0] "b"\nmsgstr[1] "bs"\n', [("a", "as", ("b", "bs"))]),
    ('#: f.py\n#, fuzzy\nmsgid "a"\nmsgstr ""\n\n#~ msgid "old"\n#~ msgstr "alt"\n',
     [("a", None, ("",)), ("old", None, ("alt",))]),
], ids=["plain", "continued-escaped", "plural", "comments-obsolete"])
def test_parse_po(text, expected):
    assert [(e.msgid, e.plural, e.msgstr) for e in tool.parse_po(text)] == expected


def test_extractor_reads_concatenation_format_and_plurals(tmp_path):
    source = tmp_path / "m.py"
    source.write_text('x = _("a {n} "\n      "b").format(n=1)\ny = ngettext("one", "many", 2)\n'
                      'z = _("c" + "d")\nw = _(name)\n', encoding="utf-8")
    pairs, problems = tool.extract_file(source, "m.py")
    assert pairs == [("a {n} b", None), ("one", "many"), ("cd", None)]
    assert problems == ["m.py:5: _() needs string literals to be translatable"]


# -- the catalogues at run time -----------------------------------------------------------


@pytest.fixture
def chinese(monkeypatch):
    monkeypatch.setenv("LANGUAGE", "zh_CN")
    i18n._cache.clear()
    yield
    i18n._cache.clear()


def test_core_error_is_chinese(chinese):
    with pytest.raises(errors.UsageError) as info:
        GenerateRequest(prompt="").validate(models.get_model())
    assert CJK.search(str(info.value)), str(info.value)


def test_a_billed_error_joins_its_sentences_as_chinese_does(chinese):
    first = errors._("The prompt is empty: describe the image or the change you want.")
    text = str(errors.ServerError(first))
    assert first.endswith("。") and text.startswith(first + "此"), text


def test_file_errors_are_said_in_the_language_not_the_systems(chinese):
    reason = errors.os_reason(OSError(28, "No space left on device"))
    assert CJK.search(reason) and "space" not in reason


def _cli(args, home, language):
    env = dict(os.environ, LANGUAGE=language, BIANXIE_HOME=str(home))
    env.pop("BIANXIE_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "bianxie_core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("language,chinese_output", [("zh_CN", True), ("C", False)],
                         ids=["zh_CN", "C"])
def test_cli_cost_speaks_the_language(tmp_path, language, chinese_output):
    done = _cli(["cost", "-m", "gpt-image-1", "-s", "1024x1024", "-q", "low"], tmp_path, language)
    assert done.returncode == 0, done.stderr
    assert bool(CJK.search(done.stdout)) is chinese_output, done.stdout


def test_cli_help_shows_chinese_description(tmp_path, monkeypatch):
    monkeypatch.setenv("LANGUAGE", "C")
    i18n._cache.clear()
    english = build_parser().description
    i18n._cache.clear()
    with open(tool.catalogue_paths(tool.DOMAINS[0], "zh_CN")[1], "rb") as fh:
        expected = gettext.GNUTranslations(fh).gettext(english)
    assert expected != english
    done = _cli(["--help"], tmp_path, "zh_CN")
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout


def test_plugin_catalogue_translates_menu_label():
    locale = ROOT / "plugin" / "bianxie_gimp" / "locale"
    catalogue = gettext.translation("bianxie_gimp", str(locale), languages=["zh_CN"])
    assert isinstance(catalogue, gettext.GNUTranslations)
    label = catalogue.gettext("_Edit Selection…")
    assert CJK.search(label) and "_E" in label, label
