"""The procedures' arguments as core settings: one mapping from a procedure config onto
``EditSettings``, for a run, for the dialog's cost estimate and for Re-run."""

import copy

SETTING_ARGUMENTS = ("prompt", "model", "size", "quality", "n", "input-fidelity", "context",
                     "grow", "feather", "color-match", "align", "remove", "output-format",
                     "stream")
FIDELITY_DEFAULT = "default"  # the choice that sends no input_fidelity


def has(config, name):
    return config.find_property(name) is not None


def context_text(config):
    """The context choice (and its amount) as the core takes it: auto, layer, 128 or 50%."""
    mode = config.get_property("context")
    if mode == "pixels" and has(config, "context-pixels"):
        return str(config.get_property("context-pixels"))
    if mode == "percent" and has(config, "context-percent"):
        return "{}%".format(config.get_property("context-percent"))
    return mode


def settings_from(config, base):
    """A copy of ``base`` (``EditSettings``) with the procedure's arguments laid over it; an
    argument the procedure does not have, or an empty text, keeps the base's value."""
    from bianxie_core.models import size_text  # the core loads in run(), see load_core

    settings = copy.copy(base)
    for name in SETTING_ARGUMENTS:
        if not has(config, name):
            continue
        value = context_text(config) if name == "context" else config.get_property(name)
        if value is None or isinstance(value, str) and not value.strip():
            continue  # a text argument nobody set is None
        if isinstance(value, str) and name != "prompt":
            value = value.strip()
        if name == "input-fidelity" and value == FIDELITY_DEFAULT:
            value = ""
        if name == "align":
            value = value and base.align  # the config's "align off" holds for every edit
        setattr(settings, name.replace("-", "_"), value)
    settings.size = size_text(settings.size or "auto")
    if not has(config, "quality") and settings.model != base.model:
        settings.quality = fitted_quality(settings)
    return settings


def fitted_quality(settings):
    """Re-run's stored quality for the new model it is given (it has no quality to choose):
    a layer made at max re-run with gpt-image-1.5 runs at high."""
    from bianxie_core import catalog

    return catalog.fitted_quality(settings.quality, catalog.quality_choices(settings.model))
