"""The procedure dialogs' layout: the arguments in frames (Prompt; Model and size; Blending;
Output), a multi-line prompt box with the recent prompts beside it, and Ctrl+Enter to run.
Only GTK/GimpUi glue; a procedure without one of the arguments simply has a smaller frame."""

from arguments import has
from plugin_i18n import _


def columns():
    """[(column id, [(frame id, title, arguments)])]: two columns, read left to right."""
    return [
        ("left-column", [
            ("prompt", None, ("prompt", "remove")),  # titled by the prompt's own label
            ("canvas", _("New canvas"), ("left", "top", "right", "bottom", "aspect")),
            ("model", _("Model and size"), ("model", "size", "quality", "n",
                                            "input-fidelity")),
        ]),
        ("right-column", [
            ("blending", _("Blending"), ("context", "context-pixels", "context-percent",
                                         "grow", "feather", "color-match", "align")),
            ("output", _("Output"), ("background", "output-format", "stream")),
        ]),
    ]


def lay_out(dialog, procedure, config):
    """Fill ``dialog`` with framed groups; the prompt as a text box."""
    from gi.repository import Gtk

    view = prompt_view(dialog, config) if has(config, "prompt") else None
    titles, filled = {}, []
    for column_id, frames in columns():
        ids = []
        for frame_id, title, names in frames:
            present = [name for name in names if has(config, name)]
            if not present:
                continue
            dialog.fill_box(frame_id + "-box", present)
            if title is None:
                title = config.find_property(present[0]).get_nick()
            titles[frame_id] = title_label(dialog, frame_id + "-title", title)
            dialog.fill_frame(frame_id + "-frame", frame_id + "-title", False,
                              frame_id + "-box")
            ids.append(frame_id + "-frame")
        if ids:
            box = dialog.fill_box(column_id, ids)
            box.set_spacing(12)
            filled.append(column_id)
    row = dialog.fill_box("columns", filled)
    row.set_orientation(Gtk.Orientation.HORIZONTAL)
    row.set_spacing(18)
    row.set_homogeneous(len(filled) > 1)
    dialog.fill(["columns"])
    if view is not None:
        finish_prompt_box(procedure, config, view, titles.get("prompt"))
    return True


def title_label(dialog, label_id, text):
    """A frame's title in bold, with its mnemonic."""
    try:
        label = dialog.get_label(label_id, text, False, True)  # GIMP 3.0.x: markup, mnemonic
    except TypeError:
        label = dialog.get_label(label_id, text)
    label.set_markup_with_mnemonic("<b>{}</b>".format(
        text.replace("&", "&amp;").replace("<", "&lt;")))
    return label


def prompt_view(dialog, config):
    """The prompt argument as a GtkTextView bound to it, wrapping words; Ctrl+Enter runs."""
    from gi.repository import Gdk, Gtk

    view = dialog.get_widget("prompt", Gtk.TextView.__gtype__)
    view.set_wrap_mode(Gtk.WrapMode.WORD_CHAR)
    view.set_accepts_tab(False)

    def on_key(_view, event):
        if event.keyval in (Gdk.KEY_Return, Gdk.KEY_KP_Enter) and \
                event.state & Gdk.ModifierType.CONTROL_MASK:
            dialog.response(Gtk.ResponseType.OK)
            return True
        return False

    view.connect("key-press-event", on_key)
    view.set_tooltip_text(_("Several lines are fine. Ctrl+Enter runs."))
    return view


def finish_prompt_box(procedure, config, view, title):
    """Put the text view in a scrolled box of a few lines, with the recent-prompts menu beside
    it, where the dialog packed it; the frame's title focuses it (its mnemonic)."""
    from gi.repository import Gtk

    parent = view.get_parent()
    position = parent.child_get_property(view, "position")
    parent.remove(view)
    scrolled = Gtk.ScrolledWindow(hexpand=True, vexpand=True)
    scrolled.set_policy(Gtk.PolicyType.NEVER, Gtk.PolicyType.AUTOMATIC)
    scrolled.set_shadow_type(Gtk.ShadowType.IN)
    scrolled.set_min_content_height(88)
    scrolled.set_min_content_width(320)
    scrolled.add(view)
    row = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=4)
    row.pack_start(scrolled, True, True, 0)
    button = recent_button(procedure, config)
    if button is not None:
        row.pack_start(button, False, False, 0)
    parent.pack_start(row, True, True, 0)
    parent.reorder_child(row, position)
    row.show_all()
    if title is not None:
        title.set_mnemonic_widget(view)


def recent_button(procedure, config):
    """A button that lists the prompts this procedure ran recently; one sets the prompt."""
    from gi.repository import Gtk

    from bianxie_core import prompts

    try:
        recent = prompts.recent(procedure.get_name())
    except Exception:
        recent = []
    menu = Gtk.Menu()
    if not recent:
        empty = Gtk.MenuItem(label=_("(none yet)"))
        empty.set_sensitive(False)
        menu.append(empty)
    for text in recent:
        item = Gtk.MenuItem(label=shorten(text))
        item.connect("activate", lambda _item, t=text: config.set_property("prompt", t))
        menu.append(item)
    menu.show_all()
    button = Gtk.MenuButton(popup=menu, valign=Gtk.Align.START)
    button.add(Gtk.Image.new_from_icon_name("document-open-recent", Gtk.IconSize.BUTTON))
    button.set_tooltip_text(_("Recent prompts"))
    button.menu = menu  # alive as long as the button
    return button


def shorten(text, width=70):
    line = " ".join(text.split())
    return line if len(line) <= width else line[:width - 1] + "…"
