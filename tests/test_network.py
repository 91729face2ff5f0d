"""The real network path: the fake API over HTTPS with certificates made now, a real HTTP
CONNECT proxy and a real SOCKS5 server (pproxy), each failing step in its own sentence."""

from __future__ import annotations

import re
import socket
import ssl

import pytest

from bianxie_core import errors, network, trust
from bianxie_core.client import ImagesClient
from bianxie_core.diagnose import diagnose
from bianxie_core.params import GenerateRequest
from tests import netkit
from tests.fakeapi import FakeServer
from tests.netkit import PROXY_ONLY_HOST, PROXY_PASSWORD, PROXY_USER, Proxy

KEY = "sk-NETWORK-CANARY-5f6e7d8c9b0a"
CJK = re.compile(r"[\u4e00-\u9fff]")
ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", *trust.BUNDLE_VARS)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return netkit.Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("LANGUAGE", "en")
    monkeypatch.setenv("BIANXIE_HOME", str(tmp_path / "home"))
    forget_sessions()


def forget_sessions():
    """New SSL contexts and sessions: nothing reused from an earlier case."""
    trust._contexts.clear()
    network._sessions.clear()


@pytest.fixture(scope="module")
def https(pki):
    with FakeServer(key=KEY, tls=pki.server_context()) as server:
        yield server


@pytest.fixture(scope="module")
def proxies():
    made = {name: Proxy(scheme, auth) for name, (scheme, auth) in {
        "http": ("http", False), "http-auth": ("http", True),
        "socks": ("socks5", False), "socks-auth": ("socks5", True)}.items()}
    for proxy in made.values():
        proxy.start()
    yield made
    for proxy in made.values():
        proxy.stop()


def gen() -> GenerateRequest:
    return GenerateRequest(prompt="a fox", model="gpt-image-1", quality="low",
                           output_format="jpeg")


def generate(url: str, **kw):
    saved = []
    result = ImagesClient(url, KEY, connect_timeout=5, **kw).generate(
        gen(), on_image=lambda i, data, info: saved.append(data))
    return result, saved


def failing(url: str, **kw) -> str:
    """The sentence of a request that must fail before anything is recorded."""
    saved = []
    with pytest.raises(errors.ConnectError) as info:
        ImagesClient(url, KEY, connect_timeout=5, **kw).generate(
            gen(), on_image=lambda i, data, info: saved.append(data))
    assert saved == []
    text = str(info.value)
    assert "\n" not in text and "Traceback" not in text and "Max retries" not in text, text
    assert PROXY_PASSWORD not in text and KEY not in text
    return text


# --- TLS ---------------------------------------------------------------------------------


def test_a_server_trusted_through_the_extra_ca_bundle(https, pki):
    result, saved = generate(https.base_url, ca_bundle=str(pki.ca_file))
    assert len(saved) == 1 and result.images[0].data == saved[0]
    assert https.requests[-1].path.endswith("/images/generations")


def test_without_the_extra_ca_the_certificate_is_untrusted_and_nothing_is_sent(https):
    before = len(https.requests)
    text = failing(https.base_url)
    assert "not signed by an authority trusted here" in text
    assert "system's certificate store" in text
    assert len(https.requests) == before


def test_the_configured_bundle_wins_over_requests_ca_bundle(https, pki, monkeypatch, tmp_path):
    other = tmp_path / "other.pem"
    other.write_bytes(pki.other_ca.cert_pem.bytes())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(other))
    _result, saved = generate(https.base_url, ca_bundle=str(pki.ca_file))
    assert len(saved) == 1
    # and without a configured bundle the environment's is used, and named
    text = failing(https.base_url)
    assert f"the CA bundle {other} from REQUESTS_CA_BUNDLE" in text


def test_the_bundle_named_in_an_untrusted_error_is_the_one_used(https, pki, tmp_path):
    other = tmp_path / "other.pem"
    other.write_bytes(pki.other_ca.cert_pem.bytes())
    text = failing(https.base_url, ca_bundle=str(other))
    assert f"the extra CA bundle {other}" in text


