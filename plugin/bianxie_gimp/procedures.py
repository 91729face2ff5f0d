"""What each procedure does, from GIMP's arguments to the new layers. An edit: plan → read only
the crop → the worker prepares, sends and places (waiting.py) → one undo step (results.py)."""

from gi.repository import Gimp

import arguments
from bianxie_core import config as cfgmod
from bianxie_core import history, models, planning
from bianxie_core.edit_settings import EXPAND_PROMPT, EditSettings, parse_aspect
from bianxie_core.geometry import Bounds, Extent
from bianxie_core.job_folder import JobRecord, SourceLayer
from bianxie_core.raw import RawPixels
from dialogs import choose_entries, interactive_dialog, settings_dialog
from failure import Failure
from faults_for_tests import test_fault
from layer_io import (
    attach_meta, decode, editable_layer, new_layer, read_coverage, read_meta, read_rgba,
    selection_in_layer)
from registry import EDIT, EXPAND, GENERATE
from plugin_i18n import _
from results import finish, insert_results, layer_name, one_undo_step, result_name
from variants import pick_variants
from waiting import Phases, await_job, early_worker, submitted, warm_up


def settings_from(config):
    """The run's settings: the procedure's arguments over the defaults (model and align: the
    config's)."""
    cfg = cfgmod.load()
    return arguments.settings_from(config, EditSettings(model=cfg.model, align=cfg.align))


def model_spec(name):
    """The model ``name`` (or the one chosen in Settings) as the core knows it."""
    cfg = cfgmod.load()
    return models.get_model(name or cfg.model, cfg.models)


def confirmed(procedure, run_mode, config, stored=None):
    """The dialog, when the run is interactive (a worker loads meanwhile); False: cancelled."""
    warm_up(run_mode)
    return interactive_dialog(procedure, run_mode, config, stored=stored)


def do_edit(procedure, run_mode, image, drawables, config, references=False):
    layer = editable_layer(image, drawables)
    if not confirmed(procedure, run_mode, config):
        return Gimp.PDBStatusType.CANCEL, None
    with early_worker(region=True) as job:
        settings = settings_from(config)
        refs = []
        if references:
            for ref in drawables[1:]:
                refs.append(read_rgba(ref, Bounds(0, 0, ref.get_width(), ref.get_height())))
        edit(job, image, layer, settings, procedure.get_name(), run_mode, refs)
    return Gimp.PDBStatusType.SUCCESS, None


def do_edit_with_references(*args):
    return do_edit(*args, references=True)


def edit(job, image, layer, settings, proc_name, run_mode, refs=(), stored_selection=None,
         above=None):
    """Plan → read only the crop → the worker prepares, sends and places → one undo step; the
    result goes right above ``above`` (default: the source layer)."""
    phases = Phases()
    selection = selection_in_layer(image, layer)
    use_stored = selection is None and stored_selection is not None
    if use_stored:  # re-run without a selection: the rectangle the first run used
        selection = Bounds(*stored_selection)
    spec = model_spec(settings.model)
    plan = planning.plan_edit(Extent(layer.get_width(), layer.get_height()), selection, spec,
                              settings.region_options(spec))
    pixels = read_rgba(layer, plan.crop)
    _ok, ox, oy = layer.get_offsets()
    coverage = None
    if plan.has_mask and not use_stored:
        coverage = read_coverage(image, plan.crop, ox, oy)
    phases("read")
    record = job.submit_region(JobRecord.region(
        plan, settings, procedure=proc_name, selection=selection,
        source=SourceLayer(layer.get_name(), layer.get_id(), (ox, oy))), pixels, coverage, refs)
    submitted(job, record, phases)
    status, entries, hist = await_job(job, _("Edit Selection"), run_mode, phases,
                                      needs=(image, layer))
    placements = sorted(status.placements, key=lambda p: p.index)
    patches = [job.placed(p) for p in placements]  # (patch, soft mask) of each
    phases("read-result")
    name = result_name(settings)
    with one_undo_step(image):
        items = []
        for p, (patch, mask), entry in zip(placements, patches, entries):
            lay, fill = new_layer(image, name, patch, p.x + ox, p.y + oy, mask)
            items.append((lay, fill, entry))
        above = above if above is not None and above.is_valid() else layer
        made = insert_results(image, items, above.get_parent(), image.get_item_position(above),
                              name, record, status)
        test_fault("insert")
    phases("write")
    finish(job, entries, hist, image, status, settings, proc_name, phases,
           [w for p in placements for w in p.warnings])
    pick_variants(image, made, run_mode)


