"""The commands that change nothing paid: ``cost``, ``config`` and ``models``."""

from __future__ import annotations

import dataclasses
import getpass
import os
import sys
from typing import Optional

from bianxie_core import config as configmod
from bianxie_core import cost, errors, families, models, params
from bianxie_core.cli_outputs import say, tell
from bianxie_core.i18n import _
from bianxie_core.safe_text import printable


def cmd_cost(args, out) -> int:
    from bianxie_core.service import requests_for

    cfg = configmod.load()
    spec = models.get_model(args.model or cfg.model, cfg.models)
    family = spec.family
    if family is not None and family.sizes == "none":
        args.size = "auto"  # the model makes its own size
    if args.size != "auto":
        models.check_size(spec, args.size)
    params._int_range("n", args.n, 1, params.MAX_N)
    if args.quality is None:  # medium, for a model that takes a quality
        args.quality = "medium" if family is None or family.qualities else "auto"
    params.check_quality(spec, args.quality)
    estimate = cost.estimate(spec, args.size, args.quality, args.n, prices=cfg.prices,
                             currency=cfg.currency,
                             requests=requests_for(cfg, args.n, None, spec.name))
    print(_("{model}, {size}, {quality}, n={n}: {estimate}").format(
        model=spec.name, size=args.size, quality=args.quality, n=args.n,
        estimate=dataclasses.replace(estimate, notes=()).format()), file=out)
    for note in estimate.notes:  # on their own lines, not also inside the estimate
        print("  " + _("estimate: {notes}").format(notes=note), file=out)
    return 0


# "api_key" too: the name in the config file.
CONFIG_KEYS = {"base-url": "base_url", "key": "api_key", "api_key": "api_key", "model": "model",
                "proxy": "proxy", "timeout": "timeout", "connect-timeout": "connect_timeout",
                "ca-bundle": "ca_bundle", "currency": "currency", "allow-http": "allow_http",
                "max-parallel": "max_parallel", "cost-confirm-above": "cost_confirm_above",
                "worker-standby": "worker_standby", "align": "align", "door": "door",
                "family": "family"}


# Environment variables that win over a setting (config.load).
_ENV_OVERRIDES = {"api_key": configmod.ENV_API_KEY, "base_url": configmod.ENV_BASE_URL}


SHORT_DEADLINE = 60.0  # s: many images take 30-120 s, and the server bills them all the same


def short_deadline_warning(seconds: float) -> None:
    """Warn when a paid request's deadline is shorter than images often take: the server
    finishes and bills a request the CLI has stopped waiting for."""
    if seconds < SHORT_DEADLINE:
        say(_("warning: a deadline of {seconds:g} s is shorter than many images take (often "
              "30–120 s); the server still finishes and charges an image the run stopped "
              "waiting for.").format(seconds=seconds))


def cmd_config(args, out) -> int:
    if args.action == "path":
        print(str(configmod.config_path()), file=out)
        return 0
    if args.action == "test":
        return _test_connection(out)
    if args.action == "get":
        shown = configmod.load().redacted()
        if args.name in ("door", "family"):
            for name, entry in sorted(configmod.load().models.items()):
                if isinstance(entry, dict) and entry.get(args.name):
                    tell(f"{args.name} = {printable(name, 120)}={entry[args.name]}", out)
            return 0
        keys = [CONFIG_KEYS[args.name]] if args.name else list(shown)
        for key in keys:
            tell(f"{key} = {printable(shown.get(key), 2000)}", out)
        return 0
    field_name = CONFIG_KEYS[args.name]
    if field_name in ("door", "family"):
        return _set_model_entry(args.value, out, field_name)
    value = _typed_key(args.value) if field_name == "api_key" else args.value
    if value is None:
        raise errors.UsageError(_("Give a value: bianxie config set {name} VALUE").format(
            name=args.name))
    config = configmod.update(**{field_name: value})
    shown = config.redacted()[field_name]
    if field_name == "timeout":
        short_deadline_warning(config.timeout)
    print(_("{name} set to {value} in {path}").format(
        name=args.name, value=shown, path=configmod.config_path()), file=out)
    env_var = _ENV_OVERRIDES.get(field_name)
    if env_var and os.environ.get(env_var, "").strip():
        print(_("warning: the environment variable {var} is set and still takes precedence "
                "over this setting; unset it to use the new value.").format(var=env_var),
              file=sys.stderr)
    return 0


