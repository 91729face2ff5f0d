"""The way to the server: the requests session (proxies incl. SOCKS, the trust of trust.py)
and what went wrong on it, in words. The adapter and the words for its failures read the same
exceptions (urllib3's and PySocks' wrapping) and change together; client.py imports both.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import ssl
import sys
import threading
from dataclasses import dataclass
from typing import Iterator, Optional
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from bianxie_core.addresses import (
    PROXY_SCHEMES, proxy_address, proxy_credentials, proxy_label, proxy_scheme)
from bianxie_core.i18n import _
from bianxie_core.trust import Trust, ssl_context, trust_for

# OpenSSL's words for what only its strict X.509 mode refuses.
_STRICT_WORDS = ("key usage", "basic constraints", "key identifier", "subject alternative name",
                 "extensions require", "pathlen", "name empty", "must be critical")
_sessions: dict = {}
_lock = threading.Lock()


class _Adapter(HTTPAdapter):
    """requests' adapter with our SSL context, and SOCKS failures raised as ProxyError."""

    def __init__(self, context: ssl.SSLContext, **kw):
        self._context = context
        super().__init__(**kw)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        super().init_poolmanager(connections, maxsize, block, ssl_context=self._context,
                                 **pool_kwargs)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        scheme = proxy_scheme(proxy)
        if scheme not in PROXY_SCHEMES:  # urllib3's ValueError would quote the password
            raise requests.exceptions.ProxyError(f"Unusable proxy scheme {scheme}://")
        if scheme == "https":  # the proxy's own certificate: the same trust
            proxy_kwargs.setdefault("proxy_ssl_context", self._context)
        return super().proxy_manager_for(proxy, ssl_context=self._context, **proxy_kwargs)

    def proxy_headers(self, proxy):
        """Basic auth in UTF-8: requests' latin-1 raises UnicodeEncodeError for 密码."""
        user, password = requests.utils.get_auth_from_url(proxy)
        if not user:
            return {}
        return {"Proxy-Authorization": basic_auth(user, password)}

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        pool.pop("ca_certs", None)  # our context holds the bundle: not reloaded per socket
        pool.pop("ca_cert_dir", None)
        # urllib3 sets verify_mode on the context it is given: never on the shared one
        pool["ssl_context"] = self._context if verify is not False else _unverified()
        return host, pool

    def cert_verify(self, conn, url, verify, cert):  # requests < 2.32.2
        super().cert_verify(conn, url, verify, cert)
        if verify is not False:
            conn.ca_certs = conn.ca_cert_dir = None

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        try:
            return self._send(request, stream, timeout, verify, cert, proxies)
        except requests.RequestException as exc:
            _forget_secrets(exc)
            raise

    def _send(self, request, stream, timeout, verify, cert, proxies):
        try:
            return super().send(request, stream=stream, timeout=timeout, verify=verify,
                                cert=cert, proxies=proxies)
        except requests.exceptions.InvalidSchema as exc:
            if "SOCKS" in str(exc):
                raise requests.exceptions.ProxyError(exc, request=request) from exc
            raise
        except requests.exceptions.ReadTimeout as exc:
            if _in_tunnel(exc):  # the proxy never answered CONNECT: nothing was sent
                raise requests.exceptions.ProxyError(exc.args[0] if exc.args else exc,
                                                     request=request) from exc
            raise
        except requests.exceptions.ConnectTimeout as exc:
            proxy = requests.utils.select_proxy(request.url, proxies) or ""
            if proxy.lower().startswith("socks"):  # urllib3 names the API's host, not the proxy
                raise requests.exceptions.ProxyError(exc.args[0] if exc.args else exc,
                                                     request=request) from exc
            raise
        except (requests.exceptions.ProxyError, requests.exceptions.SSLError,
                requests.exceptions.Timeout):
            raise
        except requests.exceptions.ConnectionError as exc:
            proxy = requests.utils.select_proxy(request.url, proxies) or ""
            if _in_tunnel(exc) or proxy.lower().startswith("socks") and _never_connected(exc):
                raise requests.exceptions.ProxyError(exc.args[0] if exc.args else exc,
                                                     request=request) from exc
            raise


# What an error keeps of the request (its Authorization header) and of the pool (a SOCKS
# password in conn_kw): dropped, so that nothing holding the error holds the secrets.
_HOLDERS = ("request", "response", "pool", "conn", "_pool")


