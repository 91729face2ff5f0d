"""The network path attacked the way users' networks behave: odd proxy passwords and schemes,
a CA bundle fixed in place, proxies that hang or answer nonsense to CONNECT."""

from __future__ import annotations

import socket
import threading
from urllib.parse import quote

import pytest

from bianxie_core import errors, network
from bianxie_core.client import ImagesClient
from bianxie_core.diagnose import diagnose
from tests import netkit
from tests.netkit import PROXY_USER, Proxy
from tests.test_network import KEY, clean_env, https, pki  # noqa: F401  (fixtures)

CJK_RE = __import__("re").compile(r"[\u4e00-\u9fff]")
ODD_PASSWORD = "пароль密码@:/%#é"


def listing(url: str, **kw):
    return ImagesClient(url, KEY, connect_timeout=2, timeout=4, **kw).list_models()


def refused(url: str, **kw) -> str:
    with pytest.raises(errors.ConnectError) as info:
        listing(url, **kw)
    text = str(info.value)
    assert "\n" not in text and "Traceback" not in text and KEY not in text, text
    return text


def test_a_non_ascii_proxy_password_is_sent_as_utf8_by_requests_and_diagnose(https, pki):
    with Proxy("http", auth=True, password=ODD_PASSWORD) as proxy:
        url = proxy.url()
        assert quote(ODD_PASSWORD, safe="") in url
        models = listing(https.base_url, proxy=url, ca_bundle=str(pki.ca_file))
        assert "gpt-image-1" in models
        result = diagnose(https.base_url, KEY, proxy=url, ca_bundle=str(pki.ca_file))
        assert result.ok, result.lines()
        text = refused(https.base_url, proxy=proxy.url(credentials=f"{PROXY_USER}:wrong-é"),
                       ca_bundle=str(pki.ca_file))
        assert "refused the user name or password" in text and "wrong" not in text


def test_a_socks_scheme_requests_cannot_use_is_one_sentence_without_the_password(
        https, pki, monkeypatch):
    """GNOME writes ALL_PROXY=socks://host:port; urllib3 raises a ValueError quoting the URL."""
    monkeypatch.setenv("ALL_PROXY", "socks://bob:sekrit-pw@127.0.0.1:1")
    text = refused(https.base_url, ca_bundle=str(pki.ca_file))
    assert "sekrit-pw" not in text and "socks5h://" in text and "127.0.0.1:1" in text, text
    result = diagnose(https.base_url, KEY, ca_bundle=str(pki.ca_file), connect_timeout=2)
    assert not result.ok and result.failure.step == "proxy", result.lines()
    assert "sekrit-pw" not in " ".join(result.lines())


def test_a_ca_bundle_fixed_in_place_is_read_again(https, pki, tmp_path):
    bundle = tmp_path / "company.pem"
    bundle.write_bytes(pki.other_ca.cert_pem.bytes())
    assert "not signed by an authority" in refused(https.base_url, ca_bundle=str(bundle))
    bundle.write_bytes(pki.other_ca.cert_pem.bytes() + pki.ca.cert_pem.bytes())
    assert "gpt-image-1" in listing(https.base_url, ca_bundle=str(bundle))


@pytest.fixture
def silent_proxy():
    """Accepts the TCP connection, then never answers the CONNECT."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


def test_a_proxy_that_never_answers_connect_is_named_and_nothing_is_said_billed(
        https, pki, silent_proxy):
    text = refused(https.base_url, proxy=silent_proxy, ca_bundle=str(pki.ca_file))
    assert "The proxy 127.0.0.1:" in text and "2 s" in text, text
    assert "charged" not in text
    result = diagnose(https.base_url, KEY, proxy=silent_proxy, ca_bundle=str(pki.ca_file),
                      connect_timeout=2, timeout=2)
    assert [s.step for s in result.steps] == ["dns", "tcp", "proxy"], result.lines()
    assert result.failure.kind == "proxy-timeout"


@pytest.mark.parametrize("case", ["env-missing", "folder"])
def test_an_unusable_bundle_stays_refused_and_diagnose_says_it(case, https, pki, tmp_path,
                                                               monkeypatch):
    """A failed context build once left a half-made session in the cache: the next client got
    requests' own adapter (OSError, or a different trust), and diagnose raised."""
    kw = {}
    if case == "env-missing":
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "gone.pem"))
    else:
        kw["ca_bundle"] = str(tmp_path)
    for _attempt in range(2):
        with pytest.raises(errors.ConfigError) as info:
            listing(https.base_url, **kw)
        assert "cannot be used" in str(info.value)
    result = diagnose(https.base_url, KEY, **kw)
    assert result.failure.kind == "ca-bundle" and "cannot be used" in result.summary()


