"""The one settings file shared by the CLI and the GIMP plug-in (``<home>/config.json``).

The file holds the API key, so it is written atomically with mode 0600 from the start, and no
error message ever quotes its content. Environment variables win over the file:
``BIANXIE_HOME`` (the folder), ``BIANXIE_BASE_URL`` and ``BIANXIE_API_KEY``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit, urlunsplit

from bianxie_core import models
from bianxie_core.errors import ConfigError, UsageError, os_reason
from bianxie_core.i18n import _

DEFAULT_BASE_URL = "https://api.bianxie.ai/v1"
APP_DIR = "bianxie"
FILE_NAME = "config.json"

ENV_HOME = "BIANXIE_HOME"
ENV_BASE_URL = "BIANXIE_BASE_URL"
ENV_API_KEY = "BIANXIE_API_KEY"

# A pasted endpoint instead of the base: ".../v1/images/generations", ".../chat/completions".
_ENDPOINT_PATH = re.compile(r"/(images(/.*)?|chat/completions)$", re.IGNORECASE)


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


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}
# bool is an int subclass, so it is refused explicitly for numbers.
_NUMBER_FIELDS = {"timeout", "connect_timeout", "cost_confirm_above"}
_INT_FIELDS = {"max_parallel", "history_cap_mb", "worker_standby"}
_DICT_FIELDS = {"prices", "models", "relay_quirks"}
_BOOL_FIELDS = {"allow_http", "align"}
_TEXT_FIELDS = set(_FIELDS) - _NUMBER_FIELDS - _INT_FIELDS - _DICT_FIELDS - _BOOL_FIELDS
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def redact_key(key: str) -> str:
    key = (key or "").strip()
    if not key:
        return _("(not set)")
    if len(key) < 12:  # the last 4 of a short key would be too much of it
        return _("(set)")
    prefix = "sk-" if key.startswith("sk-") else ""
    return prefix + "…" + key[-4:]


def redact_url_password(url: str) -> str:
    """``http://bob:***@host:3128``: a password before an ``@`` is never shown, even in text
    that is not a well-formed URL."""
    return URL_PASSWORD.sub(r"\1***@", url or "")


URL_PASSWORD = re.compile(r"((?:\b[A-Za-z][A-Za-z0-9+.-]*://|^)[^:@/\s(]*:)\S*@")


def normalise_proxy(text: str) -> str:
    """An http(s) proxy URL, or "" for none; UsageError (without the password) otherwise."""
    text = (text or "").strip()
    if not text:
        return ""
    if any(c.isspace() for c in text):  # shown nowhere: a password may hold the space
        raise UsageError(_("The proxy cannot contain spaces: write it as http://host:port."))
    if "://" not in text:
        text = "http://" + text  # "127.0.0.1:7890", as requests takes it
    shown = redact_url_password(text)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
        host = parts.hostname
    except ValueError:
        host, parts = None, None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        raise UsageError(
            _("The proxy {proxy} is not usable: write it as http://host:port (with "
              "user:password@ before the host if it needs them; SOCKS proxies are not "
              "supported).").format(proxy=shown)
        )
    return text


def _check_value(name: str, value: Any) -> Any:
    """``value`` for setting ``name`` with its JSON type checked (ints accepted for floats)."""
    if name in _BOOL_FIELDS:
        ok = isinstance(value, bool)
    elif name in _INT_FIELDS:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        if name == "max_parallel":
            ok = ok and value >= 1
    elif name in _NUMBER_FIELDS:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
        if ok and name != "cost_confirm_above":
            ok = value > 0
        value = float(value) if ok else value
    elif name in _DICT_FIELDS:
        ok = isinstance(value, dict)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise _WrongType(name)
    return value


class _WrongType(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


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
    except _WrongType:
        raise UsageError(
            _("The setting {name} must be {kind}.").format(name=name, kind=_kind(name))
        ) from None


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
        return _("a number of seconds above 0")
    if name in _DICT_FIELDS:
        return _("a JSON object")
    return _("text")


def _fix_or_delete() -> str:
    return _("Fix it or delete it to start again with the default settings.")


def load(path: Optional[Path] = None, env: Mapping[str, str] = os.environ) -> Config:
    """The settings: defaults, then the file (if any), then BIANXIE_BASE_URL/BIANXIE_API_KEY.

    Unknown keys in the file are ignored. A corrupt file raises ConfigError naming it.
    """
    path = Path(path) if path is not None else config_path(env)
    values: dict = {}
    try:
        raw = path.read_bytes()
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
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        data = None
        problem = _("it is not UTF-8 text")
    except json.JSONDecodeError as exc:
        # exc.msg never quotes the document; the document holds the key.
        data = None
        problem = _("it is not valid JSON (line {line}, column {column})").format(
            line=exc.lineno, column=exc.colno
        )
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
        except _WrongType:
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
    text = json.dumps(dataclasses.asdict(config), indent=2, ensure_ascii=False) + "\n"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(path, text.encode("utf-8"))
    except OSError as exc:
        raise ConfigError(
            _(
                "The config file {path} cannot be written ({reason}). Fix the folder's "
                "permissions or set BIANXIE_HOME to another folder."
            ).format(path=path, reason=os_reason(exc))
        ) from None
    return path


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` by ``data``, readable by the owner only from the start."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # in case a stale temp file existed with other bits
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX; Windows cannot open a folder and needs no such step)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def update(path: Optional[Path] = None, **changes: Any) -> Config:
    """Load the file (without environment overrides), apply ``changes``, save, return it.

    Values may be text (as typed). ``base_url`` is normalised, ``api_key`` stripped and checked,
    ``relay_quirks`` merged per base URL instead of replaced.
    """
    path = Path(path) if path is not None else config_path()
    config = load(path, env={})
    values = {name: coerce(name, value) for name, value in changes.items()}
    if "api_key" in values:
        values["api_key"] = _clean_key(values["api_key"], _("The API key you entered"))
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


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_base_url(url: str, *, allow_http: bool = False) -> str:
    """``https://host`` → ``https://host/v1``; refuse endpoints, missing hosts, remote http."""
    text = (url or "").strip().rstrip("/")
    example = DEFAULT_BASE_URL
    scheme, _sep, rest = text.rpartition("://")
    before_query = rest.split("?", 1)[0]
    if "@" in before_query:  # user:password@ (a password may even hold a "/")
        bare = (scheme + "://" if scheme else "") + rest[before_query.rindex("@") + 1:]
        raise UsageError(
            _(
                "The API address must not contain a user name or password (the key goes in "
                "Settings): type {url} instead."
            ).format(url=bare)
        )
    if not text or any(c.isspace() for c in text):
        raise UsageError(
            _(
                "The API address {url!r} is not a web address: type the base address, for "
                "example {example}."
            ).format(url=text, example=example)
        )
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
    except ValueError:
        host, parts = "", None
    try:
        if parts is not None and parts.port == 0:
            raise ValueError("port 0")
    except ValueError:
        raise UsageError(
            _("The port in the API address {url!r} is not valid: use a number from 1 to 65535, "
              "or none.").format(url=text)
        ) from None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        raise UsageError(
            _(
                "The API address {url!r} needs http:// or https:// and a host name: type the "
                "base address, for example {example}."
            ).format(url=text, example=example)
        )
    scheme = parts.scheme.lower()
    if parts.query or parts.fragment:
        raise UsageError(
            _(
                "The API address {url!r} must not contain '?' or '#': type only the base "
                "address, for example {example}."
            ).format(url=text, example=example)
        )
    path = parts.path.rstrip("/")
    match = _ENDPOINT_PATH.search(path)
    if match:
        base = urlunsplit((scheme, parts.netloc, path[: match.start()] or "/v1", "", ""))
        raise UsageError(
            _(
                "The API address {url} is an endpoint, not the base address: type {base} instead."
            ).format(url=text, base=base)
        )
    if scheme == "http" and not allow_http and not _is_loopback(host):
        https = urlunsplit(("https", parts.netloc, path or "/v1", "", ""))
        raise UsageError(
            _(
                "The API address {url} uses plain http://, which would send the API key "
                "unencrypted: type {https} instead, or turn on allow_http if you trust the "
                "network."
            ).format(url=text, https=https)
        )
    return urlunsplit((scheme, parts.netloc, path or "/v1", "", ""))


def _how_to_set_key() -> str:
    return _(
        "Set it with `bianxie config set key`, in the plug-in's Settings dialog, or in the "
        "BIANXIE_API_KEY environment variable."
    )


def _clean_key(key: str, source: str) -> str:
    key = (key or "").strip()
    if any(c.isspace() for c in key):
        raise ConfigError(
            _(
                "{source} contains spaces or line breaks inside it, so it cannot be a key: copy "
                "it again in one piece."
            ).format(source=source)
        )
    if key and not all(" " < c < "\x7f" for c in key):
        raise ConfigError(
            _(
                "{source} contains characters that cannot be in a key (non-ASCII or invisible "
                "ones): copy it again from the provider's website."
            ).format(source=source)
        )
    return key


def resolve_api_key(config: Config, env: Mapping[str, str] = os.environ) -> str:
    """The key to send: BIANXIE_API_KEY, else the config's; stripped; ConfigError if unusable."""
    if env.get(ENV_API_KEY, "").strip():
        key = _clean_key(env[ENV_API_KEY], _("The BIANXIE_API_KEY environment variable"))
    else:
        key = _clean_key(config.api_key, _("The API key in the settings"))
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