def _forget_secrets(exc: BaseException) -> None:
    for item in causes(exc):
        for name in _HOLDERS:
            if name in vars(item):
                setattr(item, name, None)


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")


def _in_tunnel(exc: BaseException) -> bool:
    """The error came while http.client waited for the proxy's answer to CONNECT."""
    for item in causes(exc):
        tb = item.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_name == "_tunnel":
                return True
            tb = tb.tb_next
    return False


def _unverified() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Session(requests.Session):
    """A session whose settings win over the environment: requests lets HTTPS_PROXY/ALL_PROXY
    replace ``session.proxies`` and REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE ``session.verify``."""

    trust: Trust

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        settings["proxies"] = dict(settings["proxies"] or {}, **self.proxies)
        if settings["verify"] is not False:
            settings["verify"] = self.verify  # the trust is in the adapter's context
        return settings


def make_session(proxy: str = "", ca_bundle: str = "",
                 session: Optional[requests.Session] = None) -> requests.Session:
    """The session every request to the API goes through; HTTPS_PROXY/NO_PROXY still apply
    when no proxy is set. One per (proxy, trust) and process, so that its open connections
    serve the next client too: the variants of a run, and a waiting worker's next edit."""
    if session is None:
        trust = trust_for(ca_bundle)
        with _lock:
            session = _sessions.get((proxy, trust))
            if session is None:
                adapter = _Adapter(ssl_context(trust))  # ConfigError: nothing is cached
                session = Session()
                session.trust = trust
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                _sessions[(proxy, trust)] = session
    if proxy:
        session.proxies.update({"http": proxy, "https": proxy})
    if ca_bundle:
        session.verify = os.path.expanduser(ca_bundle)  # also for a plain requests.get
    return session


def proxy_for(url: str, session: requests.Session) -> str:
    """The proxy requests will use for ``url``: the setting, else the environment (NO_PROXY
    honoured); "" for a direct connection."""
    proxies = dict(session.proxies)
    if session.trust_env:
        for key, value in requests.utils.get_environ_proxies(url).items():
            proxies.setdefault(key, value)
    return requests.utils.select_proxy(url, proxies) or ""


