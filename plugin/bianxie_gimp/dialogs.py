"""The plug-in's dialogs: procedure dialogs with a live cost estimate, Settings, and the
Recover chooser. Only GTK/GimpUi glue; every value is read and written through the core."""

import re

import gi
from gi.repository import Gimp

import checklist
from arguments import has, settings_from
from help import replace_help_button
from layout import lay_out
from plugin_i18n import _


def interactive_dialog(procedure, run_mode, config, stored=None):
    """The procedure's dialog; True to go on. Extras (model, size and prompt menus, cost label,
    cost confirmation) are best effort: when one fails, the plain dialog still works.
    ``stored``: see ``estimate_for``."""
    if run_mode != Gimp.RunMode.INTERACTIVE:
        return True
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    GimpUi.init("bianxie_gimp")
    stored = stored or (None, procedure.get_name() != "bianxie-generate")
    dialog = GimpUi.ProcedureDialog.new(procedure, config, plain_label(procedure.get_menu_label()))
    _extra(add_choice_menus, dialog, procedure, config)
    _extra(quality_follows_model, config)
    if not _extra(lay_out, dialog, procedure, config, default=False):
        dialog.fill(None)
    _extra(replace_help_button, dialog, procedure.get_name(),
           plain_label(procedure.get_menu_label()))
    _extra(add_cost_label, dialog, config, stored)
    ok = dialog.run()
    dialog.destroy()
    if ok and not _extra(confirm_cost, config, stored, default=True):
        return False
    return ok


def plain_label(label):
    """A menu label as a window title: "_Edit…" and "编辑(_E)…" lose the mnemonic."""
    return re.sub(r"\(_[^)]\)|_", "", label or "").strip()


def _extra(function, *args, default=None):
    """Run a dialog extra; a failure is logged and gives ``default``."""
    try:
        return function(*args)
    except Exception:
        try:
            from bianxie_core import logs

            logs.get_logger().exception("dialog extra %s failed", function.__name__)
        except Exception:
            pass
        return default


def estimate_for(config, cfg=None, stored=None):
    """The cost estimate for the dialog's current values. ``stored``: (EditSettings or None,
    is_edit); the settings are those of a result layer being re-run, which the dialog's
    non-empty values override. Without it, a dialog with input fidelity is an edit's."""
    from bianxie_core import config as cfgmod
    from bianxie_core import edit_settings, models
    from bianxie_core.service import requests_for

    cfg = cfg or cfgmod.load()
    settings, edit = stored or (None, has(config, "input-fidelity"))
    settings = settings_from(config, settings or edit_settings.EditSettings(model=cfg.model))
    spec = models.get_model(settings.model or cfg.model, cfg.models)
    return settings.estimate(spec, edit=edit, prices=cfg.prices, currency=cfg.currency,
                             requests=requests_for(cfg, settings.n, settings.stream, spec.name))


def estimate_text(config, stored=None):
    return _("Estimated cost: {estimate}").format(
        estimate=estimate_for(config, stored=stored).format())


def add_cost_label(dialog, config, stored=None):
    """A live estimate under the arguments, updated as model, size, quality and n change."""
    from gi.repository import Gtk

    label = Gtk.Label(xalign=0, wrap=True, max_width_chars=60)
    watched = {"model", "size", "quality", "n", "prompt", "input-fidelity"}

    def update(_config=None, pspec=None):
        if pspec is not None and pspec.name not in watched:
            return
        try:
            label.set_text(estimate_text(config, stored))
        except Exception as exc:  # an unknown size while typing: show why, keep the dialog
            label.set_text(str(exc))

    config.connect("notify", update)
    update()
    dialog.get_content_area().pack_end(label, False, False, 6)
    label.show()


