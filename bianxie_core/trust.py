"""Which certificates are trusted, and the one SSL context per trust that every session shares.

Trust, in this order (see docs/network.md for why):

* the extra CA bundle from the settings is always trusted, and it wins over the environment:
  requests would otherwise let ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` replace it;
* with no extra bundle, ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` replace the default store,
  as requests documents;
* the default store is the system's (Windows, macOS Keychain, the distribution's bundle) through
  ``truststore`` where the Python allows it (3.10+), else certifi's bundle.

On Python 3.13+ the checks are as strict as ``ssl.create_default_context()`` (VERIFY_X509_STRICT),
so a CA certificate without a key-usage extension is refused; network.py's sentence says so.
"""

from __future__ import annotations

import os
import ssl
import sys
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

from bianxie_core import errors
from bianxie_core.i18n import _

BUNDLE_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
STRICT = sys.version_info >= (3, 13)  # ssl.create_default_context() sets VERIFY_X509_STRICT
_contexts: dict = {}


@dataclass(frozen=True)
class Trust:
    """Which certificates are trusted; ``describe()`` names them in error messages."""

    store: str  # "system" (truststore), "certifi", or "env" (a bundle from BUNDLE_VARS)
    extra: str = ""  # the extra CA bundle from the settings
    env_var: str = ""
    env_path: str = ""
    # the bundle files' (size, mtime): a bundle fixed in place gets a new context and session
    stamp: Tuple = ()

    def describe(self) -> str:
        if self.store == "env":
            base = _("the CA bundle {path} from {var}").format(path=self.env_path,
                                                                  var=self.env_var)
        elif self.store == "system":
            base = _("the system's certificate store")
        else:
            base = _("certifi's certificate bundle")
        if self.extra:
            return _("{store} and the extra CA bundle {path}").format(store=base, path=self.extra)
        return base


def has_truststore() -> bool:
    try:
        import truststore  # noqa: F401  (needs Python 3.10+)
    except ImportError:
        return False
    return True


def trust_for(ca_bundle: str = "", environ: Optional[Mapping[str, str]] = None) -> Trust:
    environ = os.environ if environ is None else environ
    extra = os.path.expanduser(ca_bundle.strip()) if ca_bundle else ""
    env_var = next((v for v in BUNDLE_VARS if environ.get(v, "").strip()), "")
    if env_var and not extra:
        path = environ[env_var].strip()
        return Trust("env", "", env_var, path, _stamp(path))
    return Trust("system" if has_truststore() else "certifi", extra, stamp=_stamp(extra))


def _stamp(path: str) -> Tuple:
    try:
        found = os.stat(path) if path else None
    except OSError:
        return ()
    return (found.st_size, found.st_mtime_ns, found.st_ino) if found else ()


def ssl_context(trust: Trust) -> ssl.SSLContext:
    """One context per trust, shared by every session (loading a store costs milliseconds)."""
    if trust not in _contexts:
        _contexts[trust] = _build_context(trust)
    return _contexts[trust]


def _build_context(trust: Trust) -> ssl.SSLContext:
    try:
        if trust.store == "system":
            import truststore

            ctx = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if STRICT:  # the other flag ssl.create_default_context() sets on 3.13+
                ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        elif trust.store == "env":
            folder = os.path.isdir(trust.env_path)
            ctx = ssl.create_default_context(cafile=None if folder else trust.env_path,
                                             capath=trust.env_path if folder else None)
        else:
            import certifi

            ctx = ssl.create_default_context(cafile=certifi.where())
        if STRICT:
            ctx.verify_flags |= ssl.VERIFY_X509_STRICT
        if trust.extra:
            ctx.load_verify_locations(cafile=trust.extra)
    except (OSError, ssl.SSLError) as exc:
        reason = _("it holds no PEM certificate") if isinstance(exc, ssl.SSLError) else \
            errors.os_reason(exc)
        raise errors.ConfigError(
            _("The CA bundle {path} cannot be used ({reason}): check {where}.").format(
                path=trust.extra or trust.env_path, reason=reason,
                where=_("the Extra CA bundle setting") if trust.extra else trust.env_var)
        ) from None
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
