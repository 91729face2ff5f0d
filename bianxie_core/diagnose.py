"""``bianxie config test`` and Settings → Test Connection: the way to the API, one step at a
time (DNS, TCP, proxy, TLS, HTTP), stopping at the first that fails and naming it in one
sentence. It goes the way requests will: the proxy from the settings or the environment
(NO_PROXY honoured), and the same SSL context as every request."""

from __future__ import annotations

import dataclasses
import os
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional
from urllib.parse import urlsplit

from bianxie_core import errors, network
from bianxie_core.addresses import (
    PROXY_SCHEMES, proxy_address, proxy_credentials, proxy_label, proxy_scheme)
from bianxie_core.trust import Trust, ssl_context
from bianxie_core.i18n import _


@dataclass
class Step:
    step: str  # dns, tcp, proxy, tls, http
    ok: bool
    text: str  # what was found, or why it failed: one sentence
    seconds: float = 0.0


@dataclass
class Diagnosis:
    steps: List[Step] = field(default_factory=list)
    failure: Optional[network.Failure] = None
    models: List[str] = field(default_factory=list)  # image models the server lists

    @property
    def ok(self) -> bool:
        return self.failure is None

    def lines(self) -> List[str]:
        """One line per step taken, e.g. ``TLS: TLSv1.3, trusted by …``."""
        return [f"{step_label(s.step)}: {s.text}" for s in self.steps]

    def summary(self) -> str:
        if self.failure:
            return self.failure.sentence
        return _("Connected. Image models: {names}").format(
            names=", ".join(self.models) or _("none listed"))


def step_label(step: str) -> str:
    return {"dns": _("DNS"), "tcp": _("TCP"), "proxy": _("Proxy"), "tls": _("TLS"),
            "http": _("HTTP")}.get(step, step)


class _Stop(Exception):
    pass


class _Walk:
    def __init__(self) -> None:
        self.result = Diagnosis()

    def run(self, step: str, action: Callable, failed: Callable[[Exception], network.Failure],
            said: Callable[[object], str]):
        started = time.monotonic()
        try:
            value = action()
        except Exception as exc:  # every failure becomes a sentence; the walk stops there
            failure = failed(exc)
            self.result.steps.append(Step(failure.step, False, failure.sentence,
                                          time.monotonic() - started))
            self.result.failure = failure
            raise _Stop() from None
        self.result.steps.append(Step(step, True, said(value), time.monotonic() - started))
        return value


def diagnose(base_url: str, api_key: str, *, proxy: str = "", ca_bundle: str = "",
             connect_timeout: float = 10.0, timeout: float = 30.0) -> Diagnosis:
    """Walk to ``base_url`` step by step; never raises for a network problem."""
    walk = _Walk()
    try:
        _walk(walk, base_url, api_key, proxy, ca_bundle, connect_timeout, timeout)
    except _Stop:
        pass
    return walk.result


TEST_TIMEOUT = 30.0  # s: the longest a test waits for an answer, whatever the edit timeout


def diagnose_config(cfg, env=None) -> Diagnosis:
    """``diagnose`` with the settings (``config.Config``) as a request would use them. A
    missing key is said after the network steps, which run without it. ConfigError for a
    base URL that is not one."""
    from bianxie_core import config as configmod

    missing = None
    try:
        key = configmod.resolve_api_key(cfg, os.environ if env is None else env)
    except errors.ConfigError as exc:
        key, missing = "", str(exc)
    base_url = configmod.normalise_base_url(cfg.base_url, allow_http=cfg.allow_http)
    result = diagnose(base_url, key, proxy=cfg.proxy, ca_bundle=cfg.ca_bundle,
                      connect_timeout=cfg.connect_timeout, timeout=min(cfg.timeout, TEST_TIMEOUT))
    if missing and result.failure is not None and result.failure.kind == "key":
        result.failure = network.Failure("http", "key", missing)
        result.steps[-1] = Step("http", False, missing, result.steps[-1].seconds)
    return result


def _walk(walk: _Walk, base_url, api_key, proxy, ca_bundle, connect_timeout, timeout) -> None:
    parts = urlsplit(base_url)
    host, https = parts.hostname or "", parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    try:
        session = network.make_session(proxy, ca_bundle)
    except errors.ConfigError as exc:  # the CA bundle cannot be read
        walk.result.failure = network.Failure("tls", "ca-bundle", str(exc))
        walk.result.steps.append(Step("tls", False, str(exc)))
        raise _Stop() from None
    route = network.proxy_for(base_url, session)
    scheme = route.split("://", 1)[0].lower() if route else ""
    sock = None
    try:
        if not route:
            walk.run("dns", lambda: _resolve(host, port),
                     lambda e: network.connect_failure(e, host, port, connect_timeout),
                     lambda a: _("{host} is at {addresses}.").format(
                         host=host, addresses=", ".join(a)))
            sock = walk.run("tcp", lambda: socket.create_connection((host, port),
                                                                    connect_timeout),
                            lambda e: network.connect_failure(e, host, port, connect_timeout),
                            lambda s: _("Connected to {address} port {port}.").format(
                                address=s.getpeername()[0], port=port))
        else:
            sock = _through_proxy(walk, route, scheme, host, port, https, connect_timeout,
                                  session.trust)
        if https:
            sock.settimeout(connect_timeout)  # as urllib3: the handshake is part of connecting
            context = ssl_context(session.trust)
            sock = walk.run("tls", lambda: _wrap(context, sock, host),
                            lambda e: _tls_failure(e, host, port, session.trust, connect_timeout),
                            lambda s: _("{version}; the certificate is trusted by {trust}.")
                            .format(version=s.version(), trust=session.trust.describe()))
    finally:
        if sock is not None:
            sock.close()
    walk.result.models = walk.run(
        "http", lambda: _image_models(base_url, api_key, proxy, ca_bundle, connect_timeout,
                                      timeout),
        _http_failure, lambda names: _("The API answered at {url}.").format(url=base_url))


