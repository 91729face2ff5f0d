"""Bringing the paid images into the image: result layers in one undo step (a failure puts the
image back as it was), the request kept on each layer, the history told, the user told."""

import contextlib

from gi.repository import Gimp

from bianxie_core import logs, prompts
from layer_io import attach_meta
from plugin_i18n import _
from waiting import session_total, usage_text

NAME_LIMIT = 48  # characters of the prompt in a layer's name


def layer_name(prompt, limit=NAME_LIMIT):
    """A layer's name from a prompt: on one line, shortened with an ellipsis."""
    text = " ".join((prompt or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def result_name(settings):
    """The name of an edit's result layer (a removal has no prompt of its own)."""
    return layer_name(settings.prompt if settings.prompt.strip() else _("Removed"))


def all_layers(items):
    out = []
    for item in items:
        out.append(item)
        if item.is_group():
            out += all_layers(item.get_children())
    return out


@contextlib.contextmanager
def one_undo_step(image):
    """Everything inside is one undo step; if it fails, the image is put back as it was
    (new layers removed, the canvas size restored), so a failed import changes nothing."""
    before = {item.get_id() for item in all_layers(image.get_layers())}
    size = image.get_width(), image.get_height()
    anchor = image.get_layers()[0] if image.get_layers() else None
    anchor_at = anchor.get_offsets()[1:] if anchor else (0, 0)
    image.undo_group_start()
    try:
        yield
    except BaseException:
        for item in all_layers(image.get_layers()):
            if item.is_valid() and item.get_id() not in before:
                image.remove_layer(item)
        if (image.get_width(), image.get_height()) != size:
            moved = anchor.get_offsets()[1:] if anchor else (0, 0)
            image.resize(size[0], size[1], anchor_at[0] - moved[0], anchor_at[1] - moved[1])
        raise
    finally:
        image.undo_group_end()


def insert_results(image, items, parent, position, name, record, status):
    """One layer, or a group with one layer per variant (the first visible, and selected);
    ``items`` are (layer, fill, entry) from ``layer_io.new_layer``. Each keeps the request
    (``record``)."""
    kept = dict(record.history_meta(), session_total=session_total(), usage=status.usage,
                price=status.price, currency=status.currency, request_ids=status.request_ids)
    if status.placements:  # what registration found for each variant
        kept["alignment"] = [p.alignment for p in sorted(status.placements, key=lambda p: p.index)]
    if len(items) > 1:
        group = Gimp.GroupLayer.new(image, name)
        image.insert_layer(group, parent, position)
        for i, (lay, fill, entry) in enumerate(items):
            image.insert_layer(lay, group, i)
            fill()
            lay.set_name("{} #{}".format(name, i + 1))
            lay.set_visible(i == 0)
            attach_meta(lay, dict(kept, entry=entry.id))
        attach_meta(group, kept)
        # GIMP leaves the last inserted (a hidden variant) selected: a next run (Filters >
        # Repeat Last) would edit what the user does not see
        image.set_selected_layers([items[0][0]])
        return group
    lay, fill, entry = items[0]
    image.insert_layer(lay, parent, position)
    fill()
    attach_meta(lay, dict(kept, entry=entry.id))
    return lay


def finish(job, entries, hist, image, status, settings, proc_name, phases, warnings=()):
    """The results are in: the history marks them imported, the job folder goes, the prompt
    is remembered, and the user reads what it cost and any warning."""
    for entry in entries:
        hist.mark_imported(entry.id, where="GIMP image {}".format(image.get_id()))
    job.remove()
    if settings.prompt and settings.prompt.strip():
        prompts.remember(proc_name, settings.prompt)
    Gimp.displays_flush()
    logs.get_logger().info("job %s phases %s", job.id, phases.line())
    text = " ".join([usage_text(status)] + list(status.warnings) + list(status.failures)
                    + list(warnings)).strip()
    if text:
        Gimp.message(text)
