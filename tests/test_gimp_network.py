"""The user's real network path in real GIMP 3.0 and 3.2: the installed plug-in, with the
PySocks and truststore that install.py vendored into GIMP's bare Python, reaching the fake API
over HTTPS (certificates made now) directly, through a real HTTP CONNECT proxy with and without
a password, and through a real SOCKS5 server (pproxy, on the host's 127.0.0.1, which the root
shares). One GIMP session runs every case."""

from __future__ import annotations

import json
import shutil
import uuid

import pytest

from tests.fakeapi import FakeServer
from tests.gimp.batch import KEY, SUCCESS, batch_env, out_folder, script
from tests.gimp.harness import parse_marks
from tests.netkit import PROXY_ONLY_HOST, PROXY_PASSWORD, Pki, Proxy

pytestmark = pytest.mark.gimp


SUCCESSES = ("reuse-1", "reuse-2", "tls", "http", "http-auth", "socks5", "socks5h")


@pytest.fixture(scope="module")
def net_run(gimp_env, tmp_path_factory):
    pki = Pki(tmp_path_factory.mktemp("pki"))
    noku_file, noku_context = pki.no_key_usage()
    inner_pki = f"/tmp/bx-net-{uuid.uuid4().hex[:8]}"
    gimp_env.host_path(inner_pki).mkdir(parents=True)
    shutil.copy(pki.ca_file, gimp_env.host_path(f"{inner_pki}/ca.pem"))
    shutil.copy(noku_file, gimp_env.host_path(f"{inner_pki}/ca-no-ku.pem"))
    proxies = {"http": Proxy("http"), "auth": Proxy("http", auth=True), "socks": Proxy("socks5")}
    for proxy in proxies.values():
        proxy.start()
    home = f"{gimp_env.home}/bianxie-net"
    reuse_context = pki.server_context()
    handshakes = []
    reuse_context.sni_callback = lambda sock, name, ctx: handshakes.append(name)
    try:
        with FakeServer(key=KEY, tls=pki.server_context()) as tls, \
                FakeServer(key=KEY, tls=noku_context) as noku, \
                FakeServer(key=KEY, tls=reuse_context) as reuse:
            env = {
                "BX_TLS": tls.base_url, "BX_CA": f"{inner_pki}/ca.pem",
                "BX_REUSE": reuse.base_url.replace("127.0.0.1", "localhost"),
                "BX_TLS_PROXY_ONLY": f"https://{PROXY_ONLY_HOST}:{tls.port}/v1",
                "BX_HTTP": proxies["http"].url(), "BX_HTTP_AUTH": proxies["auth"].url(),
                "BX_HTTP_WRONG": proxies["auth"].url(credentials="bob:not-the-password"),
                "BX_SOCKS": proxies["socks"].url("socks5"),
                "BX_SOCKS_H": proxies["socks"].url("socks5h"),
                "BX_NOKU": noku.base_url, "BX_CA_NOKU": f"{inner_pki}/ca-no-ku.pem"}
            inner, _host = out_folder(gimp_env, "net")
            result = gimp_env.run_batch(script("network_main"), env=batch_env(inner, home, **env),
                                        timeout=400)
            tunnels = {name: proxy.tunnels() for name, proxy in proxies.items()}
            reused = (len([r for r in reuse.requests if r.path.endswith("/images/edits")]),
                      list(handshakes))
            yield result, tls, noku, tunnels, gimp_env.host_path(home), reused
    finally:
        for proxy in proxies.values():
            proxy.stop()
        shutil.rmtree(gimp_env.host_path(inner_pki), ignore_errors=True)


def _status(result, tag):
    return int(result.marker(f"{tag}-status"))


