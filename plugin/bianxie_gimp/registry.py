"""The procedure table: each procedure's name, menu entry, documentation, arguments and the
function in procedures.py that runs it. No core import: GIMP reads this at every start."""

from typing import NamedTuple, Optional, Tuple

from gi.repository import Gimp, GObject

from plugin_i18n import _

MENU = "<Image>/Filters/AI (便携AI)"
EDIT, REFS, GENERATE = "bianxie-edit-selection", "bianxie-edit-with-references", "bianxie-generate"
SETTINGS, RECOVER = "bianxie-settings", "bianxie-recover-results"
RERUN, EXPAND = "bianxie-rerun-layer", "bianxie-expand"
RW = GObject.ParamFlags.READWRITE
ANY_TIME = (Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES
            | Gimp.ProcedureSensitivityMask.NO_DRAWABLES | Gimp.ProcedureSensitivityMask.NO_IMAGE)
DRAWABLE = Gimp.ProcedureSensitivityMask.DRAWABLE
IMAGES = "RGB*, GRAY*"


class Entry(NamedTuple):
    handler: str  # the function in procedures.py
    label: str
    blurb: str
    help: str
    sensitivity: Gimp.ProcedureSensitivityMask
    arguments: str  # "request" (add_request_args), "settings", "rerun" or ""
    image_types: Optional[str] = None
    menus: Tuple[str, ...] = ()  # menu paths besides MENU


def table():
    """The procedures by name (translated as GIMP's language asks at each start)."""
    return {
        EDIT: Entry(
            "do_edit", _("_Edit Selection…"), _("Edit the selection with an AI model"),
            _("Sends the selected area with context to the images edits endpoint and adds the "
              "result as a new, aligned layer with a soft mask."), DRAWABLE, "request", IMAGES),
        REFS: Entry(
            "do_edit_with_references", _("Edit with _Reference Layers…"),
            _("Edit a layer using the other selected layers as references"),
            _("The first selected layer is edited (with the selection as mask); the others are "
              "sent as reference images (image[])."),
            DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES, "request", IMAGES),
        GENERATE: Entry(
            "do_generate", _("_Generate Image…"), _("Generate an image from text"),
            _("Creates a new layer in the current image, or a new image."), ANY_TIME, "request",
            menus=("<Image>/File/Create",)),
        SETTINGS: Entry(
            "do_settings", _("_Settings…"), _("Connection settings for the images API"),
            _("Base URL, API key (stored only in the config file, mode 0600), default model, "
              "timeouts, proxy and CA bundle."), ANY_TIME, "settings"),
        RECOVER: Entry(
            "do_recover", _("Re_cover Results…"),
            _("Import paid results that never reached an image"),
            _("Lists the history entries not yet imported and adds them as layers."), ANY_TIME,
            ""),
        RERUN: Entry(
            "do_rerun", _("Re-_run on This Layer…"),
            _("Run the request stored on a result layer again"),
            _("Uses the prompt and settings kept on the layer (optionally a new prompt or "
              "model) and adds the new result as a sibling layer."), DRAWABLE, "rerun",
            menus=("<Layers>",)),
        EXPAND: Entry(
            "do_expand", _("AI _Expand Canvas…"),
            _("Grow the canvas and let the model fill the new area"),
            _("Adds margins (or grows to an aspect ratio) and fills them through the images "
              "edits endpoint, as a new layer in one undo step."), DRAWABLE, "request", IMAGES,
            menus=("<Image>/Image",)),
    }


def create(plugin, name, run):
    """The ``Gimp.ImageProcedure`` for ``name``, as the table describes it."""
    entry = table()[name]
    proc = Gimp.ImageProcedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run, None)
    proc.set_attribution("bianxie-gimp contributors", "GPL-3.0-or-later", "2026")
    proc.set_menu_label(entry.label)
    proc.set_documentation(entry.blurb, entry.help, name)
    if entry.image_types:
        proc.set_image_types(entry.image_types)
    proc.set_sensitivity_mask(entry.sensitivity)
    for path in entry.menus:
        proc.add_menu_path(path)
    if entry.arguments == "request":
        add_request_args(proc, name)
    elif entry.arguments == "settings":
        add_settings_args(proc)
    elif entry.arguments == "rerun":
        proc.add_string_argument("prompt", _("New _prompt"), _("Empty = the stored prompt"),
                                 "", RW)
        proc.add_string_argument("model", _("Mo_del"), _("Empty = the stored model"), "", RW)
    proc.add_menu_path(MENU)
    return proc