def rawproxy(answer: bytes):
    """An HTTP proxy that answers CONNECT with ``answer`` and closes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def serve():
        while True:
            try:
                conn, _addr = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(answer)
    threading.Thread(target=serve, daemon=True).start()
    return server, f"http://bob:pw-SECRET@127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize("answer", [b"", b"<html><body>Blocked by policy</body></html>"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_proxy_that_closes_or_answers_html_to_connect_is_the_proxys_fault(answer, method,
                                                                            https, pki):
    server, proxy = rawproxy(answer)
    port = server.getsockname()[1]
    with server:
        client = ImagesClient(https.base_url, KEY, connect_timeout=2, timeout=4, proxy=proxy,
                              ca_bundle=str(pki.ca_file))
        with pytest.raises(errors.ConnectError) as info:
            client.list_models() if method == "get" else client.generate(
                __import__("tests.test_network", fromlist=["gen"]).gen())
    text = str(info.value)
    assert type(info.value) is errors.ConnectError, text
    assert f"The proxy 127.0.0.1:{port}" in text, text
    assert "charged" not in text and "pw-SECRET" not in text


def _secrets_in(obj, secrets, path="error", seen=None, depth=0):
    """Where ``secrets`` are reachable from an exception through attributes, args, causes and
    contexts (not through traceback frames)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 8 or obj is None or isinstance(obj, (int, float, bool)):
        return []
    seen.add(id(obj))
    if isinstance(obj, (str, bytes)):
        text = obj.decode("latin-1") if isinstance(obj, bytes) else obj
        return [path] if any(s in text for s in secrets) else []
    found = []
    children = []
    if isinstance(obj, BaseException):
        children += [("__cause__", obj.__cause__), ("__context__", obj.__context__)]
        children += [(f"args[{i}]", a) for i, a in enumerate(obj.args)]
    if isinstance(obj, dict):
        children += [(f"[{k!r}]", v) for k, v in obj.items()]
    elif isinstance(obj, (list, tuple, set)):
        children += [(f"[{i}]", v) for i, v in enumerate(obj)]
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        children += [(f".{k}", v) for k, v in vars(obj).items()]
    for name, child in children:
        found += _secrets_in(child, secrets, path + name, seen, depth + 1)
    return found


@pytest.mark.parametrize("scheme", ["http", "socks5"])
def test_no_key_or_proxy_password_is_reachable_from_a_connection_error(scheme, https, pki):
    password = "pw-REACHABLE-secret"
    with Proxy(scheme, auth=True, password=password) as proxy:
        for credentials in (f"{PROXY_USER}:{password}", f"{PROXY_USER}:{password}-wrong"):
            closed = f"https://127.0.0.1:{netkit.free_port()}/v1"
            with pytest.raises(errors.ConnectError) as info:
                listing(closed, proxy=proxy.url(credentials=credentials),
                        ca_bundle=str(pki.ca_file))
            assert _secrets_in(info.value, (KEY, password)) == []


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_a_tls_1_0_only_server_is_said_as_too_old(lang, pki, monkeypatch):
    import ssl

    from tests.fakeapi import FakeServer

    monkeypatch.setenv("LANGUAGE", lang)
    old = pki.server_context()
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with FakeServer(key=KEY, tls=old) as server:
        text = refused(server.base_url, ca_bundle=str(pki.ca_file))
        result = diagnose(server.base_url, KEY, ca_bundle=str(pki.ca_file), connect_timeout=2)
    assert result.failure.step == "tls" and result.failure.kind == "tls-old", result.lines()
    assert text == result.summary()
    assert ("TLS 1.0" in text) and (("版本" in text) == (lang == "zh_CN")), text


def test_an_unknown_handshake_failure_names_openssls_reason():
    failure = network.tls_failure(OSError("[SSL: SOME_NEW_REASON] some new reason (_ssl.c:1)"),
                                  "h", network.trust_for())
    assert failure.kind == "tls-other" and "SOME_NEW_REASON" in failure.sentence


def test_an_ipv6_proxy_is_named_as_written_and_diagnose_reaches_it(https, pki):
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            port = s.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback here")
    proxy = f"socks5h://bob:v6-secret@[::1]:{port}"
    text = refused(https.base_url, proxy=proxy, ca_bundle=str(pki.ca_file))
    assert f"The proxy [::1]:{port} refused the connection" in text, text
    result = diagnose(https.base_url, KEY, proxy=proxy, ca_bundle=str(pki.ca_file),
                      connect_timeout=2)
    assert [s.step for s in result.steps] == ["dns", "tcp"] and result.failure.kind == \
        "proxy-refused", result.lines()
    assert f"[::1]:{port}" in result.summary() and "v6-secret" not in " ".join(result.lines())