def _set_model_entry(value: Optional[str], out, field: str) -> int:
    """``bianxie config set door MODEL=DOOR``: the door (images, json, chat) a model the
    program does not know is reached by; ``family MODEL=FAMILY``: the family it belongs to
    (its door, qualities, sizes and the rest). Kept in the config's ``models`` entry."""
    name, _sep, given = (value or "").rpartition("=")
    name, given = name.strip(), given.strip().lower()
    if field == "family" and (not name or given not in families.FAMILIES):
        raise errors.UsageError(_("Write it as MODEL=FAMILY, the family one of {families}: "
                                  "bianxie config set family my-model=gpt-image-2.5").format(
            families=", ".join(families.FAMILIES)))
    if field == "door" and (not name or given not in families.DOORS):
        raise errors.UsageError(_("Write it as MODEL=DOOR, the door one of images, json or "
                                  "chat: bianxie config set door my-model=chat"))
    table = {k: dict(v) for k, v in configmod.load().models.items()}
    entry = table.setdefault(name, {})
    entry.pop("family", None)
    entry.pop("door", None)
    entry[field] = given
    configmod.update(models=table)
    family = models.get_model(name, table).family
    print(_("{model} goes through the {door} door ({family}) in {path}").format(
        model=printable(name, 120), door=family.door if family else given,
        family=family.label if family else "?", path=configmod.config_path()), file=out)
    return 0


def _test_connection(out) -> int:
    """Each step of the connection on its own line; a failing step is the error."""
    from bianxie_core.diagnose import diagnose_config

    found = diagnose_config(configmod.load())
    for line in found.lines():
        print(printable(line, 2000), file=out)
    if not found.ok:
        raise errors.ConnectError(found.summary())
    print(printable(found.summary(), 2000), file=out)
    return 0


def _typed_key(value: Optional[str]) -> str:
    """The key: typed at a hidden prompt, read from stdin (``-``, or when stdin is not a
    terminal) or given on the command line. Never empty: that would erase the stored key."""
    try:
        if value is None and sys.stdin is not None and sys.stdin.isatty():
            value = getpass.getpass(_("API key: "))
        elif value in (None, "-"):  # a closed stdin (<&-) is None: no key given
            value = sys.stdin.readline() if sys.stdin is not None else ""
    except EOFError:  # Ctrl-D at the prompt
        value = ""
    except KeyboardInterrupt:
        raise errors.Cancelled(_("Cancelled: the stored key is unchanged.")) from None
    if not value.strip():
        raise errors.UsageError(_("No key was given, so the stored key is unchanged: paste the "
                                  "key at the prompt, or pipe it into `bianxie config set key -`."))
    return value


def cmd_models(args, out) -> int:
    from bianxie_core import catalog

    if getattr(args, "families", False):
        for family in families.FAMILIES.values():
            tell(f"{family.name}\t{' '.join(families.patterns(family))}\t"
                 f"{families.describe(family)}", out)
        return 0
    cfg = configmod.load()
    if args.base_url:
        cfg.base_url = configmod.normalise_base_url(args.base_url, allow_http=cfg.allow_http)

    def failed(exc: Exception) -> None:
        reason = printable(str(exc) or type(exc).__name__).rstrip("。.")
        say(_("warning: could not list the server's models ({reason}); showing the cached "
              "list.").format(reason=reason))

    # Without --remote only the cache is read: listing never waits for the network.
    entries = catalog.catalog(cfg, fetch=args.remote, refresh=args.remote, on_error=failed,
                              timeout=min(cfg.timeout, 30.0))
    for entry in entries:
        mark = " *" if entry.name == cfg.model else ""  # ids come from the server: made safe
        tell(f"{printable(entry.name, 120)}{mark}\t{printable(entry.description())}", out)
    return 0