def add_settings_args(proc):
    """Scripts change the settings here; empty or 0 keeps a setting (the key is never an
    argument: GIMP would keep it in plain text with the image)."""
    proc.add_string_argument("base-url", _("_Base URL"), _(
        "The images API's address, for example https://api.bianxie.ai/v1"), "", RW)
    proc.add_string_argument("model", _("Default _model"), _(
        "The model a dialog starts with"), "", RW)
    proc.add_double_argument("timeout", _("_Timeout (s)"), _(
        "Seconds to wait for an answer"), 0.0, 3600.0, 0.0, RW)
    proc.add_string_argument("proxy", _("_Proxy URL"), _(
        "http://, https:// or socks5h:// proxy"), "", RW)
    proc.add_string_argument("ca-bundle", _("C_A bundle"), _(
        "A PEM file of extra certificates to trust"), "", RW)


# Enumerated arguments are Gimp.Choice: the nick is what scripts pass (Python and Script-Fu),
# the label what the dialog shows. The nicks are the API's words (tests/test_plugin_modules.py
# checks them against the core's lists); input fidelity's "default" sends nothing.
def quality_choices():
    return (("auto", _("Auto"), _("The model decides")), ("low", _("Low"), _("Fastest, cheapest")),
            ("medium", _("Medium"), ""), ("high", _("High"), _("More detail, costs more")),
            ("xhigh", _("Extra high"), _("gpt-image-2.5 and later only")),
            ("max", _("Maximum"), _("gpt-image-2.5 and later only")))


def background_choices():
    return (("auto", _("Auto"), _("The model decides")),
            ("transparent", _("Transparent"), _("Needs png or webp output")),
            ("opaque", _("Opaque"), ""))


def format_choices():
    return (("png", "PNG", _("Lossless")), ("jpeg", "JPEG", _("Smaller, no transparency")),
            ("webp", "WebP", ""))


def fidelity_choices():
    return (("default", _("Model's default"), _("Not sent")),
            ("low", _("Low"), ""), ("high", _("High"), _("Keep faces and details closer to the "
                                                        "input (costs more)")))


def context_choices():
    return (("auto", _("Auto"), _("About the selection's own size around it")),
            ("pixels", _("Pixels"), _("Context pixels on each side")),
            ("percent", _("Percent"), _("Context percent of the selection's size")),
            ("layer", _("Whole layer"), _("Send the whole layer")))


def choice(items):
    """A Gimp.Choice of (nick, label, help) items."""
    made = Gimp.Choice.new()
    for number, (nick, label, help_text) in enumerate(items):
        made.add(nick, number, label, help_text)
    return made


def add_request_args(proc, kind):
    """The arguments of Edit Selection, Edit with References, Generate and Expand. Their names
    and order are the scripting interface: new ones go at the end."""
    from_cfg = ""  # empty = the model from Settings
    proc.add_string_argument("prompt", _("_Prompt"), _("What to draw or change"), "", RW)
    proc.add_string_argument("model", _("Mo_del"), _("Model name; empty = the default from "
                                                     "Settings"), from_cfg, RW)
    proc.add_string_argument("size", _("Si_ze"), _(
        "auto, 1024x1024, 1536x1024 or 1024x1536; models that take any size (gpt-image-2) also "
        "take WIDTHxHEIGHT"), "auto", RW)
    proc.add_choice_argument("quality", _("_Quality"), _("How much detail the model draws"),
                             choice(quality_choices()), "auto", RW)
    if kind != EXPAND:
        proc.add_int_argument("n", _("_Variants"), _("Number of images (1-10)"), 1, 10, 1, RW)
    if kind == GENERATE:
        proc.add_choice_argument("background", _("_Background"), _("A transparent or opaque "
                                                                   "background"),
                                 choice(background_choices()), "auto", RW)
    elif kind == EXPAND:
        for name, label in (("left", _("Le_ft")), ("top", _("_Top")), ("right", _("Ri_ght")),
                            ("bottom", _("_Bottom"))):
            proc.add_int_argument(name, label, _("Pixels to add on this side"), 0, 8192, 0, RW)
        proc.add_string_argument("aspect", _("_Aspect ratio"), _(
            "Grow to this width:height (for example 16:9) instead of the margins"), "", RW)
    else:
        proc.add_choice_argument("input-fidelity", _("_Input fidelity"), _(
            "How closely the model keeps the input image"), choice(fidelity_choices()),
            "default", RW)
        proc.add_choice_argument("context", _("Con_text"), _(
            "How much of the picture around the selection is sent"), choice(context_choices()),
            "auto", RW)
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
    proc.add_choice_argument("output-format", _("O_utput format"), _(
        "The image format the model answers in"), choice(format_choices()), "png", RW)
    proc.add_boolean_argument("stream", _("Strea_m previews"),
                              _("Show partial images while the model works"), True, RW)
    if kind not in (GENERATE, EXPAND):
        proc.add_int_argument("context-pixels", _("Context pi_xels"), _(
            "Pixels on each side when Context is Pixels"), 0, 4096, 128, RW)
        proc.add_int_argument("context-percent", _("Context pe_rcent"), _(
            "Percent of the selection's size when Context is Percent"), 0, 400, 50, RW)
