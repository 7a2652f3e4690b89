"""The edge endpoint's settings, and TLS to a real edge served over TLS on loopback: the
certificate is verified, a pin decides before anything is sent, and nothing comes from
the environment."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quietline.clock import SystemClock
from quietline.edge import EdgeStore, create_app
from quietline.edge_client import EdgeClient, EdgeNotTrusted
from quietline.edge_endpoint import BadEdgeSettings, EdgeEndpoint, PinMismatch, edge_tls, parse_pin
from quietline.protocol.api import SystemStatus
from tests.client.edge_server import Recorder
from tests.support.certificates import EdgeCertificate, issue
from tests.support.edge_server import serve
from tests.support.organisation import Organisation
from tests.support.queues import queues_beside

EDGE = "https://edge.example.org"


@pytest.mark.parametrize(
    ("url", "proxy", "expected"),
    [
        (EDGE, "socks5://127.0.0.1:1080", "write socks5h://"),
        (EDGE, "socks4://127.0.0.1:1080", "the proxy must be socks5h://HOST:PORT"),
        (EDGE, "socks4://user:secret@127.0.0.1:1080", "the proxy must be socks5h://HOST:PORT"),
        (EDGE, "socks5h://user:secret@127.0.0.1", "SCHEME://HOST:PORT"),
        (EDGE, "socks5h://127.0.0.1", "SCHEME://HOST:PORT"),
        (EDGE, "socks5h://127.0.0.1:1080/path", "SCHEME://HOST:PORT"),
        ("http://edge.example.org", "http://127.0.0.1:8080", "must be https://"),
        ("ftp://edge.example.org", None, "must be http(s)://HOST"),
        ("edge.example.org", None, "must be http(s)://HOST"),
    ],
)
def test_settings_that_cannot_work_are_refused_with_the_reason(
    url: str, proxy: str | None, expected: str
) -> None:
    with pytest.raises(BadEdgeSettings) as refused:
        EdgeEndpoint(url, proxy)
    assert expected in str(refused.value)
    assert "secret" not in str(refused.value)


def test_every_proxy_kind_the_client_takes() -> None:
    for proxy in ("socks5h://127.0.0.1:9050", "http://127.0.0.1:8080", "https://proxy:443"):
        EdgeEndpoint(EDGE, proxy).http_client(1.0, httpx.Limits()).close()
    EdgeEndpoint("http://edge.example.org", "socks5h://user:secret@127.0.0.1:9050")


URLISH = st.one_of(
    st.text(),
    st.builds(
        "{}://{}{}".format,
        st.sampled_from(["http", "https", "socks5h", "socks5", "ftp", ""]),
        st.text(),
        st.text(),
    ),
)


@given(url=URLISH, proxy=st.none() | URLISH, pin=st.text())
def test_any_settings_make_an_endpoint_or_a_clear_refusal(
    url: str, proxy: str | None, pin: str
) -> None:
    for attempt in (lambda: EdgeEndpoint(url, proxy), lambda: parse_pin(pin)):
        with contextlib.suppress(BadEdgeSettings):
            attempt()


def test_a_pin_or_a_ca_needs_an_https_edge(tmp_path: Path) -> None:
    with pytest.raises(BadEdgeSettings, match="needs an https:// edge"):
        EdgeEndpoint("http://edge.example.org", pins=frozenset([bytes(32)]))
    with pytest.raises(BadEdgeSettings, match="needs an https:// edge"):
        EdgeEndpoint("http://edge.example.org", ca_file=tmp_path / "ca.pem")


@pytest.mark.parametrize("text", ["", "abc", "not base64!", "AAAA", "A" * 44])
def test_a_pin_is_the_base64_of_32_bytes(text: str) -> None:
    with pytest.raises(BadEdgeSettings, match="44 characters ending in '='"):
        parse_pin(text)
    assert parse_pin("A" * 43 + "=") == bytes(32)


def test_an_unreadable_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = EdgeEndpoint(EDGE, ca_file=tmp_path / "missing.pem")
    with pytest.raises(BadEdgeSettings, match="cannot read the CA file"):
        EdgeClient(missing)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(BadEdgeSettings, match="cannot read the CA file"):
        EdgeClient(EdgeEndpoint(EDGE, ca_file=garbage))


@dataclass
class TLSEdge:
    url: str
    recorder: Recorder
    certificate: EdgeCertificate


@pytest.fixture(scope="module")
def tls_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSEdge]:
    """The real edge app over TLS, with a certificate for ``localhost`` from a new CA."""
    folder = tmp_path_factory.mktemp("tls-edge")
    org = Organisation.create(datetime.now(UTC) - timedelta(hours=1))
    certificate = issue(folder / "tls", ("localhost",))
    store = EdgeStore(folder / "edge.sqlite")
    try:
        with queues_beside(store) as queues:
            recorder = Recorder(
                create_app(store, [org.anchor], SystemClock(), queues=queues.engine)
            )
            with serve(recorder, certificate) as url:
                yield TLSEdge(url, recorder, certificate)
    finally:
        store.close()


def _status(endpoint: EdgeEndpoint) -> SystemStatus:
    with EdgeClient(endpoint) as client:
        return client.status().status


def test_the_right_pin_among_others_is_accepted(tls_edge: TLSEdge) -> None:
    pins = frozenset([bytes(32), parse_pin(tls_edge.certificate.pin)])
    endpoint = EdgeEndpoint(tls_edge.url, ca_file=tls_edge.certificate.ca_file, pins=pins)
    assert _status(endpoint) == SystemStatus.NO_INFORMATION


def test_a_wrong_pin_is_refused_before_anything_is_sent(tls_edge: TLSEdge) -> None:
    tls_edge.recorder.forget()
    wrong = EdgeEndpoint(
        tls_edge.url, ca_file=tls_edge.certificate.ca_file, pins=frozenset([bytes(32)])
    )
    with pytest.raises(EdgeNotTrusted) as refused:
        _status(wrong)
    assert "the edge's public key is not a pinned one" in str(refused.value)
    assert f"it showed sha256 {tls_edge.certificate.pin}" in str(refused.value)
    assert tls_edge.recorder.settled() == []


def test_the_certificate_is_verified_whatever_the_environment(
    tls_edge: TLSEdge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CA is trusted only through --ca-file: not through the variables httpx would read
    # if it were let, nor is any proxy the environment names used.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_edge.certificate.ca_file))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:9")
    tls_edge.recorder.forget()
    with pytest.raises(EdgeNotTrusted, match="unable to get local issuer certificate"):
        _status(EdgeEndpoint(tls_edge.url))
    assert tls_edge.recorder.settled() == []
    with_ca = EdgeEndpoint(tls_edge.url, ca_file=tls_edge.certificate.ca_file)
    assert _status(with_ca) == SystemStatus.NO_INFORMATION


def test_a_certificate_for_another_name_is_refused(tls_edge: TLSEdge, tmp_path: Path) -> None:
    other = issue(tmp_path / "other", ("somewhere.example",))
    with serve(tls_edge.recorder, other) as url:
        endpoint = EdgeEndpoint(url, ca_file=other.ca_file)
        with pytest.raises(EdgeNotTrusted, match="Hostname mismatch"):
            _status(endpoint)


def _handshake_in_memory(client: ssl.SSLContext, certificate: EdgeCertificate) -> None:
    """A TLS handshake between ``client`` and a server with ``certificate`` over memory
    buffers: the TLS-inside-TLS path httpx takes to the edge through an https:// proxy."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(certificate.cert_file, certificate.key_file)
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_side = client.wrap_bio(to_client, to_server, server_hostname="localhost")
    server_side = server.wrap_bio(to_server, to_client, server_side=True)
    for _ in range(10):
        waiting = False
        for side in (server_side, client_side):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                waiting = True
        if not waiting:
            return
    raise AssertionError("the handshake did not end")


def test_the_pin_is_checked_for_tls_inside_tls_too(tls_edge: TLSEdge) -> None:
    certificate = tls_edge.certificate
    right = frozenset([parse_pin(certificate.pin)])
    _handshake_in_memory(edge_tls(certificate.ca_file, right), certificate)
    with pytest.raises(PinMismatch, match="not a pinned one"):
        _handshake_in_memory(edge_tls(certificate.ca_file, frozenset([bytes(32)])), certificate)
