"""The dialogs' Help button: the README's own words for the procedure (its item under "First
steps", or under "使用步骤" in Chinese), in a window of its own. install.py puts README.md
beside the plug-in; GIMP's help system has no manual for a third-party plug-in to open."""

import re
from pathlib import Path

from plugin_i18n import _

HERE = Path(__file__).resolve().parent
README_PLACES = (HERE / "README.md", HERE.parent.parent / "README.md")  # installed; checkout
CHINESE_PART = "## 简体中文"
# the words that name each procedure's item in the README, English and Chinese
ITEMS = {
    "bianxie-edit-selection": ("Edit Selection…", "编辑选区…"),
    "bianxie-edit-with-references": ("Edit with Reference Layers…", "使用参考图层编辑…"),
    "bianxie-generate": ("Generate Image…", "生成图像…"),
    "bianxie-expand": ("AI Expand Canvas…", "AI 扩展画布…"),
    "bianxie-rerun-layer": ("Re-run on This Layer…", "在此图层上重新运行…"),
    "bianxie-settings": ("Settings…", "设置…"),
    "bianxie-recover-results": ("Recover Results…", "恢复结果…"),
}
ITEM_START = re.compile(r"^(\d+\.|-)\s")


def readme_text():
    for place in README_PLACES:
        if place.is_file():
            return place.read_text("utf-8")
    return ""


def section(procedure, chinese=False, text=None):
    """The README's list item that names ``procedure`` in bold (the item with its continuation
    lines), or "" when the README is not there or does not name it."""
    text = readme_text() if text is None else text
    english, _sep, zh = text.partition(CHINESE_PART)
    part = zh if chinese and zh else english
    words = ITEMS.get(procedure, ("", ""))[1 if chinese and zh else 0]
    if not words:
        return ""
    for item in list_items(part):
        if words + "**" in item:
            return plain(item)
    return ""


def list_items(markdown):
    """Each top-level list item of ``markdown`` on one line."""
    items, current = [], None
    for line in markdown.splitlines():
        if ITEM_START.match(line):
            current = [line]
            items.append(current)
        elif current is not None and line.startswith(" ") and line.strip():
            current.append(line.strip())
        else:
            current = None
    return [" ".join(item) for item in items]


def plain(markdown):
    """Markdown emphasis, code and links as plain text."""
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", markdown)
    text = re.sub(r"(\*\*|\*|`)", "", text)
    return ITEM_START.sub("", text).strip()


def chinese_ui():
    """Whether GIMP's language chose the Chinese catalogue (its README part is then shown)."""
    return _("English") != "English"


def show_help(procedure_name, title, parent=None):
    """A window with the README's words for the procedure."""
    from gi.repository import Gtk

    words = section(procedure_name, chinese_ui()) or _(
        "The README beside the plug-in is missing: run install.py again.")
    window = Gtk.Dialog(title=_("Help: {title}").format(title=title), transient_for=parent,
                        modal=True)
    window.add_button(_("_Close"), Gtk.ResponseType.CLOSE)
    label = Gtk.Label(label=words, xalign=0, wrap=True, selectable=True, max_width_chars=70,
                      margin=12)
    window.get_content_area().pack_start(label, False, False, 0)
    window.show_all()
    window.run()
    window.destroy()


def replace_help_button(dialog, procedure_name, title):
    """GIMP's Help button asks GIMP's manual, which has no page for a third-party plug-in:
    the button shows the README's words instead."""
    from gi.repository import Gtk

    ours = Gtk.Button.new_with_mnemonic(_("_Help"))
    ours.connect("clicked", lambda _b: show_help(procedure_name, title, dialog))
    gimps = dialog.get_widget_for_response(Gtk.ResponseType.HELP)
    area = gimps.get_parent() if gimps is not None else dialog.get_action_area()
    if gimps is not None:
        gimps.hide()
        gimps.set_no_show_all(True)
    area.pack_start(ours, False, False, 0)
    area.set_child_secondary(ours, True)
    ours.show()
