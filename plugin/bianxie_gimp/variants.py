"""Picking variants after n > 1: the result group's layers as thumbnails; those not kept leave
the group in one undo step (their images stay in the history). Interactive runs only: a
script, Repeat Last or a cancelled choice leaves the group as it is."""

from gi.repository import Gimp

import checklist
from plugin_i18n import _
from results import one_undo_step

THUMBNAIL = 160  # px, the longer side


def pick_variants(image, made, run_mode):
    """Offer the variants of the group ``made`` (insert_results' return) to keep."""
    if run_mode != Gimp.RunMode.INTERACTIVE or made is None or not made.is_valid() \
            or not made.is_group():
        return
    variants = list(made.get_children())
    if len(variants) < 2:
        return
    kept = choose(variants)
    if not kept or len(kept) == len(variants):
        return
    with one_undo_step(image):
        for layer in variants:
            if layer not in kept:
                image.remove_layer(layer)
        for number, layer in enumerate(kept):
            layer.set_visible(number == 0)
        image.set_selected_layers([kept[0]])  # the one shown, as after the run
    Gimp.displays_flush()


def choose(variants):
    """The variants the user keeps, or None when the dialog is closed without a choice."""
    def fill(box, Gtk):
        hint = Gtk.Label(label=_("Check the variants to keep. The others leave the group; "
                                 "their images stay in the history (Recover Results)."),
                         xalign=0, wrap=True, max_width_chars=60)
        box.pack_start(hint, False, False, 8)
        flow = Gtk.FlowBox(selection_mode=Gtk.SelectionMode.NONE, max_children_per_line=5,
                           column_spacing=12, row_spacing=12, border_width=6)
        flow.set_valign(Gtk.Align.START)  # cells as tall as their content
        box.pack_start(flow, True, True, 0)
        checks = []
        for number, layer in enumerate(variants):
            cell = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=4)
            try:
                pixbuf = layer.get_thumbnail(THUMBNAIL, THUMBNAIL,
                                             Gimp.PixbufTransparency.SMALL_CHECKS)
                cell.pack_start(Gtk.Image.new_from_pixbuf(pixbuf), False, False, 0)
            except Exception:  # no thumbnail: the check box alone still works
                pass
            check = Gtk.CheckButton.new_with_mnemonic(
                _("Variant _{number}").format(number=number + 1))
            check.set_active(number == 0)
            cell.pack_start(check, False, False, 0)
            flow.add(cell)
            checks.append((check, layer))
        return checks

    return checklist.ask(_("Keep Variants"), _("Keep _All"), _("_Keep Checked"), fill)
