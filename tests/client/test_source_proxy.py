"""``quietline source run --proxy`` as a real process, through a real local proxy process
(pproxy) to the real edge: everything goes through the proxy, the proxy resolves the
edge's name, the edge sees the same requests as without it, and TLS to the edge is
verified and pinned end to end through the tunnel."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from quietline.edge_client import CLIENT_HEADERS
from quietline.protocol.api import Direction
from tests.client.edge_server import RecordedRequest, RunningEdge, published_edge
from tests.client.source_process import source_run, wait_for
from tests.support.certificates import issue
from tests.support.organisation import Organisation
from tests.support.proxy_process import RunningProxy, running_proxy

# Real processes and servers: left out of `make check`, run by `make test`.
pytestmark = pytest.mark.slow

# Under the reserved .test domain (RFC 6761): no resolver here knows it, the proxy's does.
EDGE_NAME = "edge.quietline.test"
WRONG_PIN = "A" * 43 + "="
# What every request carries: CLIENT_HEADERS, Host, and on a send its body's two headers.
SENT_HEADERS = {name.lower().encode(): value.encode() for name, value in CLIENT_HEADERS.items()}
BODY_HEADERS = {b"content-type", b"content-length"}


@pytest.fixture
def org() -> Organisation:
    return Organisation.create(datetime.now(UTC) - timedelta(hours=1))


def _at_the_edge(edge: RunningEdge, port: int) -> str:
    """The edge's URL under the name only the proxy resolves."""
    assert httpx.URL(edge.url).port == port
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo(EDGE_NAME, port)  # this side cannot reach it without the proxy
    return f"{httpx.URL(edge.url).scheme}://{EDGE_NAME}:{port}"


def _assert_shape(requests: list[RecordedRequest], port: int) -> None:
    """Each request as every client sends it, on a connection of its own, to the name."""
    assert requests
    for request in requests:
        headers = dict(request.headers)
        assert headers.pop(b"host") == f"{EDGE_NAME}:{port}".encode()
        body = {name: headers.pop(name) for name in BODY_HEADERS if name in headers}
        assert headers == SENT_HEADERS, request
        assert set(body) == (BODY_HEADERS if request.method == "POST" else set()), request
    assert len({request.connection for request in requests}) == len(requests)


def _paths(requests: list[RecordedRequest]) -> set[tuple[str, str]]:
    return {(request.method, request.path) for request in requests}


EVERY_KIND = {
    ("POST", "/user/messages"),
    ("GET", "/v1/public-keys"),
    ("GET", "/v1/user/dead-drops"),
}


def _through_proxy(proxy: RunningProxy, protocol: str, port: int) -> int:
    """How many connections the proxy carried; each was ``protocol`` to the edge's name."""
    carried = proxy.connections()
    assert carried
    assert set(carried) == {(protocol, f"{EDGE_NAME}:{port}")}
    return len(carried)


def test_sends_and_downloads_go_only_through_a_socks5h_proxy(
    org: Organisation, tmp_path: Path
) -> None:
    names = {EDGE_NAME: "127.0.0.1"}
    with (
        published_edge(tmp_path / "edge", org) as edge,
        running_proxy(tmp_path / "proxy", names) as proxy,
    ):
        port = httpx.URL(edge.url).port
        assert port is not None
        url = _at_the_edge(edge, port)
        with source_run(url, tmp_path / "client", org, "--proxy", proxy.url("socks5h")) as run:
            wait_for("sends and downloads", lambda: _paths(edge.recorder.requests) >= EVERY_KIND)
            wait_for("three sends", lambda: edge.queues.queue_length(Direction.USER) >= 3)
        requests = edge.recorder.settled()
        _assert_shape(requests, port)
        assert _paths(requests) >= EVERY_KIND
        # Every connection the edge saw came through the proxy: one proxied connection
        # for each request, each asked by name, never an address resolved here.
        assert _through_proxy(proxy, "socks5", port) == len(requests)
    assert "(0 failed)" in run.out.splitlines()[-1]


def test_through_an_http_proxy_tls_is_verified_and_the_pin_decides(
    org: Organisation, tmp_path: Path
) -> None:
    certificate = issue(tmp_path / "tls", (EDGE_NAME, "localhost"))
    names = {EDGE_NAME: "127.0.0.1"}
    with (
        published_edge(tmp_path / "edge", org, certificate) as edge,
        running_proxy(tmp_path / "proxy", names) as proxy,
    ):
        port = httpx.URL(edge.url).port
        assert port is not None
        url = _at_the_edge(edge, port)
        assert url.startswith("https://")
        folder = tmp_path / "client"
        common = ("--proxy", proxy.url("http"), "--ca-file", str(certificate.ca_file))
        # The right pin, beside one for a future key: the client works as without a proxy.
        pins = ("--pin-sha256", WRONG_PIN, "--pin-sha256", certificate.pin)
        with source_run(url, folder, org, *common, *pins) as right:
            wait_for("sends and downloads", lambda: _paths(edge.recorder.requests) >= EVERY_KIND)
        requests = edge.recorder.settled()
        _assert_shape(requests, port)
        assert _through_proxy(proxy, "http", port) == len(requests)
        assert "(0 failed)" in right.out.splitlines()[-1]

        # A wrong pin: every request is refused once the handshake shows the key, before
        # anything is sent; the loop counts each as failed and goes on (the cached keys
        # make it try its sends too).
        before = len(proxy.connections())
        with source_run(url, folder, org, *common, "--pin-sha256", WRONG_PIN) as wrong:
            wait_for("attempts", lambda: len(proxy.connections()) >= before + 6)
        assert edge.recorder.settled() == requests
        lines = wrong.out.splitlines()
        refusal = "the edge is not trusted: the edge's public key is not a pinned one"
        assert any(f"send failed: {refusal}" in line for line in lines)
        assert any(f"key download failed: {refusal}" in line for line in lines)
        assert lines[-1].startswith("stopped after 0 sends (")
        assert "(0 failed)" not in lines[-1].split(" and ")[0]

        # Without the private CA the certificate does not verify: refused the same way.
        with source_run(url, folder, org, "--proxy", proxy.url("http")) as unverified:
            wait_for("more attempts", lambda: len(proxy.connections()) >= before + 9)
        assert edge.recorder.settled() == requests
        assert "unable to get local issuer certificate" in unverified.out


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--proxy", "socks5://127.0.0.1:1080"), "write socks5h://"),
        (("--proxy", "http://127.0.0.1:8080"), "through an HTTP proxy the edge's URL must be"),
        (("--pin-sha256", "not-a-pin"), "a pin is the base64 of a SHA-256 digest"),
        (("--ca-file", "missing.pem"), "needs an https:// edge"),
    ],
)
def test_settings_that_cannot_work_stop_run_before_it_starts(
    org: Organisation, tmp_path: Path, options: tuple[str, ...], expected: str
) -> None:
    anchor = tmp_path / "organisation.pub.json"
    anchor.write_text(json.dumps(org.anchor.to_json()))
    folder = tmp_path / "client"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "quietline", "source", "run", "--edge", "http://edge.test"),
            *("--vault", str(folder), "--anchor", str(anchor), *options),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert not folder.exists()
