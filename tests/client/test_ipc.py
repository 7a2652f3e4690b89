"""The run loop's socket: a real Unix socket served by a LinkServer, asked by a SocketLink
as ``quietline source send`` and ``inbox`` ask it; hostile lines never stop it."""

import json
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quietline.client.errors import ClientNotRunning, Conflict, QueueFull, SourceClientError
from quietline.client.handoff import MAX_WAITING, SENT, Handoff
from quietline.client.ipc import LinkServer, SocketLink
from quietline.protocol.messages import parse_u2c

VAULT = bytes(range(256)) * 4


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Handoff, SocketLink, Path]]:
    handoff = Handoff(VAULT, {"anchors": []})
    path = tmp_path / "socket"
    with LinkServer(handoff, path):
        yield handoff, SocketLink(path), path
    assert not path.exists()


def test_a_link_snapshots_stages_and_waits_through_the_socket(
    served: tuple[Handoff, SocketLink, Path],
) -> None:
    handoff, link, path = served
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    snapshot = link.snapshot()
    assert (snapshot.version, snapshot.vault, snapshot.cache) == (0, VAULT, {"anchors": []})
    message = parse_u2c(bytes(773))
    ticket = link.stage(0, VAULT[::-1], message)
    assert ticket == 1
    with pytest.raises(Conflict):
        link.stage(0, VAULT, None)
    assert handoff.snapshot().vault == VAULT[::-1]
    _, version = handoff.vault_to_write(b"")
    handoff.wrote(version)
    taken = handoff.next_message()
    assert taken is not None
    assert taken[1].data == message.data
    handoff.sent(taken[0])
    assert link.wait_sent(1, 5) == SENT


def test_a_full_queue_and_refusals_arrive_as_the_errors_they_are(
    served: tuple[Handoff, SocketLink, Path],
) -> None:
    _, link, _ = served
    for version in range(MAX_WAITING):
        link.stage(version, VAULT, parse_u2c(bytes(773)))
    with pytest.raises(QueueFull):
        link.stage(MAX_WAITING, VAULT, parse_u2c(bytes(773)))
    with pytest.raises(SourceClientError, match="refused"):
        link.stage(MAX_WAITING, b"short", None)


def test_without_a_run_loop_the_link_says_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(ClientNotRunning, match="start `quietline source run`"):
        SocketLink(tmp_path / "socket").snapshot()


def test_a_long_folder_path_still_gets_its_socket(tmp_path: Path) -> None:
    folder = tmp_path / ("deep" * 30)
    folder.mkdir()
    handoff = Handoff(VAULT, {})
    with LinkServer(handoff, folder / "socket"):
        assert SocketLink(folder / "socket").snapshot().vault == VAULT


def _ask(path: Path, line: bytes) -> dict[str, object]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(str(path))
        connection.sendall(line)
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    parsed = json.loads(answer)
    assert isinstance(parsed, dict)
    return parsed


requests = st.one_of(
    st.binary(max_size=300).map(lambda raw: raw.replace(b"\n", b" ") + b"\n"),
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["snapshot", "stage", "wait", "other", 3]),
            "base": st.one_of(st.integers(-5, 5), st.text(max_size=3), st.none()),
            "vault": st.one_of(st.text(max_size=20), st.none(), st.integers()),
            "message": st.one_of(st.none(), st.text(max_size=20), st.booleans()),
            "ticket": st.one_of(st.integers(-2, 3), st.floats(), st.none()),
            "timeout": st.one_of(st.floats(allow_nan=True), st.booleans(), st.text(max_size=3)),
        }
    ).map(lambda request: json.dumps(request).encode() + b"\n"),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(requests)
def test_any_line_gets_an_answer_and_the_server_keeps_serving(
    served: tuple[Handoff, SocketLink, Path], line: bytes
) -> None:
    handoff, link, path = served
    answer = _ask(path, line)
    assert answer["ok"] in (True, False)
    if answer["ok"] is False:
        assert answer["error"] in ("refused", "conflict", "full")
    assert link.snapshot().version == handoff.snapshot().version
