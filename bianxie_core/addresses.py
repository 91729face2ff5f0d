"""The addresses in the settings: the API's base URL and the proxy, checked and normalised,
and a proxy password never shown."""

from __future__ import annotations

import ipaddress
import re
from typing import Tuple
from urllib.parse import unquote, urlsplit, urlunsplit

from bianxie_core.errors import UsageError
from bianxie_core.i18n import _

DEFAULT_BASE_URL = "https://api.bianxie.ai/v1"

# A pasted endpoint instead of the base: ".../v1/images/generations", ".../chat/completions".
_ENDPOINT_PATH = re.compile(r"/(images(/.*)?|chat/completions)$", re.IGNORECASE)


def redact_url_password(url: str) -> str:
    """``http://bob:***@host:3128``: a password before an ``@`` is never shown, even in text
    that is not a well-formed URL."""
    return URL_PASSWORD.sub(r"\1***@", url or "")


URL_PASSWORD = re.compile(r"((?:\b[A-Za-z][A-Za-z0-9+.-]*://|^)[^:@/\s(]*:)\S*@")


PROXY_SCHEMES = ("http", "https", "socks5", "socks5h", "socks4", "socks4a")  # as requests takes


def normalise_proxy(text: str) -> str:
    """An http(s) or SOCKS proxy URL, or "" for none; UsageError (without the password)
    otherwise."""
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
    if parts is None or parts.scheme.lower() not in PROXY_SCHEMES or not host:
        raise UsageError(
            _("The proxy {proxy} is not usable: write it as http://host:port or "
              "socks5h://host:port (with user:password@ before the host if it needs "
              "them).").format(proxy=shown)
        )
    return text


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


def proxy_label(proxy: str) -> str:
    """``host:port`` of a proxy URL: never its user name or password."""
    try:
        parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
        host, port = parts.hostname, parts.port
    except ValueError:
        return redact_url_password(proxy).rsplit("@", 1)[-1]
    if host and ":" in host:  # IPv6, as it is written in a URL
        host = f"[{host}]"
    return f"{host}:{port}" if port else (host or "?")


def proxy_address(proxy: str) -> Tuple[str, int]:
    """(host, port) requests connects to for ``proxy``: urllib3's default ports (80 for http,
    443 for https) and PySocks' (1080) when none is written."""
    parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    scheme = proxy_scheme(proxy)
    default = 1080 if scheme.startswith("socks") else 443 if scheme == "https" else 80
    return parts.hostname or "", parts.port or default


def proxy_credentials(proxy: str) -> Tuple[str, str]:
    parts = urlsplit(proxy)
    return unquote(parts.username or ""), unquote(parts.password or "")


def proxy_scheme(proxy: str) -> str:
    return proxy.split("://", 1)[0].lower() if "://" in proxy else "http"