def test_the_vendored_packages_are_used(gimp_env):
    for module in ("socks", "truststore"):
        code = (f"import sys; sys.path[:0] = [{gimp_env.vendor_dir!r}]; import {module}; "
                f"print({module}.__file__)")
        proc = gimp_env.run(["python3", "-c", code])
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(gimp_env.vendor_dir + "/"), proc.stdout
    bare = gimp_env.run(["python3", "-c", "import socks"])
    assert bare.returncode != 0  # the root's own Python has no PySocks: install.py brought it


@pytest.mark.parametrize("tag", SUCCESSES)
def test_edits_succeed_over_https_directly_and_through_proxies(net_run, tag):
    result, *_ = net_run
    assert result.ok, result.describe()
    assert _status(result, tag) == SUCCESS, result.describe()
    assert int(result.marker(f"{tag}-layers")) == 2


def test_the_server_got_each_successful_edit_once(net_run):
    result, tls, *_ = net_run
    edits = [r for r in tls.requests if r.path.endswith("/images/edits")]
    assert len(edits) == len(SUCCESSES) - 2  # the reuse-* edits went to their own server


def test_the_waiting_worker_reuses_the_tls_connection_for_the_next_edit(net_run):
    *_, (edits, handshakes) = net_run
    assert edits == 2
    assert handshakes == ["localhost"]


def test_the_proxies_carried_the_requests(net_run):
    result, tls, _noku, tunnels, *_ = net_run
    target = f"127.0.0.1:{tls.port}"
    assert target in tunnels["http"]
    assert target in tunnels["auth"]
    assert target in tunnels["socks"]  # socks5: the name was looked up inside GIMP
    assert f"{PROXY_ONLY_HOST}:{tls.port}" in tunnels["socks"]  # socks5h: by the proxy


def test_a_wrong_proxy_password_is_one_sentence_without_it(net_run):
    result, *_ = net_run
    assert _status(result, "http-wrong") != SUCCESS
    message = result.marker("http-wrong-message")
    assert "refused the user name or password" in message
    assert "not-the-password" not in message and "bob" not in message


def test_strict_python_names_the_ca_without_key_usage(net_run, gimp_env):
    result, _tls, noku, *_ = net_run
    assert _status(result, "strict") != SUCCESS
    message = result.marker("strict-message")
    version = ".".join(gimp_env.root.python_version.split(".")[:2])
    assert f"Python {version} refuses the certificate chain" in message, message
    assert "key usage" in message
    assert noku.requests == []


def test_without_the_extra_ca_the_system_store_does_not_trust_the_server(net_run):
    result, *_ = net_run
    assert _status(result, "untrusted") != SUCCESS
    message = result.marker("untrusted-message")
    assert "not signed by an authority trusted here (the system's certificate store)" in message


def test_no_proxy_password_in_any_file_but_the_config(net_run):
    *_, home, _reused = net_run
    leaks = []
    for path in home.rglob("*"):
        if path.is_file() and path.name != "config.json":
            data = path.read_bytes()
            if PROXY_PASSWORD.encode() in data or b"not-the-password" in data:
                leaks.append(str(path))
    assert leaks == []
    assert json.loads((home / "config.json").read_text())["proxy"] == ""


def in_gimps_python(gimp_env, name, cases):
    """``scripts/<name>.py`` in the root's python3 with the plug-in's folders, given ``cases``."""
    args = json.dumps({"path": [gimp_env.vendor_dir, gimp_env.plugin_dir], "cases": cases})
    return gimp_env.run(["python3", "-c", script(name, lib=False), args],
                        env={"LANGUAGE": "en", "BX_KEY": KEY})