def do_generate(procedure, run_mode, image, drawables, config):
    if not confirmed(procedure, run_mode, config):
        return Gimp.PDBStatusType.CANCEL, None
    with early_worker() as job:
        generate(job, image, settings_from(config),
                 config.get_property("background") or "auto", run_mode)
    return Gimp.PDBStatusType.SUCCESS, None


def generate(job, image, s, background, run_mode):
    phases = Phases()
    from bianxie_core.service import Service  # only Generate checks here; the rest, in the worker

    request = s.generate_request(background)
    Service().check(request)
    record = job.submit(request, procedure=GENERATE, settings=s)
    submitted(job, record, phases)
    status, entries, hist = await_job(job, _("Generate Image"), run_mode, phases)
    decoded = [decode(e.image_path.read_bytes()) for e in entries]
    width, height = decoded[0].width, decoded[0].height
    new_image = image is None or not image.is_valid()
    target = Gimp.Image.new(width, height, Gimp.ImageBaseType.RGB) if new_image else image
    try:
        with one_undo_step(target):
            name = layer_name(s.prompt)
            items = []
            for pixels, entry in zip(decoded, entries):
                lay, fill = new_layer(target, name, pixels, 0, 0)
                items.append((lay, fill, entry))
            made = insert_results(target, items, None, 0, name, record, status)
            test_fault("insert")
    except BaseException:
        if new_image:
            target.delete()
        raise
    if new_image and run_mode == Gimp.RunMode.INTERACTIVE:
        Gimp.Display.new(target)
    phases("write")
    finish(job, entries, hist, target, status, s, GENERATE, phases)
    pick_variants(target, made, run_mode)
    return target


def do_expand(procedure, run_mode, image, drawables, config):
    """Grow the canvas by margins or to an aspect ratio; the model fills the new area."""
    layer = editable_layer(image, drawables)
    if not confirmed(procedure, run_mode, config):
        return Gimp.PDBStatusType.CANCEL, None
    with early_worker(region=True) as job:
        s = settings_from(config)
        s.prompt = s.prompt.strip() or EXPAND_PROMPT
        margins = tuple(config.get_property(k) for k in ("left", "top", "right", "bottom"))
        aspect = parse_aspect(config.get_property("aspect") or "")
        expand(job, image, layer, s, margins, aspect, run_mode)
    return Gimp.PDBStatusType.SUCCESS, None


def expand(job, image, layer, s, margins, aspect, run_mode):
    phases = Phases()
    spec = model_spec(s.model)
    plan = planning.plan_expand(Extent(layer.get_width(), layer.get_height()), spec,
                                s.region_options(spec),
                                margins=None if aspect else margins, aspect=aspect)
    pixels = read_rgba(layer, plan.crop)
    phases("read")
    _ok, lx, ly = layer.get_offsets()
    record = job.submit_region(JobRecord.region(
        plan, s, procedure=EXPAND, source=SourceLayer(layer.get_name(), layer.get_id(),
                                                      (lx, ly))), pixels)
    submitted(job, record, phases)
    status, entries, hist = await_job(job, _("Expand Canvas"), run_mode, phases,
                                      needs=(image, layer))
    placed = min(status.placements, key=lambda p: p.index)
    patch, mask = job.placed(placed)
    # the new canvas in image coordinates, before the resize
    cx, cy = lx - plan.origin[0], ly - plan.origin[1]
    cw, ch = plan.layer.width, plan.layer.height
    dx, dy = max(0, -cx), max(0, -cy)
    width = max(image.get_width() + dx, cx + dx + cw)
    height = max(image.get_height() + dy, cy + dy + ch)
    name = result_name(s)
    with one_undo_step(image):
        image.resize(width, height, dx, dy)
        lay, fill = new_layer(image, name, patch, cx + dx + placed.x, cy + dy + placed.y, mask)
        insert_results(image, [(lay, fill, entries[0])], layer.get_parent(),
                       image.get_item_position(layer), name, record, status)
        test_fault("insert")
    phases("write")
    finish(job, entries[:1], hist, image, status, s, EXPAND, phases, placed.warnings)