def test_diagnose_gives_the_handshake_the_connect_timeout_as_requests_does(pki):
    """urllib3 handshakes within the connect timeout; diagnose waited the read timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"https://127.0.0.1:{silent.getsockname()[1]}/v1"
        result = diagnose(url, KEY, ca_bundle=str(pki.ca_file), connect_timeout=1, timeout=6)
    assert result.failure.step == "tls" and result.failure.kind == "timeout"
    assert "within 1 s" in result.summary(), result.summary()


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_a_socks_proxy_that_never_answers_is_named_as_the_proxy(scheme, silent_proxy):
    proxy = silent_proxy.replace("http://", f"{scheme}://bob:silent-secret@")
    text = refused("https://api.example.test/v1", proxy=proxy)
    port = silent_proxy.rsplit(":", 1)[1]
    assert f"The proxy 127.0.0.1:{port} did not answer within 2 s" in text, text
    assert "silent-secret" not in text


def test_a_handshake_cut_by_the_way_is_said_as_such_by_requests_too(pki):
    """pproxy's SOCKS5 says yes before it connects, then hangs up when the API's port is
    closed: the client said 'failed (the handshake failed): check the clock…'."""
    with Proxy("socks5") as proxy:
        text = refused(f"https://127.0.0.1:{netkit.free_port()}/v1", proxy=proxy.url("socks5h"),
                       ca_bundle=str(pki.ca_file))
    assert "closed the connection during the secure handshake" in text, text


def test_a_non_ascii_socks5_password_reaches_the_api(https, pki):
    with Proxy("socks5", auth=True, password=ODD_PASSWORD) as proxy:
        assert "gpt-image-1" in listing(https.base_url, proxy=proxy.url("socks5h"),
                                        ca_bundle=str(pki.ca_file))
        result = diagnose(https.base_url, KEY, proxy=proxy.url("socks5h"),
                          ca_bundle=str(pki.ca_file))
        assert result.ok, result.lines()


def test_an_https_proxy_works_for_requests_and_diagnose_alike(https, pki):
    """TLS to the proxy, then CONNECT inside it: diagnose sent CONNECT in plain text."""
    with Proxy("https", auth=True, tls_files=pki.server_files()) as proxy:
        url = proxy.url()
        assert url.startswith("https://")
        assert "gpt-image-1" in listing(https.base_url, proxy=url, ca_bundle=str(pki.ca_file))
        result = diagnose(https.base_url, KEY, proxy=url, ca_bundle=str(pki.ca_file))
        assert result.ok, result.lines()
        assert [s.step for s in result.steps] == ["dns", "tcp", "proxy", "tls", "http"]


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_an_https_proxy_with_an_untrusted_certificate_is_the_proxys_step(lang, https, pki,
                                                                          monkeypatch):
    monkeypatch.setenv("LANGUAGE", lang)
    files = pki.server_files(ca=pki.other_ca)
    with Proxy("https", tls_files=files) as proxy:
        text = refused(https.base_url, proxy=proxy.url(), ca_bundle=str(pki.ca_file))
        result = diagnose(https.base_url, KEY, proxy=proxy.url(), ca_bundle=str(pki.ca_file))
    assert result.failure.step == "proxy" and result.failure.kind == "tls-untrusted"
    assert text == result.summary()
    assert ("127.0.0.1" in text) and ((CJK_RE.search(text) is not None) == (lang == "zh_CN"))


@pytest.mark.parametrize("proxy,port", [("http://bob:pw@127.0.0.1", 80),
                                        ("socks5h://127.0.0.1", 1080)])
def test_diagnose_tries_a_port_less_proxy_where_requests_does(proxy, port, monkeypatch):
    """It split 'host:port' and took '127.0.0.1' for a name that does not resolve."""
    tried = []

    def connect(address, timeout=None, *args):
        tried.append(address)
        raise ConnectionRefusedError(111, "Connection refused")
    monkeypatch.setattr(socket, "create_connection", connect)
    result = diagnose("https://api.example.test/v1", KEY, proxy=proxy, connect_timeout=1)
    assert tried == [("127.0.0.1", port)], result.lines()
    assert result.failure.step == "tcp" and result.failure.kind == "proxy-refused"
