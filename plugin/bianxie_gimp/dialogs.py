"""The plug-in's dialogs: procedure dialogs with a live cost estimate, Settings, and the
Recover chooser. Only GTK/GimpUi glue; every value is read and written through the core."""

import gi

from gi.repository import Gimp

from plugin_i18n import _


def interactive_dialog(procedure, run_mode, config):
    if run_mode != Gimp.RunMode.INTERACTIVE:
        return True
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    GimpUi.init("bianxie_gimp")
    dialog = GimpUi.ProcedureDialog.new(procedure, config, procedure.get_menu_label())
    dialog.fill(None)
    add_cost_label(dialog, config)
    ok = dialog.run()
    dialog.destroy()
    return ok


def estimate_text(config):
    from bianxie_core import config as cfgmod
    from bianxie_core import cost, models

    cfg = cfgmod.load()
    spec = models.get_model(config.get_property("model") or cfg.model, cfg.models)
    size = config.get_property("size") or "auto"
    quality = config.get_property("quality") or "auto"
    estimate = cost.estimate(spec, size, quality, config.get_property("n"),
                             prices=cfg.prices, currency=cfg.currency)
    return _("Estimated cost: {estimate}").format(estimate=estimate.format())


def add_cost_label(dialog, config):
    """A live estimate under the arguments, updated as model, size, quality and n change."""
    from gi.repository import Gtk

    label = Gtk.Label(xalign=0, wrap=True)

    def update(*_args):
        try:
            label.set_text(estimate_text(config))
        except Exception as exc:  # an unknown size while typing: show why, keep the dialog
            label.set_text(str(exc))

    config.connect("notify", update)
    update()
    dialog.get_content_area().pack_end(label, False, False, 6)
    label.show()


def settings_dialog(core):
    """Base URL, key (hidden), model, timeouts, proxy, CA bundle, and Test Connection."""
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi, Gtk

    cfgmod = core["config"]
    cfg = cfgmod.load()
    GimpUi.init("bianxie_gimp")
    dialog = GimpUi.Dialog(title=_("便携AI Settings"))
    dialog.add_button(_("_Cancel"), Gtk.ResponseType.CANCEL)
    dialog.add_button(_("_Save"), Gtk.ResponseType.OK)
    grid = Gtk.Grid(row_spacing=6, column_spacing=12, border_width=12)
    dialog.get_content_area().pack_start(grid, True, True, 0)
    rows = [("base_url", _("Base URL"), cfg.base_url, True),
            ("api_key", _("API key"), "", False),
            ("model", _("Default model"), cfg.model, True),
            ("timeout", _("Timeout (s)"), str(cfg.timeout), True),
            ("connect_timeout", _("Connect timeout (s)"), str(cfg.connect_timeout), True),
            ("proxy", _("Proxy URL"), cfg.proxy, True),
            ("ca_bundle", _("Extra CA bundle"), cfg.ca_bundle, True)]
    entries = {}
    for row, (field, label, value, visible) in enumerate(rows):
        grid.attach(Gtk.Label(label=label, xalign=0), 0, row, 1, 1)
        entry = Gtk.Entry(text=value, visibility=visible, hexpand=True)
        if field == "api_key":
            entry.set_placeholder_text(
                _("(unchanged: {key})").format(key=cfgmod.redact_key(cfg.api_key))
                if cfg.api_key else _("paste your key"))
        grid.attach(entry, 1, row, 1, 1)
        entries[field] = entry
    result = Gtk.Label(label="", xalign=0, wrap=True)
    test = Gtk.Button(label=_("Test Connection"))
    grid.attach(test, 0, len(rows), 1, 1)
    grid.attach(result, 1, len(rows), 1, 1)

    def collected():
        changes = {}
        for field, entry in entries.items():
            text = entry.get_text().strip()
            if field == "api_key" and not text:
                continue
            changes[field] = cfgmod.coerce(field, text) if text else text
        if changes.get("base_url"):
            changes["base_url"] = cfgmod.normalise_base_url(
                changes["base_url"], allow_http=cfg.allow_http)
        return changes

    def on_test(_button):
        from bianxie_core.client import ImagesClient

        try:
            trial = cfgmod.Config(**dict(cfg.__dict__, **collected()))
            client = ImagesClient(trial.base_url, cfgmod.resolve_api_key(trial),
                                  timeout=min(trial.timeout, 30),
                                  connect_timeout=trial.connect_timeout, proxy=trial.proxy,
                                  ca_bundle=trial.ca_bundle)
            names = [m for m in client.list_models() if "image" in m]
            result.set_text(_("Connected. Image models: {names}").format(
                names=", ".join(names) or _("none listed")))
        except core["errors"].BianxieError as exc:
            result.set_text(str(exc))

    test.connect("clicked", on_test)
    dialog.show_all()
    status = Gimp.PDBStatusType.CANCEL
    while dialog.run() == Gtk.ResponseType.OK:
        try:
            cfgmod.update(**collected())
            status = Gimp.PDBStatusType.SUCCESS
            break
        except core["errors"].BianxieError as exc:
            result.set_text(str(exc))
    dialog.destroy()
    return status


def choose_entries(entries):
    """Interactive Recover: every pending entry is offered; all are imported on OK."""
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi, Gtk

    GimpUi.init("bianxie_gimp")
    dialog = GimpUi.Dialog(title=_("Recover Results"))
    dialog.add_button(_("_Cancel"), Gtk.ResponseType.CANCEL)
    dialog.add_button(_("_Import"), Gtk.ResponseType.OK)
    box = dialog.get_content_area()
    checks = []
    for entry in entries[:50]:
        label = "{}  {}".format(entry.id, (entry.meta.get("prompt") or "")[:60])
        check = Gtk.CheckButton(label=label)
        check.set_active(True)
        box.pack_start(check, False, False, 2)
        checks.append((check, entry))
    dialog.show_all()
    ok = dialog.run() == Gtk.ResponseType.OK
    chosen = [e for c, e in checks if c.get_active()] if ok else []
    dialog.destroy()
    return chosen