@pytest.mark.parametrize("case", ["missing", "not-pem"])
def test_an_unusable_ca_bundle_is_one_sentence(case, https, tmp_path):
    bundle = tmp_path / f"{case}.pem"
    if case == "not-pem":
        bundle.write_text("this is not a certificate\n")
    with pytest.raises(errors.ConfigError) as info:
        ImagesClient(https.base_url, KEY, ca_bundle=str(bundle))
    text = str(info.value)
    assert f"{case}.pem" in text and "Extra CA bundle" in text and "\n" not in text
    if case == "not-pem":
        assert "no PEM certificate" in text


@pytest.mark.parametrize("case", ["wrong-host", "expired", "unknown-ca"])
def test_certificate_failures_end_in_their_own_sentence(case, pki):
    context = {"wrong-host": lambda: pki.server_context(["other.example"]),
               "expired": lambda: pki.server_context(expired=True),
               "unknown-ca": lambda: pki.server_context(ca=pki.other_ca)}[case]()
    expected = {"wrong-host": "is for another host name", "expired": "has expired",
                "unknown-ca": "not signed by an authority trusted here"}[case]
    with FakeServer(key=KEY, tls=context) as server:
        text = failing(server.base_url, ca_bundle=str(pki.ca_file))
        assert expected in text and "127.0.0.1" in text
        assert server.requests == []


def test_a_ca_without_key_usage_is_refused_by_strict_checks_and_said_so(pki, monkeypatch):
    ca_file, context = pki.no_key_usage()
    with FakeServer(key=KEY, tls=context) as server:
        monkeypatch.setattr(trust, "STRICT", False)  # Python before 3.13 accepts it
        _result, saved = generate(server.base_url, ca_bundle=str(ca_file))
        assert len(saved) == 1
        forget_sessions()
        monkeypatch.setattr(trust, "STRICT", True)  # as ssl.create_default_context on 3.13+
        text = failing(server.base_url, ca_bundle=str(ca_file))
        assert "strict X.509" in text and "key usage" in text, text


def test_https_on_a_plain_http_port_is_said_as_such(pki):
    with FakeServer(key=KEY) as plain:
        text = failing(plain.base_url.replace("http://", "https://"),
                       ca_bundle=str(pki.ca_file))
    assert "does not speak HTTPS" in text


def test_connections_are_reused_one_handshake_for_several_requests_and_clients(pki):
    context = pki.server_context()
    handshakes = []
    context.sni_callback = lambda sock, name, ctx: handshakes.append(name)
    with FakeServer(key=KEY, tls=context) as server:
        url = server.base_url.replace("127.0.0.1", "localhost")
        client = ImagesClient(url, KEY, ca_bundle=str(pki.ca_file))
        for _ in range(3):
            client.generate(gen())
        client.list_models()
        # the next edit of a waiting worker makes a new client with the same settings
        ImagesClient(url, KEY, ca_bundle=str(pki.ca_file)).generate(gen())
        assert handshakes == ["localhost"]
        other = ImagesClient(url, KEY, ca_bundle=str(pki.ca_file), proxy="http://127.0.0.1:9")
        assert other.session is not client.session  # other settings, another session


# --- proxies -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["http", "http-auth", "socks", "socks-auth"])
def test_https_through_a_real_proxy_set_in_the_settings(name, proxies, https, pki):
    _result, saved = generate(https.base_url, proxy=proxies[name].url(),
                              ca_bundle=str(pki.ca_file))
    assert len(saved) == 1