def do_rerun(procedure, run_mode, image, drawables, config):
    """Run the request stored on a result layer again (new prompt optional), as a sibling."""
    if image is None or not drawables:
        raise Failure(_("Select a layer made by this plug-in first."),
                      Gimp.PDBStatusType.CALLING_ERROR)
    result_layer = drawables[0]
    meta = read_meta(result_layer)
    if not meta or "settings" not in meta:
        raise Failure(_("This layer was not made by this plug-in (it has no stored request): "
                        "select a result layer."), Gimp.PDBStatusType.CALLING_ERROR)
    is_edit = meta.get("procedure") != GENERATE
    stored = None
    if run_mode == Gimp.RunMode.INTERACTIVE:  # the dialog's estimate starts from it
        stored = EditSettings.from_stored(meta["settings"])
    if not confirmed(procedure, run_mode, config, stored=(stored, is_edit)):
        return Gimp.PDBStatusType.CANCEL, None
    source = source_layer(image, result_layer, meta) if is_edit else None
    with early_worker(region=source is not None) as job:
        s = arguments.settings_from(  # a new prompt or model, else the stored ones
            config, stored or EditSettings.from_stored(meta["settings"]))
        if source is None:
            generate(job, image, s, meta["settings"].get("background", "auto"), run_mode)
        else:
            edit(job, image, source, s, meta.get("procedure") or EDIT, run_mode,
                 stored_selection=meta.get("selection"), above=result_layer)
    return Gimp.PDBStatusType.SUCCESS, None


def source_layer(image, result_layer, meta):
    """The layer a result was made from: by id, then by name."""
    item = Gimp.Item.get_by_id(meta.get("source") or -1)
    if item is not None and item.is_valid() and isinstance(item, Gimp.Layer) \
            and item.get_image() == image and not item.is_group():
        return item
    for layer in image.get_layers():
        if layer.get_name() == meta.get("layer") and layer != result_layer:
            return layer
    raise Failure(_("The layer this result was made from ({name}) is gone: select it again "
                    "and use Edit Selection instead.").format(name=meta.get("layer")),
                  Gimp.PDBStatusType.CALLING_ERROR)


def do_recover(procedure, run_mode, image, drawables, config):
    hist = history.History(cfgmod.home() / "history")
    pending = hist.recoverable()
    if not pending:
        Gimp.message(_("Nothing to recover: every paid image is already in an image."))
        return Gimp.PDBStatusType.SUCCESS, image
    if run_mode == Gimp.RunMode.INTERACTIVE:
        pending = choose_entries(pending)
        if not pending:
            return Gimp.PDBStatusType.CANCEL, None
    from bianxie_core.placement import recovered_position  # numpy and Pillow: only here

    decoded = [decode(e.image_path.read_bytes()) for e in pending]
    target = image if image is not None and image.is_valid() else Gimp.Image.new(
        decoded[0].width, decoded[0].height, Gimp.ImageBaseType.RGB)
    with one_undo_step(target):
        for entry, pixels in zip(pending, decoded):
            x, y, array = recovered_position(entry.meta.get("canvas"), entry.meta.get("offset"),
                                             pixels.array())
            lay, fill = new_layer(target, _("Recovered: {name}").format(
                name=layer_name(entry.meta.get("prompt") or "")), RawPixels.of(array), x, y)
            target.insert_layer(lay, None, 0)
            fill()
            attach_meta(lay, {k: v for k, v in entry.meta.items() if k != "imported"})
    for entry in pending:
        hist.mark_imported(entry.id, where="GIMP image {}".format(target.get_id()))
    if run_mode == Gimp.RunMode.INTERACTIVE and target is not image:
        Gimp.Display.new(target)
    Gimp.displays_flush()
    return Gimp.PDBStatusType.SUCCESS, target


def do_settings(procedure, run_mode, image, drawables, config):
    if run_mode == Gimp.RunMode.INTERACTIVE:
        return settings_dialog(), None
    changes = {}
    for prop, field in (("base-url", "base_url"), ("model", "model"), ("proxy", "proxy"),
                        ("ca-bundle", "ca_bundle")):
        value = config.get_property(prop)
        if value:
            changes[field] = value
    if "base_url" in changes:
        changes["base_url"] = cfgmod.normalise_base_url(
            changes["base_url"], allow_http=cfgmod.load().allow_http)
    timeout = config.get_property("timeout")
    if timeout > 0:
        changes["timeout"] = float(timeout)
    cfgmod.update(**changes)
    return Gimp.PDBStatusType.SUCCESS, None
