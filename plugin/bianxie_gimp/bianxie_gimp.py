#!/usr/bin/env python3
"""便携AI for GIMP: the GIMP 3 host adapter.

Thin by design: GEGL reads and writes, dialogs and PDB glue. Planning, requests, history,
compositing and messages live in ``bianxie_core`` (the same code the ``bianxie`` CLI runs).
The core and its dependencies load inside ``run()`` (see ``load_core``), so a broken install
shows a message instead of a menu entry that silently vanishes.
"""

import contextlib
import importlib.util
import os
import sys
import time
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gimp, GLib, GObject  # noqa: E402

HERE = Path(__file__).resolve().parent
VENDOR = HERE / "vendor" / "py{}.{}".format(*sys.version_info[:2])
for _path in (VENDOR, HERE):
    if _path.is_dir() and str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import arguments  # noqa: E402
from dialogs import choose_entries, interactive_dialog, settings_dialog  # noqa: E402
from layer_io import (  # noqa: E402
    RGBA, Failure, attach_meta, decode, editable_layer, new_layer, read_coverage, read_meta,
    read_rgba, selection_in_layer, write)
from plugin_i18n import _  # noqa: E402

MENU = "<Image>/Filters/AI (便携AI)"
EDIT, REFS, GENERATE = "bianxie-edit-selection", "bianxie-edit-with-references", "bianxie-generate"
SETTINGS, RECOVER = "bianxie-settings", "bianxie-recover-results"
RERUN, EXPAND = "bianxie-rerun-layer", "bianxie-expand"
RW = GObject.ParamFlags.READWRITE
ANY_TIME = (Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES
            | Gimp.ProcedureSensitivityMask.NO_DRAWABLES | Gimp.ProcedureSensitivityMask.NO_IMAGE)


def load_core():
    """The core, or a failure that says what to do about it. numpy, Pillow and ``requests``
    are only looked for here: a region edit's pixel work and every request happen in the
    request worker; the plug-in loads Pillow only to show a streamed preview or a generated
    or recovered image, and ``requests`` only for the Settings dialog's connection test."""
    missing = [pip_name for module, pip_name in (("numpy", "numpy"), ("PIL", "Pillow"),
                                                 ("requests", "requests"))
               if importlib.util.find_spec(module) is None]
    if missing:
        raise Failure(_(
            "The plug-in cannot find {missing} for GIMP's Python {version}: run install.py "
            "again.").format(missing=", ".join(missing), version="{}.{}".format(
                *sys.version_info[:2])))
    core = Core()
    for name in ("config", "errors", "history", "jobs", "logs", "models", "planning", "raw",
                 "service"):
        core.load(name)  # a broken install fails here, before anything is sent
    return core


class Core(dict):
    """The core's modules by name, each imported when first used."""

    def __missing__(self, name):
        return self.load(name)

    def load(self, name):
        try:
            module = importlib.import_module("bianxie_core." + name)
        except ImportError as exc:
            raise Failure(_("The plug-in's files are incomplete ({reason}): run install.py "
                            "again.").format(reason=exc))
        self[name] = module
        return module


# -- waiting for the worker -----------------------------------------------------------------