# --- what went wrong, in words ------------------------------------------------------------


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception inside it: causes, contexts, urllib3 reasons, args."""
    seen, todo = set(), [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo += [item.__cause__, item.__context__, getattr(item, "reason", None),
                 getattr(item, "original_error", None), getattr(item, "socket_err", None)]
        todo += list(getattr(item, "args", ()))


def _find(exc: BaseException, kind) -> Optional[BaseException]:
    return next((e for e in causes(exc) if isinstance(e, kind)), None)


def _text(exc: BaseException) -> str:
    return " ".join(str(e) for e in causes(exc))


@dataclass(frozen=True)
class Failure:
    """A failing step: ``kind`` for tests and tools, ``sentence`` for people."""

    step: str  # dns, tcp, proxy, tls, http
    kind: str  # e.g. dns, refused, timeout, proxy-refused, proxy-auth, tls-untrusted
    sentence: str


def tls_failure(exc: BaseException, host: str, trust: Trust, port: int = 443) -> Failure:
    verify = _find(exc, ssl.SSLCertVerificationError)
    message = (getattr(verify, "verify_message", "") or "") if verify else ""
    code = getattr(verify, "verify_code", None) if verify else None
    raw = message + " " + _text(exc)
    text = raw.lower()
    if code == 62 or "hostname mismatch" in text or "doesn't match" in text or \
            "ip address mismatch" in text:
        return Failure("tls", "tls-hostname", _(
            "The certificate of {host} is for another host name: check the base URL; a proxy "
            "or a login page may be answering in its place.").format(host=host))
    if code == 10 or "certificate has expired" in text:
        return Failure("tls", "tls-expired", _(
            "The certificate of {host} has expired, or this computer's clock is wrong: check "
            "the date and time.").format(host=host))
    if code == 9 or "not yet valid" in text:
        return Failure("tls", "tls-expired", _(
            "The certificate of {host} is not valid yet: check this computer's date and "
            "time.").format(host=host))
    if verify is not None and any(w in message.lower() for w in _STRICT_WORDS):
        return Failure("tls", "tls-strict", _(
            "Python {version} refuses the certificate chain of {host} under its strict X.509 "
            "checks ({detail}): company proxies often make CA certificates without the "
            "key-usage extension; ask whoever runs the proxy for one that has it.").format(
                version="%d.%d" % sys.version_info[:2], host=host, detail=message))
    if verify is not None or "certificate_verify_failed" in text:
        return Failure("tls", "tls-untrusted", _(
            "The certificate of {host} is not signed by an authority trusted here ({trust}): "
            "if a company proxy inspects HTTPS, put its CA certificate in the Extra CA bundle "
            "setting.").format(host=host, trust=trust.describe()))
    if "wrong_version_number" in text or "wrong version number" in text or \
            "record layer failure" in text or "packet length too long" in text:
        return Failure("tls", "tls-not-https", _(
            "{host} does not speak HTTPS on port {port}: check the base URL (http:// or "
            "https://, and the port).").format(host=host, port=port))
    if _find(exc, (ConnectionResetError, ConnectionAbortedError, EOFError)) is not None or \
            "eof occurred" in text or "unexpected_eof" in text:
        return Failure("tls", "tls-closed", _(
            "{host} closed the connection during the secure handshake: a firewall or proxy may "
            "be blocking HTTPS to it.").format(host=host))
    if "protocol_version" in text or "unsupported protocol" in text or \
            "no protocols available" in text:
        return Failure("tls", "tls-old", _(
            "{host} offers only a TLS version too old for this Python (TLS 1.0 or 1.1): the "
            "server, or a proxy that inspects HTTPS, must be updated.").format(host=host))
    return Failure("tls", "tls-other", _(
        "The secure connection to {host} failed ({reason}): check the clock, the proxy and "
        "the CA bundle in Settings.").format(host=host, reason=tls_reason(raw)))


def tls_reason(text: str) -> str:
    """What went wrong in a TLS handshake, in a few words (never urllib3's whole chain)."""
    lowered = text.lower()
    if "doesn't match" in lowered or "hostname mismatch" in lowered:
        return _("its certificate is for another host name")
    if "certificate_verify_failed" in lowered:
        return _("its certificate could not be verified")
    if "wrong_version_number" in lowered or "wrong version number" in lowered:
        return _("it does not speak HTTPS on that port")
    found = re.search(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", text)  # OpenSSL's [SSL: REASON]
    return "SSL " + found.group(0) if found else _("the handshake failed")


def connect_failure(exc: BaseException, host: str, port: int, seconds: float,
                    proxy: str = "") -> Failure:
    """A failure to reach ``host`` (directly, or the proxy ``proxy`` on the way)."""
    label = proxy_label(proxy) if proxy else ""
    gai = _find(exc, socket.gaierror)
    if gai is not None or "name or service not known" in _text(exc).lower() or \
            "nodename nor servname" in _text(exc).lower() or "getaddrinfo" in _text(exc):
        if proxy:
            return Failure("dns", "dns", _(
                "The proxy's host name {host} could not be found (DNS): check the proxy "
                "setting.").format(host=proxy_address(proxy)[0]))
        return Failure("dns", "dns", _(
            "The host name {host} could not be found (DNS): check the base URL and the "
            "network.").format(host=host))
    if _find(exc, (socket.timeout, TimeoutError)) is not None or "timed out" in _text(exc):
        if proxy:
            return Failure("tcp", "proxy-timeout", _(
                "The proxy {proxy} did not answer within {seconds:g} s: check that it is "
                "running.").format(proxy=label, seconds=seconds))
        return Failure("tcp", "timeout", _(
            "{host} did not accept a connection within {seconds:g} s: check the network and "
            "the proxy.").format(host=host, seconds=seconds))
    if _find(exc, ConnectionRefusedError) is not None or "refused" in _text(exc).lower():
        if proxy:
            return Failure("tcp", "proxy-refused", _(
                "The proxy {proxy} refused the connection: check that the proxy program is "
                "running and that the port is right.").format(proxy=label))
        return Failure("tcp", "refused", _(
            "{host} refused the connection on port {port}: check the base URL.").format(
                host=host, port=port))
    where = label if proxy else f"{host}:{port}"
    return Failure("tcp", "unreachable", _(
        "Could not connect to {where}: check the network and the proxy.").format(where=where))


def proxy_failure(exc: BaseException, url: str, session: requests.Session,
                  seconds: float = 10.0) -> Failure:
    """Why a request through a proxy failed, naming the proxy without its password."""
    proxy = proxy_for(url, session)
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return _proxy_failure(exc, proxy, host, port, seconds, getattr(session, "trust", None))


def _proxy_failure(exc: BaseException, proxy: str, host: str, port: int,
                   seconds: float, trust: Optional[Trust] = None) -> Failure:
    label = proxy_label(proxy) if proxy else _("(from the environment)")
    text = _text(exc)
    user, _password = proxy_credentials(proxy) if proxy else ("", "")
    scheme = proxy_scheme(proxy)
    if scheme not in PROXY_SCHEMES:
        return Failure("proxy", "proxy-scheme", _(
            "The proxy {proxy} is written as {scheme}://, which cannot be used: write it as "
            "socks5h://{proxy} or http://{proxy} (in the settings, or in ALL_PROXY or "
            "HTTPS_PROXY).").format(proxy=label, scheme=scheme))
    if scheme == "https" and _find(exc, (ssl.SSLError, ssl.CertificateError)) is not None:
        proxy_host, proxy_port = proxy_address(proxy)  # TLS to the proxy itself failed
        tls = tls_failure(exc, proxy_host, trust or trust_for(), proxy_port)
        return Failure("proxy", tls.kind, tls.sentence)
    if "Missing dependencies for SOCKS" in text:
        return Failure("proxy", "socks-missing", _(
            "SOCKS proxies need the PySocks package: run install.py again (or `pip install "
            "PySocks`)."))
    status = _tunnel_status(text)
    auth_error = _socks_error("SOCKS5AuthError")
    if status == 407 or (auth_error and _find(exc, auth_error)) or \
            (scheme.startswith("socks") and "closed unexpectedly" in text and user):
        if user:
            return Failure("proxy", "proxy-auth", _(
                "The proxy {proxy} refused the user name or password: check them in the proxy "
                "setting.").format(proxy=label))
        return Failure("proxy", "proxy-auth", _(
            "The proxy {proxy} asks for a user name and password: write them in the proxy "
            "setting as {example}.").format(proxy=label,
                                            example=f"{scheme}://user:password@{label}"))
    if status:
        return Failure("proxy", "proxy-target", _(
            "The proxy {proxy} could not reach {host} (it answered {status}): check the base "
            "URL, or the proxy's own connection.").format(proxy=label, host=host,
                                                           status=status))
    socks_error = _socks_error("SOCKS5Error")
    found = _find(exc, socks_error) if socks_error else None
    if found is not None:
        return Failure("proxy", "proxy-target", _(
            "The proxy {proxy} could not reach {host} ({reason}): check the base URL, or the "
            "proxy's own connection.").format(proxy=label, host=host,
                                               reason=str(found).split(": ", 1)[-1]))
    if scheme == "socks5" and _find(exc, socket.gaierror) is not None:
        return Failure("dns", "dns", _(
            "The host name {host} could not be found (DNS) on this computer: write the proxy "
            "as socks5h:// so that the proxy looks names up.").format(host=host))
    if "closed unexpectedly" in text or "RemoteDisconnected" in text or \
            "Connection reset" in text or "BadStatusLine" in text:
        return Failure("proxy", "proxy-closed", _(
            "The proxy {proxy} closed the connection before {host} was reached: check the "
            "proxy's type (http:// or socks5://), its port, and whether it needs a password.")
            .format(proxy=label, host=host))
    return connect_failure(exc, host, port, seconds, proxy=proxy or "proxy")


def _tunnel_status(text: str) -> Optional[int]:
    marker = "Tunnel connection failed: "
    at = text.find(marker)
    if at < 0:
        return None
    digits = text[at + len(marker):at + len(marker) + 3]
    return int(digits) if digits.isdigit() else None


def _socks_error(name: str):
    try:
        import socks
    except ImportError:
        return None
    return getattr(socks, name, None)


def _never_connected(exc: BaseException) -> bool:
    """The error came while opening the connection (nothing of the request was sent)."""
    try:
        from urllib3.exceptions import NewConnectionError
    except ImportError:  # pragma: no cover
        return False
    return _find(exc, NewConnectionError) is not None
