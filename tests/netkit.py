"""Real network parts for the tests: certificates made now (trustme; cryptography for a CA
without key usage), the fake API over HTTPS, and a real proxy server (pproxy: HTTP CONNECT and
SOCKS5, with or without a password) in its own process."""

from __future__ import annotations

import datetime
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Sequence
from urllib.parse import quote

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# A name only the proxy can resolve (the way a company network's DNS knows internal names).
PROXY_ONLY_HOST = "api.bianxie.test"
PROXY_USER, PROXY_PASSWORD = "bob", "hunter2-proxy-secret"
NAMES = ("localhost", "127.0.0.1", PROXY_ONLY_HOST)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pki:
    """CAs and server certificates for one test session, written under ``folder``."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA(organization_name="bianxie test CA")
        self.other_ca = trustme.CA(organization_name="somebody else's CA")
        self.ca_file = self._write("ca.pem", self.ca.cert_pem.bytes())

    def _write(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path

    def server_context(self, names: Sequence[str] = NAMES, ca: Optional[trustme.CA] = None,
                       expired: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        if expired:
            now = datetime.datetime.now(datetime.timezone.utc)
            cert = (ca or self.ca).issue_cert(*names, not_before=now - datetime.timedelta(
                days=30), not_after=now - datetime.timedelta(days=1))
        else:
            cert = (ca or self.ca).issue_cert(*names)
        cert.configure_cert(ctx)
        return ctx

    def server_files(self, names: Sequence[str] = NAMES,
                     ca: Optional[trustme.CA] = None) -> "tuple[Path, Path]":
        """A certificate chain and key file for ``names``, signed by ``ca`` (the test CA)."""
        cert = (ca or self.ca).issue_cert(*names)
        chain = self._write("server-chain.pem", b"".join(p.bytes() for p in cert.cert_chain_pems))
        return chain, self._write("server.key", cert.private_key_pem.bytes())

    def no_key_usage(self, names: Sequence[str] = NAMES) -> "tuple[Path, ssl.SSLContext]":
        """A CA without the key-usage extension (as some company proxies make them) and a
        server context with a certificate it signed: (CA file, context)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "proxy CA without KU")])
        ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
                   .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                                  False)
                   .sign(ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.IPAddress(__import__("ipaddress").ip_address(n)) if n[0].isdigit()
                else x509.DNSName(n) for n in names]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(ca_name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName(sans), False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    ca_key.public_key()), False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
                .add_extension(x509.KeyUsage(True, False, False, False, False, False, False,
                                             False, False), True)
                .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]),
                               False)
                .sign(ca_key, hashes.SHA256()))
        pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
        ca_file = self._write("ca-no-ku.pem", pem(ca_cert))
        chain = self._write("leaf-no-ku.pem", pem(cert) + pem(ca_cert))
        keyfile = self._write("leaf-no-ku.key", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(chain, keyfile)
        return ca_file, ctx


# pproxy, with getaddrinfo taught PROXY_ONLY_HOST: the proxy resolves a name the client can't.
LAUNCH = """
import socket, sys
_real = socket.getaddrinfo
def _gai(host, *args, **kw):
    return _real("127.0.0.1" if host == %r else host, *args, **kw)
socket.getaddrinfo = _gai
from pproxy.server import main
sys.argv[0] = "pproxy"
main()
""" % PROXY_ONLY_HOST


class Proxy:
    """pproxy serving one protocol on 127.0.0.1, with a password or without."""

    def __init__(self, scheme: str = "http", auth: bool = False, password: str = PROXY_PASSWORD,
                 tls_files: Optional[Sequence[Path]] = None):
        self.scheme = scheme  # "http" or "socks5"; "https" with tls_files (cert chain, key)
        self.tls_files = tls_files
        self.auth = auth
        self.password = password
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None
        self._log = tempfile.NamedTemporaryFile(prefix="pproxy-", suffix=".log", delete=False)

    def tunnels(self) -> List[str]:
        """The ``host:port`` of each connection the proxy made for a client, in order (from
        pproxy's ``-v`` lines ``http 127.0.0.1:50212 -> 127.0.0.1:8443``)."""
        text = Path(self._log.name).read_text(errors="replace")
        return re.findall(r"^\S+ \S+ -> (\S+)$", text, re.M)

    def url(self, scheme: Optional[str] = None, credentials: Optional[str] = None) -> str:
        """The proxy URL a user writes; ``credentials`` "user:password" (default: the right
        ones when the proxy needs them)."""
        if credentials is None and self.auth:
            credentials = f"{PROXY_USER}:{quote(self.password, safe='')}"
        who = f"{credentials}@" if credentials else ""
        return f"{scheme or self.scheme}://{who}127.0.0.1:{self.port}"

    def start(self) -> "Proxy":
        listen = f"{'http+ssl' if self.scheme == 'https' else self.scheme}://127.0.0.1:{self.port}"
        if self.auth:
            listen += f"#{PROXY_USER}:{self.password}"
        # --auth 0: ask every connection for the password (pproxy remembers an IP otherwise)
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-c", LAUNCH, "-l", listen, "--auth", "0", "-v"] +
            (["--ssl", ",".join(map(str, self.tls_files))] if self.tls_files else []),
            stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("pproxy exited at start") from None
                time.sleep(0.05)
        raise RuntimeError("pproxy did not start listening")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)

    def __enter__(self) -> "Proxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