def test_diagnose_in_gimps_python_names_each_step(gimp_env, tmp_path):
    pki = Pki(tmp_path / "pki")
    noku_file, noku_context = pki.no_key_usage()
    inner = f"/tmp/bx-diag-{uuid.uuid4().hex[:8]}"
    gimp_env.host_path(inner).mkdir(parents=True)
    shutil.copy(pki.ca_file, gimp_env.host_path(f"{inner}/ca.pem"))
    shutil.copy(noku_file, gimp_env.host_path(f"{inner}/ca-no-ku.pem"))
    try:
        with FakeServer(key=KEY, tls=pki.server_context()) as tls, \
                FakeServer(key=KEY, tls=noku_context) as noku, \
                Proxy("socks5") as socks, Proxy("http", auth=True) as auth:
            ca = {"ca_bundle": f"{inner}/ca.pem"}
            cases = [
                ("ok", f"https://{PROXY_ONLY_HOST}:{tls.port}/v1",
                 dict(ca, proxy=socks.url("socks5h"))),
                ("auth", tls.base_url, dict(ca, proxy=auth.url(credentials="bob:wrong-pw"))),
                ("strict", noku.base_url, {"ca_bundle": f"{inner}/ca-no-ku.pem"}),
                ("untrusted", tls.base_url, {}),
            ]
            proc = in_gimps_python(gimp_env, "network_diagnose", cases)
    finally:
        shutil.rmtree(gimp_env.host_path(inner), ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    found = {name: json.loads(value) for name, value in parse_marks(proc.stdout)}
    assert found["ok"][:2] == ["ok", ["dns", "tcp", "proxy", "tls", "http"]], found["ok"]
    assert found["auth"][:2] == ["proxy-auth", ["dns", "tcp", "proxy"]]
    assert "wrong-pw" not in proc.stdout
    assert found["strict"][0] == "tls-strict" and "key usage" in found["strict"][2]
    assert found["untrusted"][0] == "tls-untrusted"
    assert "the system's certificate store" in found["untrusted"][2]


def test_red_team_cases_in_gimps_python(gimp_env, tmp_path):
    """The vendored requests/urllib3/PySocks of GIMP's Python: a UTF-8 proxy password, proxies
    that never answer (HTTP CONNECT and SOCKS5), socks:// named in one sentence, and an
    https:// proxy whose certificate the extra CA bundle trusts."""
    import socket

    odd = "пароль密码@:/%#é"
    pki = Pki(tmp_path / "pki")
    inner = f"/tmp/bx-rt-{uuid.uuid4().hex[:8]}"
    gimp_env.host_path(inner).mkdir(parents=True)
    shutil.copy(pki.ca_file, gimp_env.host_path(f"{inner}/ca.pem"))
    try:
        with FakeServer(key=KEY, tls=pki.server_context()) as tls, \
                Proxy("http", auth=True, password=odd) as auth, socket.socket() as silent, \
                Proxy("https", auth=True, tls_files=pki.server_files()) as tls_proxy:
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            port = silent.getsockname()[1]
            ca = {"ca_bundle": f"{inner}/ca.pem"}
            cases = [
                ("utf8", tls.base_url, dict(ca, proxy=auth.url())),
                ("silent-http", tls.base_url, dict(ca, proxy=f"http://127.0.0.1:{port}")),
                ("silent-socks", tls.base_url,
                 dict(ca, proxy=f"socks5h://bob:silent-pw@127.0.0.1:{port}")),
                ("socks", tls.base_url, dict(ca, proxy="socks://bob:silent-pw@127.0.0.1:1")),
                ("https-proxy", tls.base_url, dict(ca, proxy=tls_proxy.url())),
            ]
            proc = in_gimps_python(gimp_env, "network_client", cases)
    finally:
        shutil.rmtree(gimp_env.host_path(inner), ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    found = {name: json.loads(value) for name, value in parse_marks(proc.stdout)}
    assert found["utf8"] == ["ok", True], found["utf8"]
    assert found["https-proxy"] == ["ok", True], found["https-proxy"]
    for name in ("silent-http", "silent-socks"):
        kind, text = found[name]
        assert kind == "ConnectError" and f"The proxy 127.0.0.1:{port} did not answer" in text, \
            found[name]
    assert found["socks"][0] == "ConnectError" and "socks5h://" in found["socks"][1]
    assert "silent-pw" not in proc.stdout and odd not in proc.stdout