def test_socks5h_lets_the_proxy_look_the_name_up(proxies, https, pki):
    url = f"https://{PROXY_ONLY_HOST}:{https.port}/v1"
    socks = proxies["socks"]
    _result, saved = generate(url, proxy=socks.url("socks5h"), ca_bundle=str(pki.ca_file))
    assert len(saved) == 1
    text = failing(url, proxy=socks.url("socks5"), ca_bundle=str(pki.ca_file))
    assert f"{PROXY_ONLY_HOST} could not be found (DNS)" in text and "socks5h://" in text


@pytest.mark.parametrize("name", ["http-auth", "socks-auth"])
def test_proxy_auth_failures_name_the_proxy_never_the_password(name, proxies, https, pki):
    proxy = proxies[name]
    wrong = failing(https.base_url, proxy=proxy.url(credentials=f"{PROXY_USER}:nope-secret"),
                    ca_bundle=str(pki.ca_file))
    assert "refused the user name or password" in wrong and f":{proxy.port}" in wrong
    assert "nope-secret" not in wrong and PROXY_USER not in wrong
    if name == "http-auth":  # a SOCKS server that wants a password just hangs up
        missing = failing(https.base_url, proxy=proxy.url(credentials=""),
                          ca_bundle=str(pki.ca_file))
        assert "asks for a user name and password" in missing


def test_proxy_from_https_proxy_and_no_proxy(proxies, https, pki, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxies["http-auth"].url())
    _result, saved = generate(https.base_url, ca_bundle=str(pki.ca_file))
    assert len(saved) == 1
    # NO_PROXY: the dead proxy in the environment is not used for 127.0.0.1
    monkeypatch.setenv("HTTPS_PROXY", f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:"
                                      f"{netkit.free_port()}")
    text = failing(https.base_url, ca_bundle=str(pki.ca_file))
    assert "refused the connection" in text and PROXY_PASSWORD not in text
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    _result, saved = generate(https.base_url, ca_bundle=str(pki.ca_file))
    assert len(saved) == 1


def test_the_proxy_in_the_settings_wins_over_https_proxy(proxies, https, pki, monkeypatch):
    dead = f"http://127.0.0.1:{netkit.free_port()}"
    monkeypatch.setenv("HTTPS_PROXY", dead)
    monkeypatch.setenv("https_proxy", dead)
    before = len(proxies["http"].tunnels())
    _result, saved = generate(https.base_url, proxy=proxies["http"].url(),
                              ca_bundle=str(pki.ca_file))
    assert len(saved) == 1
    assert len(proxies["http"].tunnels()) == before + 1


@pytest.mark.parametrize("scheme", ["http", "socks5", "socks5h"])
def test_a_proxy_that_is_not_running_is_refused_in_words(scheme, https, pki):
    proxy = f"{scheme}://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{netkit.free_port()}"
    text = failing(https.base_url, proxy=proxy, ca_bundle=str(pki.ca_file))
    assert "The proxy 127.0.0.1:" in text and "refused the connection" in text, text


# --- diagnose: each step, in English and Chinese -----------------------------------------


