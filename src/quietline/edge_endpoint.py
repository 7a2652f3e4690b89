"""How a client reaches the edge: its URL, the proxy in between, and whom TLS trusts.

A source behind a national firewall reaches the open internet through a proxy it
already has (a VPN's local proxy, Tor's SOCKS port); the edge may sit behind a CDN
shared with its host app's ordinary traffic. :class:`EdgeEndpoint` holds those choices,
checked once when it is made, and builds the one ``httpx.Client`` that carries them.
None of them changes what reaches the edge: the same requests with the same headers, one
connection per request (:mod:`quietline.edge_client` decides those, whatever the
endpoint). Nothing is read from the environment (``HTTPS_PROXY``, ``SSL_CERT_FILE``,
``SSLKEYLOGFILE``, ``.netrc``): a client's traffic never changes with the shell it was
started from.

The edge's certificate is always verified (the public CAs of ``certifi``, the same for
every installation, or only the CA of ``ca_file``). A pin is the SHA-256 of the edge's
certificate's SubjectPublicKeyInfo, as HPKP's ``pin-sha256`` and curl's
``--pinnedpubkey sha256//...``; it is checked on the edge's own (leaf) certificate as soon
as the handshake ends, before a byte of the request is sent.
"""

from __future__ import annotations

import binascii
import hashlib
import ssl
from base64 import b64decode, b64encode
from dataclasses import dataclass
from pathlib import Path

import certifi
import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from quietline.protocol.errors import QuietlineError

# socks5h: the proxy resolves the edge's name. http/https: an HTTP proxy that CONNECTs
# to the edge and relays the TLS stream without seeing into it.
PROXY_SCHEMES = ("socks5h", "http", "https")
PIN_BYTES = 32


class BadEdgeSettings(QuietlineError):
    """The edge's URL, proxy, CA file or pin cannot be used; the message says why."""


class PinMismatch(ssl.SSLCertVerificationError):
    """The edge's certificate verified, but its public key is none of the pinned ones.

    An ``ssl`` error, so the HTTP client treats it as the failed handshake it is and
    closes the connection before anything is sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.verify_message = message


def parse_pin(text: str) -> bytes:
    """The SHA-256 digest written in ``text`` (standard base64, as ``openssl enc -base64``
    prints it); raises BadEdgeSettings for anything else."""
    try:
        digest = b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != PIN_BYTES:
        raise BadEdgeSettings(
            f"a pin is the base64 of a SHA-256 digest (44 characters ending in '='), not {text!r}"
        )
    return digest


def spki_sha256(certificate_der: bytes) -> bytes:
    """The pin of a DER certificate: SHA-256 of its SubjectPublicKeyInfo."""
    key = x509.load_der_x509_certificate(certificate_der).public_key()
    return hashlib.sha256(
        key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    ).digest()


class _EdgeTLS(ssl.SSLContext):
    """A verifying context that also checks the edge's key against ``pins`` (none: any)."""

    pins: frozenset[bytes] = frozenset()


def _check_pin(context: ssl.SSLContext, certificate_der: bytes | None) -> None:
    pins = context.pins if isinstance(context, _EdgeTLS) else frozenset()
    if not pins:
        return
    shown = spki_sha256(certificate_der) if certificate_der else b""
    if shown not in pins:
        raise PinMismatch(
            f"the edge's public key is not a pinned one (it showed sha256 "
            f"{b64encode(shown).decode() if shown else 'no certificate'})"
        )


class _PinnedSocket(ssl.SSLSocket):
    """TLS on a socket (direct, or through a SOCKS or CONNECT tunnel)."""

    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        _check_pin(self.context, self.getpeercert(binary_form=True))


class _PinnedObject(ssl.SSLObject):
    """TLS inside TLS (to the edge through an https:// proxy)."""

    def do_handshake(self) -> None:
        super().do_handshake()
        _check_pin(self.context, self.getpeercert(binary_form=True))


_EdgeTLS.sslsocket_class = _PinnedSocket
_EdgeTLS.sslobject_class = _PinnedObject