class Preview:
    """Streamed partial images in a temporary image of their own (shown in a window when the
    run is interactive). It never touches the user's image or its undo history, and is
    deleted when the result arrives. A ``shown-K`` file in the job folder records each one."""

    def __init__(self, job, interactive):
        self.job, self.interactive = job, interactive
        self.image = self.layer = self.display = None
        self.shown = 0

    def update(self, status):
        while self.shown < len(status.partials):
            name = status.partials[self.shown]
            try:
                self._show(decode(self.job.partial_path(name).read_bytes()))
            except Exception:  # a broken preview is no reason to stop waiting
                pass
            (self.job.folder / "shown-{}".format(self.shown)).write_text(name)
            self.shown += 1

    def _show(self, pixels):
        w, h = pixels.width, pixels.height
        if self.image is None or (self.layer.get_width(), self.layer.get_height()) != (w, h):
            self.close()
            self.image = Gimp.Image.new(w, h, Gimp.ImageBaseType.RGB)
            self.image.undo_disable()
            self.layer = Gimp.Layer.new(self.image, _("Preview"), w, h,
                                        Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
            self.image.insert_layer(self.layer, None, 0)
            if self.interactive:
                self.display = Gimp.Display.new(self.image)
        write(self.layer, pixels, RGBA)
        self.image.clean_all()  # closing the preview window must not ask to save it
        Gimp.displays_flush()

    def close(self):
        if self.display is not None and self.display.is_valid():
            self.display.delete()
        elif self.image is not None and self.image.is_valid():
            self.image.delete()
        self.image = self.layer = self.display = None


def wait_for(job, core, title, interactive, needs=()):
    """Poll the job folder with GIMP progress; partial images go to a preview."""
    Gimp.progress_init(title)
    preview = Preview(job, interactive)

    shown_at = [-1.0]

    def tick(status, elapsed):
        user_acts_while_waiting(needs)
        preview.update(status)
        if elapsed - shown_at[0] < 0.1:  # the status file is read often, GIMP told less
            return
        shown_at[0] = elapsed
        text = _("{title}: waiting for the model… {seconds:.0f} s").format(
            title=title, seconds=elapsed)
        if preview.shown:
            text += " " + _("({n} previews)").format(n=preview.shown)
        Gimp.progress_set_text(text)
        Gimp.progress_pulse()

    try:
        return job.wait(on_tick=tick, interval=0.01, worker_gone=job.worker_exited,
                        timeout=core["config"].load().timeout * 2 + 60)
    finally:
        preview.close()
        Gimp.progress_end()


class Phases:
    """Wall time of each step, logged per run (what the plug-in costs besides the model)."""

    def __init__(self):
        self.last = time.monotonic()
        self.times = []

    def __call__(self, name):
        now = time.monotonic()
        self.times.append((name, now - self.last))
        self.last = now

    def line(self):
        return " ".join("{}={:.3f}".format(n, t) for n, t in self.times)


@contextlib.contextmanager
def early_worker(core, region=False):
    """A job whose worker is ready or starts loading now, while the plug-in reads the pixels
    or prepares the request; it is cancelled (nothing sent) if that fails. A worker the last
    edit in this GIMP left waiting takes it when there is one (see standby.py). ``region``:
    the worker prepares and places a region edit, so it loads the pixel pipeline too."""
    core["jobs"].clean_stale()
    job = core["jobs"].Job.ready(region=region, terms=standby_terms(core))
    try:
        yield job
    except BaseException:
        job.discard()
        raise


def standby_terms(core):
    """How a worker waits for this GIMP's next edit (None: the user turned that off)."""
    seconds = core["config"].load().worker_standby
    gimp = os.getppid()  # GIMP starts the plug-in's process
    return core["standby"].Terms.for_host(seconds, gimp) if seconds else None


def warm_up(core, run_mode):
    """Before a dialog: a worker loads while the user fills it in, so even the first edit in
    this GIMP finds one waiting."""
    if run_mode != Gimp.RunMode.INTERACTIVE:
        return
    try:
        core["jobs"].warm_up(standby_terms(core))
    except (core["errors"].BianxieError, OSError):  # a head start only; the run reports
        pass


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


def run_job(core, job, request, meta, title, run_mode, phases, needs=()):
    """Submit ``request`` to the job's worker and wait; return (status, entries, history)."""
    job.submit(request, meta=meta)
    log_submitted(core, job, meta, request.model, phases)
    return await_job(core, job, meta, title, run_mode, phases, needs)


def log_submitted(core, job, meta, model, phases):
    core["logs"].get_logger().info("job %s started: %s %s (%s worker)", job.id,
                                   meta.get("procedure"), model,
                                   "waiting" if job.warm else "new")
    phases("submit")


def await_job(core, job, meta, title, run_mode, phases, needs=()):
    """Wait for the submitted job; return (status, entries, history). ``needs``: the image
    and layer the result goes to, which must have survived the wait."""
    status = wait_for(job, core, title, run_mode == Gimp.RunMode.INTERACTIVE, needs)
    phases("wait")
    core["logs"].get_logger().info("job %s %s request_ids=%s %s", job.id, status.state,
                                   status.request_ids, status.error_type)
    if status.state != "done":
        if not status.results:
            job.remove()
        raise Failure(status.error or _("The request failed."),
                      Gimp.PDBStatusType.CALLING_ERROR if status.refused
                      else Gimp.PDBStatusType.EXECUTION_ERROR)
    meta["session_total"] = add_to_session_total(status.price)
    hist = core["history"].History(core["config"].home() / "history")
    entries = [hist.get(r["entry"]) for r in sorted(status.results, key=lambda r: r["index"])]
    fault_hook("import")
    if not all(item.is_valid() for item in needs):
        job.remove()
        raise Failure(_("The image or layer was closed while the model worked; the result is "
                        "kept: use Filters › AI (便携AI) › Recover Results."))
    return status, entries, hist


def fault_hook(point):
    """Test-only: BIANXIE_TEST_FAULT=<point> makes that step fail, to prove nothing is lost."""
    if os.environ.get("BIANXIE_TEST_FAULT") == point:
        raise RuntimeError("test fault at " + point)


def user_acts_while_waiting(needs):
    """Test-only: BIANXIE_TEST_FAULT=close-image / delete-layer does what a user may do while
    the model works (headless tests cannot act while a PDB call runs)."""
    fault = os.environ.get("BIANXIE_TEST_FAULT")
    if fault not in ("close-image", "delete-layer") or len(needs) < 2:
        return
    image, layer = needs[:2]
    if fault == "close-image" and image.is_valid():
        image.delete()
    elif fault == "delete-layer" and layer.is_valid():
        image.remove_layer(layer)


SESSION_TOTAL = "bianxie-session-total"


def session_total():
    """What was spent since GIMP started, kept in a global parasite that is never saved."""
    parasite = Gimp.get_parasite(SESSION_TOTAL)
    return float(bytes(parasite.get_data()).decode()) if parasite else 0.0


def add_to_session_total(price):
    total = session_total() + price
    Gimp.attach_parasite(Gimp.Parasite.new(SESSION_TOTAL, 0, list(repr(total).encode())))
    return total


def usage_text(status, core):
    from bianxie_core import cost

    if not status.usage:
        return ""
    currency = status.currency or "USD"
    total = session_total()
    return _("Used {tokens} tokens ≈ {price} (since GIMP started: {total}).").format(
        tokens=status.usage.get("total_tokens", 0),
        price=cost.format_price(status.price, currency),
        total=cost.format_price(total, currency))


# -- procedures -----------------------------------------------------------------------------


def settings_from(config, core):
    """The run's settings: the procedure's arguments over the defaults (model and align: the
    config's)."""
    cfg = core["config"].load()
    return arguments.settings_from(
        config, core["edit_settings"].EditSettings(model=cfg.model, align=cfg.align))


def do_edit(procedure, run_mode, image, drawables, config, core, references=False):
    from bianxie_core.geometry import Bounds

    layer = editable_layer(image, drawables)
    warm_up(core, run_mode)
    if not interactive_dialog(procedure, run_mode, config):
        return Gimp.PDBStatusType.CANCEL, None
    with early_worker(core, region=True) as job:
        settings = settings_from(config, core)
        refs = []
        if references:
            for ref in drawables[1:]:
                refs.append(read_rgba(ref, Bounds(0, 0, ref.get_width(), ref.get_height())))
        edit(core, job, image, layer, settings, procedure.get_name(), run_mode, refs)
    return Gimp.PDBStatusType.SUCCESS, None


def edit(core, job, image, layer, settings, proc_name, run_mode, refs=(), stored_selection=None,
         above=None):
    """Plan → read only the crop → the worker prepares, sends and places → one undo step; the
    result goes right above ``above`` (default: the source layer)."""
    from bianxie_core.geometry import Bounds, Extent

    phases = Phases()
    spec = service(core).model(settings.model)
    selection = selection_in_layer(image, layer, Bounds)
    use_stored = selection is None and stored_selection is not None
    if use_stored:  # re-run without a selection: the rectangle the first run used
        selection = Bounds(*stored_selection)
    plan = core["planning"].plan_edit(Extent(layer.get_width(), layer.get_height()), selection,
                                      spec, settings.region_options())
    pixels = read_rgba(layer, plan.crop)
    _ok, ox, oy = layer.get_offsets()
    coverage = None
    if plan.has_mask and not use_stored:
        coverage = read_coverage(image, plan.crop, ox, oy)
    phases("read")
    meta = {"procedure": proc_name, "layer": layer.get_name(), "source": layer.get_id(),
            "offset": [ox, oy], "canvas": list(plan.canvas), "crop": list(plan.crop),
            "selection": list(selection) if selection is not None else None,
            "settings": settings.stored()}
    job.submit_region(plan, settings, pixels, coverage, refs=refs, meta=meta,
                      coverage_rect=selection if use_stored and plan.has_mask else None)
    log_submitted(core, job, meta, settings.model, phases)
    status, entries, hist = await_job(core, job, meta, _("Edit Selection"), run_mode, phases,
                                      needs=(image, layer))
    placed = placements(job, status)
    meta["alignment"] = [p.get("alignment") for _patch, _mask, p in placed]
    phases("read-result")
    name = layer_name(settings, core)
    with one_undo_step(image):
        items = []
        for (patch, mask, placement), entry in zip(placed, entries):
            lay, fill = new_layer(image, name, patch, placement["x"] + ox,
                                  placement["y"] + oy, mask)
            items.append((lay, fill, entry))
        above = above if above is not None and above.is_valid() else layer
        insert_results(image, items, above.get_parent(), image.get_item_position(above), name,
                       meta, status)
        fault_hook("insert")
    phases("write")
    finish(job, entries, hist, image, status, core, settings, proc_name, phases,
           [w for _patch, _mask, p in placed for w in p["warnings"]])


def placements(job, status):
    """(patch, mask, description) of each placed result, in the order of the results."""
    out = []
    for placement in sorted(status.placements, key=lambda p: p["index"]):
        patch, mask = job.placed(placement)
        out.append((patch, mask, placement))
    return out


def layer_name(settings, core):
    text = settings.prompt if settings.prompt.strip() else _("Removed")
    return core["edit_settings"].layer_name(text)


def insert_results(image, items, parent, position, name, meta, status):
    """One layer, or a group with one layer per variant (the first visible)."""
    record = dict(meta, usage=status.usage, price=status.price, currency=status.currency,
                  request_ids=status.request_ids)
    if len(items) > 1:
        group = Gimp.GroupLayer.new(image, name)
        image.insert_layer(group, parent, position)
        for i, (lay, fill, entry) in enumerate(items):
            image.insert_layer(lay, group, i)
            fill()
            lay.set_name("{} #{}".format(name, i + 1))
            lay.set_visible(i == 0)
            attach_meta(lay, dict(record, entry=entry.id))
        attach_meta(group, record)
        return group
    lay, fill, entry = items[0]
    image.insert_layer(lay, parent, position)
    fill()
    attach_meta(lay, dict(record, entry=entry.id))
    return lay


def finish(job, entries, hist, image, status, core, settings, proc_name, phases, warnings=()):
    for entry in entries:
        hist.mark_imported(entry.id, where="GIMP image {}".format(image.get_id()))
    job.remove()
    remember_prompt(proc_name, settings.prompt)
    Gimp.displays_flush()
    core["logs"].get_logger().info("job %s phases %s", job.id, phases.line())
    text = " ".join([usage_text(status, core)] + list(status.warnings) + list(warnings)).strip()
    if text:
        Gimp.message(text)


def remember_prompt(proc_name, prompt):
    if prompt and prompt.strip():
        try:
            from bianxie_core import prompts
        except ImportError:  # an older core copied beside a newer plug-in
            return
        prompts.remember(proc_name, prompt)


def do_generate(procedure, run_mode, image, drawables, config, core):
    warm_up(core, run_mode)
    if not interactive_dialog(procedure, run_mode, config):
        return Gimp.PDBStatusType.CANCEL, None
    with early_worker(core) as job:
        s = settings_from(config, core)
        generate(core, job, image, s, config.get_property("background") or "auto", run_mode)
    return Gimp.PDBStatusType.SUCCESS, None


def generate(core, job, image, s, background, run_mode):
    phases = Phases()
    request = s.generate_request(background)
    service(core).check(request)
    meta = {"procedure": GENERATE, "settings": dict(s.stored(), background=background)}
    status, entries, hist = run_job(core, job, request, meta, _("Generate Image"), run_mode,
                                    phases)
    decoded = [decode(e.image_path.read_bytes()) for e in entries]
    width, height = decoded[0].width, decoded[0].height
    new_image = image is None or not image.is_valid()
    target = Gimp.Image.new(width, height, Gimp.ImageBaseType.RGB) if new_image else image
    try:
        with one_undo_step(target):
            name = core["edit_settings"].layer_name(s.prompt)
            items = []
            for pixels, entry in zip(decoded, entries):
                lay, fill = new_layer(target, name, pixels, 0, 0)
                items.append((lay, fill, entry))
            insert_results(target, items, None, 0, name, meta, status)
            fault_hook("insert")
    except BaseException:
        if new_image:
            target.delete()
        raise
    if new_image and run_mode == Gimp.RunMode.INTERACTIVE:
        Gimp.Display.new(target)
    phases("write")
    finish(job, entries, hist, target, status, core, s, GENERATE, phases)
    return target


def do_expand(procedure, run_mode, image, drawables, config, core):
    """Grow the canvas by margins or to an aspect ratio; the model fills the new area."""
    layer = editable_layer(image, drawables)
    warm_up(core, run_mode)
    if not interactive_dialog(procedure, run_mode, config):
        return Gimp.PDBStatusType.CANCEL, None
    with early_worker(core, region=True) as job:
        s = settings_from(config, core)
        s.prompt = s.prompt.strip() or core["edit_settings"].EXPAND_PROMPT
        margins = tuple(config.get_property(k) for k in ("left", "top", "right", "bottom"))
        aspect = core["edit_settings"].parse_aspect(config.get_property("aspect") or "")
        expand(core, job, image, layer, s, margins, aspect, run_mode)
    return Gimp.PDBStatusType.SUCCESS, None


def expand(core, job, image, layer, s, margins, aspect, run_mode):
    from bianxie_core.geometry import Extent

    phases = Phases()
    spec = service(core).model(s.model)
    plan = core["planning"].plan_expand(Extent(layer.get_width(), layer.get_height()), spec,
                                        s.region_options(),
                                        margins=None if aspect else margins, aspect=aspect)
    pixels = read_rgba(layer, plan.crop)
    phases("read")
    _ok, lx, ly = layer.get_offsets()
    meta = {"procedure": EXPAND, "layer": layer.get_name(), "source": layer.get_id(),
            "offset": [lx, ly], "origin": list(plan.origin), "settings": s.stored()}
    job.submit_region(plan, s, pixels, None, meta=meta)
    log_submitted(core, job, meta, s.model, phases)
    status, entries, hist = await_job(core, job, meta, _("Expand Canvas"), run_mode, phases,
                                      needs=(image, layer))
    patch, mask, placement = placements(job, status)[0]
    meta["alignment"] = [placement.get("alignment")]
    # the new canvas in image coordinates, before the resize
    cx, cy = lx - plan.origin[0], ly - plan.origin[1]
    cw, ch = plan.layer.width, plan.layer.height
    dx, dy = max(0, -cx), max(0, -cy)
    width = max(image.get_width() + dx, cx + dx + cw)
    height = max(image.get_height() + dy, cy + dy + ch)
    with one_undo_step(image):
        image.resize(width, height, dx, dy)
        lay, fill = new_layer(image, layer_name(s, core), patch, cx + dx + placement["x"],
                              cy + dy + placement["y"], mask)
        items = [(lay, fill, entries[0])]
        insert_results(image, items, layer.get_parent(), image.get_item_position(layer),
                       layer_name(s, core), meta, status)
        fault_hook("insert")
    phases("write")
    finish(job, entries[:1], hist, image, status, core, s, EXPAND, phases,
           placement["warnings"])


def do_rerun(procedure, run_mode, image, drawables, config, core):
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
        stored = core["edit_settings"].EditSettings.from_stored(meta["settings"])
    warm_up(core, run_mode)
    if not interactive_dialog(procedure, run_mode, config, stored=(stored, is_edit)):
        return Gimp.PDBStatusType.CANCEL, None
    source = source_layer(image, result_layer, meta) if is_edit else None
    with early_worker(core, region=source is not None) as job:
        s = arguments.settings_from(  # a new prompt or model, else the stored ones
            config, stored or core["edit_settings"].EditSettings.from_stored(meta["settings"]))
        if source is None:
            generate(core, job, image, s, meta["settings"].get("background", "auto"), run_mode)
        else:
            edit(core, job, image, source, s, meta.get("procedure") or EDIT, run_mode,
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


def do_recover(procedure, run_mode, image, drawables, config, core):
    hist = core["history"].History(core["config"].home() / "history")
    pending = hist.recoverable()
    if not pending:
        Gimp.message(_("Nothing to recover: every paid image is already in an image."))
        return Gimp.PDBStatusType.SUCCESS, image
    if run_mode == Gimp.RunMode.INTERACTIVE:
        pending = choose_entries(pending)
        if not pending:
            return Gimp.PDBStatusType.CANCEL, None
    decoded = [decode(e.image_path.read_bytes()) for e in pending]
    target = image if image is not None and image.is_valid() else Gimp.Image.new(
        decoded[0].width, decoded[0].height, Gimp.ImageBaseType.RGB)
    raw = core["raw"].RawPixels
    with one_undo_step(target):
        for entry, pixels in zip(pending, decoded):
            x, y, array = core["region"].recovered_position(
                entry.meta.get("canvas"), entry.meta.get("offset"), pixels.array())
            lay, fill = new_layer(target, _("Recovered: {name}").format(
                name=core["edit_settings"].layer_name(entry.meta.get("prompt") or "")),
                raw.of(array), x, y)
            target.insert_layer(lay, None, 0)
            fill()
            attach_meta(lay, {k: v for k, v in entry.meta.items() if k != "imported"})
    for entry in pending:
        hist.mark_imported(entry.id, where="GIMP image {}".format(target.get_id()))
    if run_mode == Gimp.RunMode.INTERACTIVE and target is not image:
        Gimp.Display.new(target)
    Gimp.displays_flush()
    return Gimp.PDBStatusType.SUCCESS, target


def do_settings(procedure, run_mode, image, drawables, config, core):
    cfgmod = core["config"]
    if run_mode == Gimp.RunMode.INTERACTIVE:
        return settings_dialog(core), None
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


def service(core):
    return core["service"].Service()


# -- registration ---------------------------------------------------------------------------

HANDLERS = {EDIT: do_edit, GENERATE: do_generate, RECOVER: do_recover, SETTINGS: do_settings,
            REFS: lambda *a: do_edit(*a, references=True), EXPAND: do_expand, RERUN: do_rerun}


def run(procedure, run_mode, image, drawables, config, data):
    name = procedure.get_name()
    try:
        core = load_core()
    except Failure as failure:
        return procedure.new_return_values(failure.status, GLib.Error.new_literal(
            GLib.quark_from_string("bianxie"), str(failure), 0))
    errors = core["errors"]
    try:
        status, result = HANDLERS[name](procedure, run_mode, image, list(drawables or []),
                                        config, core)
    except Failure as failure:
        return error_values(procedure, failure.status, str(failure), core)
    except errors.UsageError as exc:
        return error_values(procedure, Gimp.PDBStatusType.CALLING_ERROR, str(exc), core)
    except errors.BianxieError as exc:
        return error_values(procedure, Gimp.PDBStatusType.EXECUTION_ERROR, str(exc), core)
    except Exception as exc:  # a bug: log it, and still give one sentence
        core["logs"].get_logger().exception("unexpected error in %s", name)
        return error_values(procedure, Gimp.PDBStatusType.EXECUTION_ERROR, _(
            "Something went wrong in the plug-in ({kind}); any paid image is kept: use Recover "
            "Results. Details are in {log}.").format(
                kind=type(exc).__name__, log=core["config"].home() / "logs"), core)
    return procedure.new_return_values(status, None)


def error_values(procedure, status, message, core):
    core["logs"].get_logger().info("%s failed: %s", procedure.get_name(), message)
    return procedure.new_return_values(
        status, GLib.Error.new_literal(GLib.quark_from_string("bianxie"), message, 0))


def add_request_args(proc, kind):
    from_cfg = ""  # empty = the model from Settings
    proc.add_string_argument("prompt", _("_Prompt"), _("What to draw or change"), "", RW)
    proc.add_string_argument("model", _("Mo_del"), _("Model name; empty = the default from "
                                                     "Settings"), from_cfg, RW)
    proc.add_string_argument("size", _("Si_ze"), _("auto, 1024x1024, 1536x1024, 1024x1536, or "
                                                    "WxH for gpt-image-2"), "auto", RW)
    proc.add_string_argument("quality", _("_Quality"), _("auto, low, medium or high"),
                             "auto", RW)
    if kind != EXPAND:
        proc.add_int_argument("n", _("_Variants"), _("Number of images (1-10)"), 1, 10, 1, RW)
    if kind == GENERATE:
        proc.add_string_argument("background", _("_Background"),
                                 _("auto, transparent or opaque"), "auto", RW)
    elif kind == EXPAND:
        for name, label in (("left", _("Le_ft")), ("top", _("_Top")), ("right", _("Ri_ght")),
                            ("bottom", _("_Bottom"))):
            proc.add_int_argument(name, label, _("Pixels to add on this side"), 0, 8192, 0, RW)
        proc.add_string_argument("aspect", _("_Aspect ratio"), _(
            "Grow to this width:height (for example 16:9) instead of the margins"), "", RW)
    else:
        proc.add_string_argument("input-fidelity", _("_Input fidelity"),
                                 _("empty, low or high"), "", RW)
        proc.add_string_argument("context", _("Con_text"), _("auto, pixels (128), percent "
                                                             "(50%) or layer"), "auto", RW)
        proc.add_int_argument("grow", _("_Grow"), _("Grow the selection by pixels"),
                              0, 256, 6, RW)
        proc.add_int_argument("feather", _("_Feather"), _("Soft edge in pixels"), 0, 256, 12, RW)
        proc.add_boolean_argument("color-match", _("Color m_atch"),
                                  _("Match colour and tone at the seam"), True, RW)
        proc.add_boolean_argument("remove", _("R_emove"), _("Remove what is selected (no "
                                                            "prompt needed)"), False, RW)
    if kind != GENERATE:
        proc.add_boolean_argument("align", _("A_lign the answer"), _(
            "Move an answer the model redrew shifted back into place"), True, RW)
    proc.add_string_argument("output-format", _("O_utput format"), _("png, jpeg or webp"),
                             "png", RW)
    proc.add_boolean_argument("stream", _("Strea_m previews"),
                              _("Show partial images while the model works"), True, RW)


class BianxiePlugIn(Gimp.PlugIn):
    def do_query_procedures(self):
        return [EDIT, REFS, GENERATE, SETTINGS, RECOVER, RERUN, EXPAND]

    def do_create_procedure(self, name):
        proc = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        proc.set_attribution("bianxie-gimp contributors", "GPL-3.0-or-later", "2026")
        if name == EDIT:
            proc.set_menu_label(_("_Edit Selection…"))
            proc.set_documentation(_("Edit the selection with an AI model"), _(
                "Sends the selected area with context to the images edits endpoint and adds "
                "the result as a new, aligned layer with a soft mask."), name)
            proc.set_image_types("RGB*, GRAY*")
            proc.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
            add_request_args(proc, EDIT)
        elif name == REFS:
            proc.set_menu_label(_("Edit with _Reference Layers…"))
            proc.set_documentation(_("Edit a layer using the other selected layers as "
                                     "references"), _(
                "The first selected layer is edited (with the selection as mask); the others "
                "are sent as reference images (image[])."), name)
            proc.set_image_types("RGB*, GRAY*")
            proc.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE
                                      | Gimp.ProcedureSensitivityMask.DRAWABLES)
            add_request_args(proc, REFS)
        elif name == GENERATE:
            proc.set_menu_label(_("_Generate Image…"))
            proc.set_documentation(_("Generate an image from text"), _(
                "Creates a new layer in the current image, or a new image."), name)
            proc.set_sensitivity_mask(ANY_TIME)
            proc.add_menu_path("<Image>/File/Create")
            add_request_args(proc, GENERATE)
        elif name == SETTINGS:
            proc.set_menu_label(_("_Settings…"))
            proc.set_documentation(_("Connection settings for the images API"), _(
                "Base URL, API key (stored only in the config file, mode 0600), default "
                "model, timeouts, proxy and CA bundle."), name)
            proc.set_sensitivity_mask(ANY_TIME)
            proc.add_string_argument("base-url", _("_Base URL"), None, "", RW)
            proc.add_string_argument("model", _("Default _model"), None, "", RW)
            proc.add_double_argument("timeout", _("_Timeout (s)"), None, 0.0, 3600.0, 0.0, RW)
            proc.add_string_argument("proxy", _("_Proxy URL"), None, "", RW)
            proc.add_string_argument("ca-bundle", _("C_A bundle"), None, "", RW)
        elif name == EXPAND:
            proc.set_menu_label(_("AI _Expand Canvas…"))
            proc.set_documentation(_("Grow the canvas and let the model fill the new area"), _(
                "Adds margins (or grows to an aspect ratio) and fills them through the images "
                "edits endpoint, as a new layer in one undo step."), name)
            proc.set_image_types("RGB*, GRAY*")
            proc.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
            proc.add_menu_path("<Image>/Image")
            add_request_args(proc, EXPAND)
        elif name == RERUN:
            proc.set_menu_label(_("Re-_run on This Layer…"))
            proc.set_documentation(_("Run the request stored on a result layer again"), _(
                "Uses the prompt and settings kept on the layer (optionally a new prompt or "
                "model) and adds the new result as a sibling layer."), name)
            proc.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
            proc.add_menu_path("<Layers>")
            proc.add_string_argument("prompt", _("New _prompt"), _("Empty = the stored prompt"),
                                     "", RW)
            proc.add_string_argument("model", _("Mo_del"), _("Empty = the stored model"), "", RW)
        elif name == RECOVER:
            proc.set_menu_label(_("Re_cover Results…"))
            proc.set_documentation(_("Import paid results that never reached an image"), _(
                "Lists the history entries not yet imported and adds them as layers."), name)
            proc.set_sensitivity_mask(ANY_TIME)
        proc.add_menu_path(MENU)
        return proc


Gimp.main(BianxiePlugIn.__gtype__, sys.argv)