def confirm_cost(config, stored=None):
    """Ask before a run estimated above ``cost_confirm_above`` (when > 0); False = cancel."""
    from bianxie_core import config as cfgmod
    from bianxie_core.i18n import join_sentences

    cfg = cfgmod.load()
    limit = float(cfg.cost_confirm_above or 0)
    if limit <= 0:
        return True
    estimate = estimate_for(config, cfg, stored)
    if estimate.within(limit):  # unknown or open-ended: cannot be shown to be under
        return True
    from gi.repository import Gtk

    dialog = Gtk.MessageDialog(message_type=Gtk.MessageType.QUESTION,
                               buttons=Gtk.ButtonsType.NONE,
                               text=_("This run may cost more than you set as the limit."),
                               title=_("Cost above your limit"))
    dialog.format_secondary_text(join_sentences(estimate.over_limit(limit), _("Run it anyway?")))
    dialog.add_button(_("_Cancel"), Gtk.ResponseType.CANCEL)
    dialog.add_button(_("_Run"), Gtk.ResponseType.OK)
    dialog.set_default_response(Gtk.ResponseType.CANCEL)
    answer = dialog.run()
    dialog.destroy()
    return answer == Gtk.ResponseType.OK


def quality_follows_model(config):
    """The quality drop-down offers what the chosen model takes (gpt-image-2.5's xhigh and max
    only to its family, nothing but auto to a family without qualities): the rest is greyed out,
    and a quality the model does not take shows as high (or auto). The quality chosen by hand
    comes back when the model takes it again: a name typed letter by letter passes through
    other models (gpt-image-2. on the way to gpt-image-2.6)."""
    if not (has(config, "quality") and has(config, "model")):
        return
    from bianxie_core import catalog
    from bianxie_core import config as cfgmod

    cfg = cfgmod.load()
    # the argument's own Gimp.Choice: GimpUi's drop-down greys out what it says is not valid
    choice = Gimp.param_spec_choice_get_choice(config.find_property("quality"))
    wanted = [config.get_property("quality")]
    following = [False]

    def chosen(_config=None, _pspec=None):
        if not following[0]:
            wanted[0] = config.get_property("quality")

    def follow():
        taken = catalog.quality_choices(config.get_property("model") or "", cfg)
        for nick in taken:  # GObject refuses to set a choice that is greyed out
            choice.set_sensitive(nick, True)
        quality = catalog.fitted_quality(wanted[0], taken)
        if config.get_property("quality") != quality:
            config.set_property("quality", quality)
        for nick in choice.list_nicks():
            choice.set_sensitive(nick, nick in taken)
        return True

    def every_one():
        for nick in choice.list_nicks():
            choice.set_sensitive(nick, True)

    def update(_config=None, _pspec=None):  # a signal handler: nothing may escape it
        following[0] = True
        try:
            if not _extra(follow, default=False):
                _extra(every_one)
        finally:
            following[0] = False

    config.connect("notify::quality", chosen)
    config.connect("notify::model", update)
    update()


# -- menus beside the model, size and prompt entries ---------------------------------------


def add_choice_menus(dialog, procedure, config):
    """A drop-down button on the model and size entries; each one is separate, so a failure
    leaves the other (and GIMP's own entry, still bound to the property). The prompt's recent
    menu is beside its text box (layout.py)."""
    from bianxie_core import catalog

    def models_menu():
        return catalog.grouped_choices(config.get_property("model") or "", fetch=True)

    def sizes_menu():
        return [(size, size) for size in catalog.size_choices(config.get_property("model"))]

    from bianxie_core import config as cfgmod

    hints = {}
    if procedure.get_name() != "bianxie-rerun-layer":  # there, empty = the stored model
        hints["model"] = _("{model} (from Settings)").format(model=cfgmod.load().model)
    for prop, items, tip in (
            ("model", models_menu, _("Known models: built-in, from Settings, and the server's "
                                     "list")),
            ("size", sizes_menu, _("Sizes this model takes"))):
        if has(config, prop):
            _extra(attach_menu, dialog, config, prop, items, tip, hints.get(prop))