def edge_tls(ca_file: Path | None, pins: frozenset[bytes]) -> ssl.SSLContext:
    """The TLS context of a client of the edge: certificate and host name verified
    (``PROTOCOL_TLS_CLIENT``'s defaults), TLS 1.2 at least, trusting ``ca_file`` alone
    when given, else certifi's CAs, and the key checked against ``pins`` (none: any key);
    the same ClientHello with or without a pin or a CA file. Raises BadEdgeSettings when
    the CA file cannot be read."""
    context = _EdgeTLS(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.pins = pins
    try:
        context.load_verify_locations(cafile=str(ca_file) if ca_file else certifi.where())
    except (OSError, ssl.SSLError) as error:
        raise BadEdgeSettings(f"cannot read the CA file {ca_file}: {error}") from None
    return context


def _proxy_url(proxy: str, edge: httpx.URL) -> httpx.URL:
    """The proxy's URL, checked; no message repeats it, since it may hold a password."""
    try:
        url = httpx.URL(proxy)
    except httpx.InvalidURL:
        raise BadEdgeSettings("the proxy is not a URL (SCHEME://HOST:PORT)") from None
    if url.scheme == "socks5":
        raise BadEdgeSettings(
            "socks5:// means the edge's name is looked up on this device (as curl reads "
            "it), where the network can see the lookup; write socks5h:// so that the "
            "proxy looks it up"
        )
    if url.scheme not in PROXY_SCHEMES:
        raise BadEdgeSettings(
            "the proxy must be socks5h://HOST:PORT, http://HOST:PORT or https://HOST:PORT"
        )
    # httpx leaves out an http(s) port that is the scheme's default; SOCKS has none.
    no_port = url.port is None and url.scheme == "socks5h"
    if not url.host or no_port or url.path not in ("", "/") or url.query:
        raise BadEdgeSettings("the proxy must be given as SCHEME://HOST:PORT, with no path")
    if url.scheme != "socks5h" and edge.scheme != "https":
        # httpx forwards a plain-HTTP request to an HTTP proxy instead of tunnelling it:
        # the proxy would read it, and could rewrite it or add headers.
        raise BadEdgeSettings("through an HTTP proxy the edge's URL must be https://")
    return url


@dataclass(frozen=True)
class EdgeEndpoint:
    """The edge's base URL and how to reach it; raises BadEdgeSettings when made with
    settings that cannot work together."""

    url: str
    proxy: str | None = None
    ca_file: Path | None = None
    pins: frozenset[bytes] = frozenset()

    def __post_init__(self) -> None:
        edge = self._edge_url()
        if self.proxy is not None:
            _proxy_url(self.proxy, edge)
        if (self.ca_file is not None or self.pins) and edge.scheme != "https":
            raise BadEdgeSettings("a CA file or a pin needs an https:// edge")
        if any(len(pin) != PIN_BYTES for pin in self.pins):
            raise BadEdgeSettings("a pin is a SHA-256 digest of 32 bytes")

    def _edge_url(self) -> httpx.URL:
        try:
            edge = httpx.URL(self.url)
        except httpx.InvalidURL:
            raise BadEdgeSettings(f"{self.url!r} is not a URL") from None
        if edge.scheme not in ("http", "https") or not edge.host:
            raise BadEdgeSettings(f"the edge's URL must be http(s)://HOST..., not {self.url!r}")
        return edge

    def http_client(self, timeout: float, limits: httpx.Limits) -> httpx.Client:
        """An ``httpx.Client`` for the edge through the proxy, verifying as configured;
        raises BadEdgeSettings when the CA file cannot be read."""
        proxy = None
        if self.proxy is not None:
            url = _proxy_url(self.proxy, self._edge_url())
            # An https:// proxy's own certificate is checked against the public CAs: the
            # CA file and the pins are the edge's.
            tls = edge_tls(None, frozenset()) if url.scheme == "https" else None
            proxy = httpx.Proxy(url, ssl_context=tls)
        return httpx.Client(
            base_url=self.url,
            timeout=timeout,
            limits=limits,
            proxy=proxy,
            verify=edge_tls(self.ca_file, self.pins),
            trust_env=False,
        )
