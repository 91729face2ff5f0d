"""The one settings file shared by the CLI and the GIMP plug-in (``<home>/config.json``).

The file holds the API key, so it is written atomically with mode 0600 from the start, and no
error message ever quotes its content. Environment variables win over the file:
``BIANXIE_HOME`` (the folder), ``BIANXIE_BASE_URL`` and ``BIANXIE_API_KEY``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from bianxie_core import families, models
from bianxie_core.addresses import (  # noqa: F401 - part of the settings' interface
    DEFAULT_BASE_URL, URL_PASSWORD, normalise_base_url, normalise_proxy, redact_url_password,
)
from bianxie_core.errors import ConfigError, UsageError, os_reason
from bianxie_core.files import locked, write_atomic, write_private  # noqa: F401
from bianxie_core.i18n import _, join_sentences
from bianxie_core.keys import (  # noqa: F401 - part of the settings' interface
    MAX_KEY_CHARS, clean_key, key_forms, redact_key,
)

APP_DIR = "bianxie"
FILE_NAME = "config.json"

ENV_HOME = "BIANXIE_HOME"
ENV_BASE_URL = "BIANXIE_BASE_URL"
ENV_API_KEY = "BIANXIE_API_KEY"

def home(env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path:
    """The folder for config.json and history/: ``BIANXIE_HOME``, else the user config folder."""
    if env.get(ENV_HOME):
        return Path(os.path.expanduser(env[ENV_HOME]))
    user_home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if platform.startswith("win"):
        appdata = env.get("APPDATA")
        return (Path(appdata) if appdata else user_home / "AppData" / "Roaming") / APP_DIR
    if platform == "darwin":
        return user_home / "Library" / "Application Support" / APP_DIR
    xdg = env.get("XDG_CONFIG_HOME", "")
    # The XDG spec says to ignore a relative XDG_CONFIG_HOME.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else user_home / ".config"
    return base / APP_DIR


def config_path(env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path:
    return home(env, platform) / FILE_NAME


@dataclass
class Config:
    base_url: str = DEFAULT_BASE_URL
    api_key: str = field(default="", repr=False)  # never printed: see redacted()
    model: str = models.DEFAULT_MODEL
    timeout: float = 300.0  # seconds, overall deadline per request
    connect_timeout: float = 10.0  # seconds
    proxy: str = ""  # besides HTTPS_PROXY/NO_PROXY, which requests reads itself
    ca_bundle: str = ""  # path of an extra CA bundle
    allow_http: bool = False  # plain http:// to a non-loopback host
    currency: str = "USD"
    prices: dict = field(default_factory=dict)  # model -> {text_in, image_in, image_out} per 1M
    models: dict = field(default_factory=dict)  # extra/override entries, as in models.json
    max_parallel: int = 4  # parallel single requests when a relay refuses n>1
    cost_confirm_above: float = 0.0  # ask before a run estimated above this; 0 = never ask
    history_cap_mb: int = 500  # imported entries are pruned above this; pending ones never
    worker_standby: int = 600  # s a plug-in's request worker waits, warm, for the next edit
    align: bool = True  # move an answer the model redrew shifted back into place
    relay_quirks: dict = field(default_factory=dict)  # base_url -> {"no_n": true, ...}

    def redacted(self) -> dict:
        """All settings for display: the key as ``sk-…abcd``, a proxy password as ``***``."""
        shown = dataclasses.asdict(self)
        shown["api_key"] = redact_key(self.api_key)
        shown["proxy"] = redact_url_password(self.proxy)
        return shown


# The longest deadline taken (s): the slowest image seen takes a few minutes, and a bound keeps
# socket timeouts and sleeps far from overflowing.
MAX_SECONDS = 3600.0

_FIELDS = {f.name: f for f in dataclasses.fields(Config)}
# bool is an int subclass, so it is refused explicitly for numbers.
_NUMBER_FIELDS = {"timeout", "connect_timeout", "cost_confirm_above"}
_INT_FIELDS = {"max_parallel", "history_cap_mb", "worker_standby"}
_DICT_FIELDS = {"prices", "models", "relay_quirks"}
_BOOL_FIELDS = {"allow_http", "align"}
_TEXT_FIELDS = set(_FIELDS) - _NUMBER_FIELDS - _INT_FIELDS - _DICT_FIELDS - _BOOL_FIELDS
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def known_key_forms(env: Mapping[str, str] = os.environ) -> list:
    """Every form (``key_forms``) of the keys a run may send, the environment's and the
    settings', at least 8 characters long: what to scrub from text bound for a terminal or a
    log. Never raises: a damaged config is reported where it is used."""
    keys = {env.get(ENV_API_KEY, "")}
    try:
        keys.add(load(env={}).api_key)
    except Exception:  # noqa: BLE001
        pass
    forms = {f for key in keys if key.strip() for k in {key, key.strip()} for f in key_forms(k)}
    return sorted((f for f in forms if len(f) >= 8), key=len, reverse=True)


def _check_value(name: str, value: Any) -> Any:
    """``value`` for setting ``name`` with its JSON type checked (ints accepted for floats)."""
    if name in _BOOL_FIELDS:
        ok = isinstance(value, bool)
    elif name in _INT_FIELDS:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        if name == "max_parallel":
            ok = ok and value >= 1
    elif name in _NUMBER_FIELDS:
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and math.isfinite(value) and value >= 0)
        if ok and name != "cost_confirm_above":
            ok = 0 < value <= MAX_SECONDS
        value = float(value) if ok else value
    elif name in _DICT_FIELDS:
        ok = isinstance(value, dict)
        if ok and name in _ENTRY_CHECKS:
            for entry, item in value.items():
                if not _ENTRY_CHECKS[name](item):
                    raise _WrongType(name, str(entry))
    else:
        ok = isinstance(value, str)
    if not ok:
        raise _WrongType(name)
    return value


class _WrongType(Exception):
    def __init__(self, name: str, entry: str = ""):
        super().__init__(name)
        self.name = name
        self.entry = entry  # the bad entry of a "models" or "prices" table


_PRICE_NAMES = {"text_in", "image_in", "image_out"}


def _price_ok(item: Any) -> bool:
    """``{"text_in": 5, ...}``: per 1M tokens, finite, 0 or more."""
    return isinstance(item, dict) and set(item) <= _PRICE_NAMES and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        for v in item.values())


def _model_ok(item: Any) -> bool:
    """A model entry as in models.json: sizes, input_fidelity, price, price_estimated."""
    if not isinstance(item, dict):
        return False
    checks = {"sizes": lambda v: v in ("standard", "free"), "input_fidelity": _is_bool,
              "price_estimated": _is_bool, "price": _price_ok,
              "family": lambda v: v in families.FAMILIES, "door": lambda v: v in families.DOORS}
    return all(checks.get(key, lambda v: True)(value) for key, value in item.items())


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


_ENTRY_CHECKS = {"prices": _price_ok, "models": _model_ok}


def coerce(name: str, value: Any) -> Any:
    """``value`` for setting ``name``, converting text as typed on a command line or in a form.

    Raises UsageError for an unknown name or a value of the wrong kind, without quoting it.
    """
    if name not in _FIELDS:
        raise UsageError(
            _("There is no setting called {name!r}: use one of {names}.").format(
                name=name, names=", ".join(_FIELDS)
            )
        )
    if isinstance(value, str) and name not in _TEXT_FIELDS:
        text = value.strip()
        try:
            if name in _BOOL_FIELDS and text.lower() in _TRUE | _FALSE:
                value = text.lower() in _TRUE
            elif name in _INT_FIELDS:
                value = int(text)
            elif name in _NUMBER_FIELDS:
                value = float(text)
            elif name in _DICT_FIELDS:
                value = json.loads(text)
        except ValueError:
            pass  # reported below as the wrong kind of value
    try:
        return _check_value(name, value)
    except _WrongType as exc:
        raise UsageError(_wrong_entry(exc) or
            _("The setting {name} must be {kind}.").format(name=name, kind=_kind(name))
        ) from None


def _wrong_entry(exc: _WrongType) -> str:
    """The sentence for a bad entry of ``models`` or ``prices``, else ""."""
    if not exc.entry:
        return ""
    if exc.name == "prices":
        return _("The price entry {entry!r} in prices must hold text_in, image_in and "
                 "image_out as numbers, 0 or more (per 1M tokens).").format(entry=exc.entry)
    return _("The model entry {entry!r} in models must be an object like those in models.json "
             "(sizes: standard or free; input_fidelity: true or false; price: text_in, "
             "image_in, image_out; door: images, json or chat).").format(entry=exc.entry)


def _kind(name: str) -> str:
    if name in _BOOL_FIELDS:
        return _("true or false")
    if name == "max_parallel":
        return _("a whole number of at least 1")
    if name in _INT_FIELDS:
        return _("a whole number, 0 or more")
    if name == "cost_confirm_above":
        return _("a number, 0 or more")
    if name in _NUMBER_FIELDS:
        return _("a number of seconds above 0 and at most {max:g}").format(max=MAX_SECONDS)
    if name in _DICT_FIELDS:
        return _("a JSON object")
    return _("text")


def _fix_or_delete() -> str:
    return _("Fix it or delete it to start again with the default settings.")


MAX_CONFIG_BYTES = 4 * 2**20


class _TooLarge(Exception):
    pass


def load(path: Optional[Path] = None, env: Mapping[str, str] = os.environ) -> Config:
    """The settings: defaults, then the file (if any), then BIANXIE_BASE_URL/BIANXIE_API_KEY.

    Unknown keys in the file are ignored. A corrupt file raises ConfigError naming it.
    """
    path = Path(path) if path is not None else config_path(env)
    values: dict = {}
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raw = None
    except OSError as exc:
        raise ConfigError(
            _("The config file {path} cannot be read ({reason}). {fix}").format(
                path=path, reason=os_reason(exc), fix=_fix_or_delete()
            )
        ) from None
    if raw is not None:
        values = _parse(path, raw)
    config = Config(**values)
    if env.get(ENV_BASE_URL, "").strip():
        config.base_url = env[ENV_BASE_URL].strip()
    if env.get(ENV_API_KEY, "").strip():
        config.api_key = env[ENV_API_KEY]
    return config


def _parse(path: Path, raw: bytes) -> dict:
    try:
        if len(raw) > MAX_CONFIG_BYTES:  # every command reads it: not gigabytes of it
            raise _TooLarge
        data = json.loads(raw.decode("utf-8-sig"))
    except _TooLarge:
        data = None
        problem = _("it is larger than {size} MB, far more than settings take").format(
            size=MAX_CONFIG_BYTES // 2**20)
    except UnicodeDecodeError:
        data = None
        problem = _("it is not UTF-8 text")
    except json.JSONDecodeError as exc:
        # exc.msg never quotes the document; the document holds the key.
        data = None
        problem = _("it is not valid JSON (line {line}, column {column})").format(
            line=exc.lineno, column=exc.colno
        )
    except (ValueError, RecursionError):  # a number of 5000 digits, lists nested 100000 deep
        data = None
        problem = _("it is not valid JSON")
    else:
        problem = None if isinstance(data, dict) else _("it is not a JSON object")
    if problem:
        raise ConfigError(
            _("The config file {path} is damaged: {problem}. {fix}").format(
                path=path, problem=problem, fix=_fix_or_delete()
            )
        )
    values = {}
    for name, value in data.items():
        if name not in _FIELDS:
            continue
        try:
            values[name] = _check_value(name, value)
        except _WrongType as exc:
            if exc.entry:
                raise ConfigError(join_sentences(
                    _("The config file {path} is damaged:").format(path=path), _wrong_entry(exc),
                    _fix_or_delete())) from None
            raise ConfigError(
                _(
                    "The config file {path} has a wrong value for {name}, which must be {kind}. "
                    "{fix}"
                ).format(path=path, name=name, kind=_kind(name), fix=_fix_or_delete())
            ) from None
    return values


def save(config: Config, path: Optional[Path] = None) -> Path:
    """Write ``config`` atomically: a 0600 temp file in the same folder, then os.replace."""
    path = Path(path) if path is not None else config_path()
    try:  # never the non-JSON Infinity or NaN
        text = json.dumps(dataclasses.asdict(config), indent=2, ensure_ascii=False,
                          allow_nan=False) + "\n"
    except ValueError:
        raise ConfigError(_("A setting is not a finite number, so the settings were not "
                            "saved.")) from None
    if len(text.encode("utf-8")) > MAX_CONFIG_BYTES:  # load() would refuse to read it back
        raise ConfigError(_("The settings would be larger than {size} MB, so they were not "
                            "saved: a setting holds far too much text.").format(
                                size=MAX_CONFIG_BYTES // 2**20))
    # a config.json linked into a dotfiles folder stays a link: its target is replaced
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(target, text.encode("utf-8"))
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    return path


def _cannot_write(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        _(
            "The config file {path} cannot be written ({reason}). Fix the folder's "
            "permissions or set BIANXIE_HOME to another folder."
        ).format(path=path, reason=os_reason(exc))
    )


def update(path: Optional[Path] = None, **changes: Any) -> Config:
    """Load the file (without environment overrides), apply ``changes``, save, return it.

    Values may be text (as typed). ``base_url`` is normalised, ``api_key`` stripped and checked,
    ``relay_quirks`` merged per base URL instead of replaced.
    """
    path = Path(path) if path is not None else config_path()
    values = {name: coerce(name, value) for name, value in changes.items()}
    try:
        with locked(path):  # parallel updates (two commands, a plug-in's quirk) all persist
            return _update(path, load(path, env={}), values)
    except OSError as exc:  # the lock file: the settings cannot be written either
        raise _cannot_write(path, exc) from None


def _update(path: Path, config: Config, values: dict) -> Config:
    if "api_key" in values:
        values["api_key"] = clean_key(values["api_key"], _("The API key you entered"))
    if "proxy" in values:
        values["proxy"] = normalise_proxy(values["proxy"])
    if "base_url" in values:
        allow_http = values.get("allow_http", config.allow_http)
        values["base_url"] = normalise_base_url(values["base_url"], allow_http=allow_http)
    if "relay_quirks" in values:
        merged = {url: dict(q) for url, q in config.relay_quirks.items() if isinstance(q, dict)}
        for url, new in values["relay_quirks"].items():
            merged.setdefault(url, {}).update(new if isinstance(new, dict) else {})
        values["relay_quirks"] = merged
    config = dataclasses.replace(config, **values)
    save(config, path)
    return config


def loose_permissions(path: Optional[Path] = None) -> Optional[str]:
    """A warning when the config file holds the key and others may read it (POSIX mode wider
    than 0600), else None."""
    path = Path(path) if path is not None else config_path()
    if os.name == "nt":
        return None
    try:
        mode = path.stat().st_mode & 0o777
        if not mode & 0o077 or not load(path, env={}).api_key.strip():
            return None
    except (OSError, UsageError):
        return None
    return _("{path} holds the API key and can be read by other users (mode {mode:o}): run "
             "chmod 600 {path}.").format(path=path, mode=mode)


def _how_to_set_key() -> str:
    return _(
        "Set it with `bianxie config set key`, in the plug-in's Settings dialog, or in the "
        "BIANXIE_API_KEY environment variable."
    )


def resolve_api_key(config: Config, env: Mapping[str, str] = os.environ) -> str:
    """The key to send: BIANXIE_API_KEY, else the config's; stripped; ConfigError if unusable."""
    if env.get(ENV_API_KEY, "").strip():
        key = clean_key(env[ENV_API_KEY], _("The BIANXIE_API_KEY environment variable"))
    else:
        key = clean_key(config.api_key, _("The API key in the settings"))
    if not key:
        raise ConfigError(_("No API key is set. {how}").format(how=_how_to_set_key()))
    return key


def _quirk_key(base_url: str) -> str:
    return (base_url or "").strip().rstrip("/")


def remember_quirk(base_url: str, quirk: str, path: Optional[Path] = None) -> Config:
    """Remember that the relay at ``base_url`` needs ``quirk`` (e.g. "no_n", "no_stream")."""
    return update(path, relay_quirks={_quirk_key(base_url): {quirk: True}})


def quirks(config: Config, base_url: str) -> set:
    known = config.relay_quirks.get(_quirk_key(base_url), {})
    return {name for name, on in known.items() if on} if isinstance(known, dict) else set()
