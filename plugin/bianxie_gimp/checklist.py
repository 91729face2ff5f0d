"""A dialog of check boxes (Recover Results, Keep Variants): the items checked on OK."""

import gi


def ask(title, cancel, ok, fill):
    """``fill(box, Gtk)`` packs the dialog's content and returns [(check button, item)]; the
    items checked when the user presses ``ok`` (greyed out while none is), None when
    ``cancel`` or the dialog closes."""
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi, Gtk

    GimpUi.init("bianxie_gimp")
    dialog = GimpUi.Dialog(title=title)
    dialog.add_button(cancel, Gtk.ResponseType.CANCEL)
    dialog.add_button(ok, Gtk.ResponseType.OK)
    dialog.set_default_response(Gtk.ResponseType.OK)
    box = dialog.get_content_area()
    box.set_border_width(12)
    checks = fill(box, Gtk)

    def some_checked(_check=None):  # OK with nothing checked would do what cancel does
        dialog.set_response_sensitive(Gtk.ResponseType.OK,
                                      any(check.get_active() for check, _item in checks))

    for check, _item in checks:
        check.connect("toggled", some_checked)
    some_checked()
    dialog.show_all()
    answer = dialog.run()
    checked = [item for check, item in checks if check.get_active()]
    dialog.destroy()
    return checked if answer == Gtk.ResponseType.OK else None