def attach_menu(dialog, config, prop, items, tip, placeholder=None):
    """An icon in the property's entry that pops up ``items()`` — [(value, label)], a value of
    None a heading — and sets the property to the chosen value."""
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi, Gtk

    widget = dialog.get_widget(prop, GimpUi.LabelEntry.__gtype__)
    entry = widget.get_entry() if hasattr(widget, "get_entry") else widget
    if not isinstance(entry, Gtk.Entry):
        return
    if placeholder:
        entry.set_placeholder_text(placeholder)
    icon = Gtk.EntryIconPosition.SECONDARY
    entry.set_icon_from_icon_name(icon, "pan-down-symbolic")
    entry.set_icon_tooltip_text(icon, tip)
    entry.set_icon_activatable(icon, True)
    menus = []  # keeps the open menu alive while it is shown

    def on_icon(_entry, position, event):
        if position != icon:
            return
        choices = items()
        menu = Gtk.Menu()
        if not choices:
            empty = Gtk.MenuItem(label=_("(none yet)"))
            empty.set_sensitive(False)
            menu.append(empty)
        for value, label in choices:
            item = Gtk.MenuItem(label=label)
            if value is None:  # a heading: what the models below it can do
                item.set_sensitive(False)
            else:
                item.connect("activate", lambda _item, v=value: config.set_property(prop, v))
            menu.append(item)
        menu.show_all()
        menu.attach_to_widget(entry, None)
        menus[:] = [menu]
        menu.popup_at_pointer(event)

    entry.connect("icon-press", on_icon)


def settings_dialog():
    """Base URL, key (hidden), model, timeouts, proxy, CA bundle, and Test Connection."""
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi, Gtk

    from bianxie_core import config as cfgmod
    from bianxie_core.errors import BianxieError

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
    result = Gtk.Label(label="", xalign=0, wrap=True, selectable=True, max_width_chars=60)
    test = Gtk.Button.new_with_mnemonic(_("_Test Connection"))
    test.set_halign(Gtk.Align.START)
    grid.attach(test, 0, len(rows), 2, 1)
    grid.attach(result, 0, len(rows) + 1, 2, 1)
    dialog.set_default_size(520, -1)

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
        from bianxie_core import logs
        from bianxie_core.diagnose import diagnose_config

        try:
            found = diagnose_config(cfgmod.Config(**dict(cfg.__dict__, **collected())))
            text = "\n".join(found.lines() + [found.summary()])
        except BianxieError as exc:
            text = str(exc)
        result.set_text(text)
        logs.get_logger().info("connection test: %s", text.replace("\n", " | "))

    test.connect("clicked", on_test)
    _extra(replace_help_button, dialog, "bianxie-settings", _("Settings"))
    dialog.show_all()
    status = Gimp.PDBStatusType.CANCEL
    while dialog.run() == Gtk.ResponseType.OK:
        try:
            cfgmod.update(**collected())
            status = Gimp.PDBStatusType.SUCCESS
            break
        except BianxieError as exc:
            result.set_text(str(exc))
    dialog.destroy()
    return status


def choose_entries(entries):
    """Interactive Recover: every pending entry is offered, in a list that scrolls; those
    checked are imported."""
    def fill(box, Gtk):
        scroller = Gtk.ScrolledWindow(hscrollbar_policy=Gtk.PolicyType.NEVER,
                                      propagate_natural_height=True, max_content_height=480)
        rows = Gtk.Box(orientation=Gtk.Orientation.VERTICAL)
        scroller.add(rows)
        box.pack_start(scroller, True, True, 0)
        checks = []
        for entry in entries:
            prompt = " ".join((entry.meta.get("prompt") or "").split())
            check = Gtk.CheckButton(label="{}  {}".format(entry.id, prompt[:60]))
            check.set_active(True)
            rows.pack_start(check, False, False, 2)
            checks.append((check, entry))
        return checks

    return checklist.ask(_("Recover Results"), _("_Cancel"), _("_Import"), fill) or []