def _through_proxy(walk: _Walk, route: str, scheme: str, host: str, port: int, https: bool,
                   seconds: float, trust: Trust):
    label = proxy_label(route)
    failed = lambda e: dataclasses.replace(  # noqa: E731  (the proxy step, whatever the words)
        network._proxy_failure(e, route, host, port, seconds, trust), step="proxy")
    if proxy_scheme(route) not in PROXY_SCHEMES:  # requests would refuse it
        walk.run("proxy", lambda: _raise(OSError("unusable scheme")), failed, str)
    proxy_host, proxy_port = proxy_address(route)
    walk.run("dns", lambda: _resolve(proxy_host, proxy_port),
             lambda e: network.connect_failure(e, host, port, seconds, proxy=route),
             lambda a: _("The proxy {proxy} is at {addresses}.").format(
                 proxy=label, addresses=", ".join(a)))
    sock = walk.run("tcp", lambda: socket.create_connection((proxy_host, proxy_port), seconds),
                    lambda e: network.connect_failure(e, host, port, seconds, proxy=route),
                    lambda s: _("Connected to the proxy {proxy}.").format(proxy=label))
    opened = _("The proxy {proxy} opened a way to {host} port {port}.").format(
        proxy=label, host=host, port=port)
    if scheme.startswith("socks"):
        sock.close()
        if scheme in ("socks5", "socks4"):  # the name is looked up here, not at the proxy
            walk.run("dns", lambda: _resolve(host, port),
                     lambda e: network._proxy_failure(e, route, host, port, seconds),
                     lambda a: _("{host} is at {addresses}.").format(
                         host=host, addresses=", ".join(a)))
        return walk.run("proxy", lambda: _socks_connect(route, scheme, proxy_host, proxy_port,
                                                        host, port, seconds),
                        failed, lambda s: opened)
    if not https:
        return sock  # plain HTTP goes through the proxy without a tunnel
    if scheme == "https":  # TLS to the proxy first, as urllib3 does
        return walk.run("proxy", lambda: _connect_tunnel(
            _wrap(ssl_context(trust), sock, proxy_host), route, host, port), failed,
            lambda s: opened)
    return walk.run("proxy", lambda: _connect_tunnel(sock, route, host, port), failed,
                    lambda s: opened)


def _wrap(context, sock, host: str):
    """TLS over ``sock``, which may itself be TLS (to an https:// proxy)."""
    if isinstance(sock, ssl.SSLSocket):
        from urllib3.util.ssltransport import SSLTransport

        return SSLTransport(sock, context, server_hostname=host)
    return context.wrap_socket(sock, server_hostname=host)


def _raise(exc: Exception):
    raise exc


def _resolve(host: str, port: int) -> List[str]:
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in found))


def _connect_tunnel(sock: socket.socket, proxy: str, host: str, port: int) -> socket.socket:
    """CONNECT host:port as urllib3 sends it; OSError with http.client's words otherwise."""
    lines = [f"CONNECT {host}:{port} HTTP/1.1", f"Host: {host}:{port}"]
    user, password = proxy_credentials(proxy)
    if user or password:
        lines.append(f"Proxy-Authorization: {network.basic_auth(user, password)}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)  # byte by byte: nothing after the head may be taken from TLS
        if not chunk:
            raise OSError("RemoteDisconnected: the proxy closed the connection unexpectedly")
        head += chunk
        if len(head) > 65536:
            raise OSError("Tunnel connection failed: the proxy's answer is too long")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or not fields[1].isdigit():
        raise OSError("RemoteDisconnected: the proxy answered no HTTP status")
    if fields[1] != "200":
        raise OSError(f"Tunnel connection failed: {' '.join(fields[1:])}")
    return sock


def _socks_connect(proxy: str, scheme: str, proxy_host: str, proxy_port: int, host: str,
                   port: int, seconds: float) -> socket.socket:
    try:
        import socks
    except ImportError:
        raise OSError("Missing dependencies for SOCKS support.") from None
    user, password = proxy_credentials(proxy)
    kind = socks.SOCKS4 if scheme.startswith("socks4") else socks.SOCKS5
    return socks.create_connection(
        (host, port), timeout=seconds, proxy_type=kind, proxy_addr=proxy_host,
        proxy_port=proxy_port, proxy_rdns=scheme in ("socks5h", "socks4a"),
        proxy_username=user or None, proxy_password=password or None)


def _tls_failure(exc: Exception, host: str, port: int, trust, seconds: float):
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return network.Failure("tls", "timeout", _(
            "{host} did not finish the secure handshake within {seconds:g} s: a proxy or "
            "firewall may be holding the connection.").format(host=host, seconds=seconds))
    return network.tls_failure(exc, host, trust, port)


def _image_models(base_url, api_key, proxy, ca_bundle, connect_timeout, timeout) -> List[str]:
    from bianxie_core.client import ImagesClient

    client = ImagesClient(base_url, api_key, timeout=timeout, connect_timeout=connect_timeout,
                          proxy=proxy, ca_bundle=ca_bundle)
    return [m for m in client.list_models() if "image" in m]


def _http_failure(exc: Exception) -> network.Failure:
    if isinstance(exc, errors.TimeoutError):
        return network.Failure("http", "timeout", str(exc))
    if isinstance(exc, errors.AuthenticationError):
        return network.Failure("http", "key", str(exc))
    if isinstance(exc, errors.BianxieError):
        return network.Failure("http", "http", str(exc))
    raise exc