@pytest.fixture
def silent_port():
    """A port that accepts TCP connections but never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def _case(kind, pki, https, proxies, silent_port):
    auth = proxies["http-auth"]
    cases = {
        "ok": (https.base_url, {"proxy": proxies["socks"].url("socks5h")}),
        "dns": ("https://no-such-host.invalid/v1", {}),
        "refused": (f"https://127.0.0.1:{netkit.free_port()}/v1", {}),
        "timeout": (f"https://127.0.0.1:{silent_port}/v1", {}),
        "proxy-refused": (https.base_url, {"proxy": f"http://127.0.0.1:{netkit.free_port()}"}),
        "proxy-auth": (https.base_url, {"proxy": auth.url(credentials="bob:wrong-secret")}),
        "tls-untrusted": (https.base_url, {"ca_bundle": ""}),
        "tls-hostname": (f"https://{PROXY_ONLY_HOST}:{https.port}/v1",
                         {"proxy": proxies["socks"].url("socks5h")}),
    }
    url, kw = cases[kind]
    kw.setdefault("ca_bundle", str(pki.ca_file))
    return url, kw


STEP_OF = {"ok": None, "dns": "dns", "refused": "tcp", "timeout": "tls", "proxy-refused": "tcp",
           "proxy-auth": "proxy", "tls-untrusted": "tls", "tls-hostname": "tls"}


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
@pytest.mark.parametrize("kind", list(STEP_OF))
def test_diagnose_names_the_failing_step_in_one_sentence(kind, lang, pki, https, proxies,
                                                         silent_port, monkeypatch):
    monkeypatch.setenv("LANGUAGE", lang)
    url, kw = _case(kind, pki, https, proxies, silent_port)
    if kind == "tls-hostname":  # a certificate that lacks the name the proxy reaches
        with FakeServer(key=KEY, tls=pki.server_context(["127.0.0.1"])) as other:
            url = f"https://{PROXY_ONLY_HOST}:{other.port}/v1"
            result = diagnose(url, KEY, connect_timeout=2, timeout=2, **kw)
    else:
        result = diagnose(url, KEY, connect_timeout=2, timeout=2, **kw)
    lines = result.lines()
    assert all("\n" not in line and "Traceback" not in line for line in lines)
    assert all(PROXY_PASSWORD not in line and "wrong-secret" not in line for line in lines)
    if kind == "ok":
        assert result.ok and "gpt-image-1" in result.models
        assert [s.step for s in result.steps] == ["dns", "tcp", "proxy", "tls", "http"]
        return
    assert result.failure.kind == kind and result.failure.step == STEP_OF[kind], lines
    assert not result.steps[-1].ok and all(s.ok for s in result.steps[:-1])
    assert (CJK.search(result.summary()) is not None) == (lang == "zh_CN"), result.summary()


def test_diagnose_reports_a_refused_key_at_the_http_step(https, pki):
    result = diagnose(https.base_url, KEY + "-wrong", ca_bundle=str(pki.ca_file))
    assert result.failure.step == "http" and result.failure.kind == "key"
    assert KEY not in " ".join(result.lines())


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_the_shared_context_is_never_loosened_by_a_verify_false_request(https, pki):
    session = network.make_session(ca_bundle=str(pki.ca_file))
    session.get(https.root_url + "/v1/models", verify=False,
                headers={"Authorization": f"Bearer {KEY}"})
    context = trust.ssl_context(session.trust)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


@pytest.mark.parametrize("kind", ["dns", "refused"])
def test_connect_failure_reads_what_requests_raises(kind):
    """For the client's connection errors: requests' own exception, named in words."""
    port = netkit.free_port()
    url = {"dns": "https://no-such-host.invalid/v1/models",
           "refused": f"https://127.0.0.1:{port}/v1/models"}[kind]
    with pytest.raises(network.requests.ConnectionError) as info:
        network.make_session().get(url, timeout=5)
    host = "no-such-host.invalid" if kind == "dns" else "127.0.0.1"
    failure = network.connect_failure(info.value, host, 443 if kind == "dns" else port, 5)
    assert failure.kind == kind, failure
    assert host in failure.sentence


def test_diagnose_config_uses_the_settings_and_says_a_missing_key_last(https, pki, proxies):
    from bianxie_core.config import Config
    from bianxie_core.diagnose import diagnose_config

    cfg = Config(base_url=https.base_url, api_key=KEY, proxy=proxies["http-auth"].url(),
                 ca_bundle=str(pki.ca_file), connect_timeout=3)
    result = diagnose_config(cfg, env={})
    assert result.ok, result.lines()
    assert [s.step for s in result.steps] == ["dns", "tcp", "proxy", "tls", "http"]
    assert "gpt-image-1" in result.summary()
    cfg.api_key = ""
    result = diagnose_config(cfg, env={})
    assert [s.ok for s in result.steps] == [True, True, True, True, False]
    assert result.failure.kind == "key" and "No API key is set" in result.summary()
