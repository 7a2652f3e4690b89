"""The EdgeClient: every method round-trips through the real edge app (over Starlette's
TestClient, and over HTTP from a URL); 4xx answers raise EdgeRefused with the edge's
reason, 5xx answers and network failures raise EdgeUnavailable, and answers that are not
what the protocol says raise ProtocolError (over httpx's MockTransport); and every
request carries the same headers whatever the client was built from, wherever it runs
and whatever a server answered before."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quietline.clock import FixedClock
from quietline.edge import EdgeStore, create_app
from quietline.edge_client import CLIENT_HEADERS, EdgeClient, EdgeRefused, EdgeUnavailable
from quietline.processes import free_port
from quietline.protocol.api import (
    WITH_STATEMENTS,
    Direction,
    J2CSubmission,
    KeySubmission,
    QueuePage,
    QueuePull,
    Route,
    Status,
    SystemStatus,
)
from quietline.protocol.certificates import KeyRole
from quietline.protocol.deaddrops import DeadDrop, JournalistDeadDrop, UserDeadDrop
from quietline.protocol.encoding import b64_encode
from quietline.protocol.errors import ProtocolError, QuietlineError
from quietline.protocol.forms import SignedForm, sign_form
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.keygen import generate_messaging_key
from quietline.protocol.messages import (
    ENCRYPTED_J2C,
    ENCRYPTED_U2C,
    encrypt_cover_j2c,
    encrypt_cover_u2c,
)
from quietline.protocol.recipients import RecipientId
from quietline.protocol.roles import Revocation
from quietline.protocol.verification import verify_published_keys
from tests.edge.submissions import (
    JOURNALIST_ID,
    NOW,
    alice,
    build_organization,
    covernode_keys,
    journalist_dead_drop,
    revocation,
    unrelated_revocation,
    user_dead_drop,
)
from tests.support.edge_server import serve
from tests.support.organisation import Organisation
from tests.support.queues import Queues, queues_beside

BASE_URL = "http://edge.test"


@pytest.fixture(scope="module")
def organization() -> Organisation:
    return build_organization(NOW)


# --- what the client sends --------------------------------------------------------------


def _submissions(organization: Organisation) -> list[KeySubmission]:
    return [organization.submission(link) for link in organization.key_chain()]


def _j2c_form(organization: Organisation) -> SignedForm:
    message = encrypt_cover_j2c(covernode_keys(organization))
    return sign_form(J2CSubmission(message).to_json(), alice(organization).identity.pair, NOW)


def _pull(
    organization: Organisation, direction: Direction, *, after: int = 0, ack_through: int = 0
) -> SignedForm:
    pull = QueuePull(direction, after=after, limit=100, ack_through=ack_through)
    return sign_form(pull.to_json(), organization.covernode_identity.pair, NOW)


# Every method of the client, called with a valid argument.
Call = Callable[[EdgeClient, Organisation], object]
CALLS: dict[str, Call] = {
    "public_keys": lambda edge, _: edge.public_keys(),
    "user dead_drops": lambda edge, _: edge.dead_drops(UserDeadDrop, 0),
    "journalist dead_drops": lambda edge, _: edge.dead_drops(JournalistDeadDrop, 0),
    "status": lambda edge, _: edge.status(),
    "send_u2c": lambda edge, o: edge.send_u2c(encrypt_cover_u2c(covernode_keys(o))),
    "send_j2c": lambda edge, o: edge.send_j2c(_j2c_form(o)),
    "publish_key": lambda edge, o: edge.publish_key(_submissions(o)[0]),
    "publish_revocation": lambda edge, o: edge.publish_revocation(unrelated_revocation(o)),
    "publish_profile": lambda edge, o: edge.publish_profile(
        o.signed_profile(JOURNALIST_ID, NOW, default=True)
    ),
    "publish user dead drop": lambda edge, o: edge.publish_dead_drop(user_dead_drop(o, NOW)),
    "publish journalist dead drop": lambda edge, o: edge.publish_dead_drop(
        journalist_dead_drop(o, NOW)
    ),
    "pull user queue": lambda edge, o: edge.pull_queue(ENCRYPTED_U2C, _pull(o, Direction.USER)),
    "pull journalist queue": lambda edge, o: edge.pull_queue(
        ENCRYPTED_J2C, _pull(o, Direction.JOURNALIST)
    ),
}
# The methods that read the edge's answer (the others only need a 2xx).
READING = sorted(set(CALLS) - {"send_u2c", "send_j2c", "publish_profile", "publish_revocation"})


# --- the real edge app ------------------------------------------------------------------


@dataclass
class RecordingApp:
    """An ASGI wrapper noting the method, path and headers of every request that reaches
    the app, and adding ``response_headers`` to every answer (to play a server in front of
    the edge that sets cookies)."""

    app: ASGIApp
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    requests: list[tuple[str, str, list[tuple[str, str]]]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [
            (bytes(k).decode("latin-1"), bytes(v).decode("latin-1")) for k, v in scope["headers"]
        ]
        self.requests.append((scope["method"], scope["path"], headers))

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], *self.response_headers]}
            await send(message)

        await self.app(scope, receive, answer)


@dataclass
class Edge:
    """The real edge app over a store in a temporary folder, at a fixed clock."""

    store: EdgeStore
    queues: Queues
    app: RecordingApp

    def http_client(self, **options: Any) -> TestClient:
        return TestClient(self.app, **options)


@pytest.fixture
def edge(tmp_path: Path, organization: Organisation) -> Iterator[Edge]:
    store = EdgeStore(tmp_path / "edge.sqlite3")
    try:
        with queues_beside(store) as queues:
            app = create_app(store, [organization.anchor], FixedClock(NOW), queues=queues.engine)
            yield Edge(store, queues, RecordingApp(app))
    finally:
        store.close()


@pytest.fixture
def raw(edge: Edge) -> Iterator[TestClient]:
    """A plain TestClient of the edge, to see what the app itself answers."""
    with edge.http_client() as client:
        yield client


@pytest.fixture
def client(edge: Edge) -> Iterator[EdgeClient]:
    """An EdgeClient over a TestClient of the edge."""
    with EdgeClient(edge.http_client()) as edge_client:
        yield edge_client


@pytest.fixture
def published(client: EdgeClient, organization: Organisation) -> EdgeClient:
    """The client of an edge with every key and Alice's profile published."""
    organization.publish(client, NOW)
    return client


# --- round trips through the real app ---------------------------------------------------


def test_status_follows_the_published_keys(client: EdgeClient, organization: Organisation) -> None:
    before = client.status()
    assert before == Status(SystemStatus.NO_INFORMATION, before.description, NOW)
    assert before.is_available is False
    organization.publish(client, NOW)
    after = client.status()
    assert after.status is SystemStatus.AVAILABLE
    assert after.is_available is True
    assert after.timestamp == NOW


def test_keys_get_epochs_and_come_back_verifiable(
    client: EdgeClient, organization: Organisation
) -> None:
    submissions = _submissions(organization)
    assert [client.publish_key(submission) for submission in submissions] == [1, 2, 3, 4, 5, 6]
    assert client.publish_key(submissions[2]) == 3  # the same key keeps its epoch

    published = client.public_keys()
    assert published.max_epoch == 6
    verification = verify_published_keys(published, [organization.anchor], NOW)
    assert verification.rejected == ()
    assert len(verification.verified.keys) == 7
    assert verification.verified.journalist_messaging_key(JOURNALIST_ID) == (
        alice(organization).messaging.pair.public
    )


def test_profiles_come_back_with_the_default(
    client: EdgeClient, organization: Organisation
) -> None:
    for submission in _submissions(organization):
        client.publish_key(submission)
    client.publish_profile(organization.signed_profile(JOURNALIST_ID, NOW, default=True))
    published = client.public_keys()
    assert published.profiles == (alice(organization).profile,)
    assert published.default_journalist_id == JOURNALIST_ID
    client.publish_profile(organization.signed_profile(JOURNALIST_ID, NOW, default=False))
    assert client.public_keys().default_journalist_id is None


def test_a_u2c_sent_is_pulled_typed_and_acknowledged(
    published: EdgeClient, organization: Organisation
) -> None:
    sent = [encrypt_cover_u2c(covernode_keys(organization)) for _ in range(3)]
    for message in sent:
        published.send_u2c(message)
    page = published.pull_queue(ENCRYPTED_U2C, _pull(organization, Direction.USER))
    assert [(item.seq, item.message) for item in page.messages] == list(enumerate(sent, 1))
    after = published.pull_queue(ENCRYPTED_U2C, _pull(organization, Direction.USER, after=2))
    assert [item.seq for item in after.messages] == [3]
    acknowledged = _pull(organization, Direction.USER, ack_through=2)
    assert [item.seq for item in published.pull_queue(ENCRYPTED_U2C, acknowledged).messages] == [3]
    empty = published.pull_queue(ENCRYPTED_J2C, _pull(organization, Direction.JOURNALIST))
    assert empty.messages == ()


def test_a_j2c_sent_is_pulled_from_the_journalist_queue(
    published: EdgeClient, organization: Organisation
) -> None:
    form = _j2c_form(organization)
    published.send_j2c(form)
    page = published.pull_queue(ENCRYPTED_J2C, _pull(organization, Direction.JOURNALIST))
    (item,) = page.messages
    assert item.seq == 1
    assert item.message == J2CSubmission.from_json(json.loads(form.body)).message


def test_dead_drops_are_published_once_and_read_back_typed(
    published: EdgeClient, organization: Organisation
) -> None:
    user = user_dead_drop(organization, NOW)
    journalist = journalist_dead_drop(organization, NOW, epoch=6)
    assert published.publish_dead_drop(user) == 1
    assert published.publish_dead_drop(user) == 1
    assert published.publish_dead_drop(journalist) == 2
    assert published.dead_drops(UserDeadDrop, 0) == [DeadDrop(1, user)]
    assert published.dead_drops(UserDeadDrop, 1) == []
    (served,) = published.dead_drops(JournalistDeadDrop, 0)
    assert served == DeadDrop(2, journalist)
    assert served.body.epoch == 6


def test_public_keys_come_with_the_statements_and_verify_as_quietline_requires(
    published: EdgeClient, raw: TestClient, organization: Organisation
) -> None:
    document = published.public_keys()
    assert set(document.statements.roles) == set(organization.role_statements().roles)
    assert verify_published_keys(document, [organization.anchor], NOW).rejected == ()
    # What CoverDrop's apps are served instead: no statements, so no provisioning key is
    # bound to a realm for a Quietline reader.
    plain = PublishedKeys.from_json(raw.get(Route.PUBLIC_KEYS).json())
    assert not plain.statements
    strict = verify_published_keys(plain, [organization.anchor], NOW)
    assert [key.role for key in strict.verified.keys] == [KeyRole.ORGANIZATION]


def test_a_revocation_published_comes_back_and_takes_its_key(
    published: EdgeClient, organization: Organisation
) -> None:
    identity = alice(organization).identity.published.key
    revoked = revocation(organization, identity)

    published.publish_revocation(revoked)
    published.publish_revocation(revoked)  # again: harmless

    document = published.public_keys()
    assert document.statements.revocations == (revoked,)
    verification = verify_published_keys(document, [organization.anchor], NOW)
    assert verification.rejected == ()
    assert identity not in {key.key for key in verification.verified.keys}
    with pytest.raises(EdgeRefused) as refused:
        published.send_j2c(_j2c_form(organization))
    assert refused.value.status == 403


def test_public_keys_asks_for_the_statements(organization: Organisation) -> None:
    asked: list[dict[str, str]] = []
    document = organization.published_keys()

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(dict(request.url.params))
        return _json(document.to_json())(request)

    with _mock(answer) as client:
        assert client.public_keys() == document
    assert asked == [WITH_STATEMENTS]


def test_closing_the_client_closes_its_http_client(edge: Edge) -> None:
    http = edge.http_client()
    with EdgeClient(http) as client:
        client.status()
    assert http.is_closed


# --- 4xx: EdgeRefused with the edge's own reason ----------------------------------------


def _other_owner(organization: Organisation) -> KeySubmission:
    identity = alice(organization).identity
    return KeySubmission(
        KeyRole.JOURNALIST_ID,
        RecipientId("bob"),
        organization.journalist_provisioning.published.key,
        identity.published,
    )


def _unknown_parent(organization: Organisation) -> KeySubmission:
    key = generate_messaging_key(KeyRole.JOURNALIST_MSG, alice(organization).identity, NOW)
    return KeySubmission(key.role, JOURNALIST_ID, bytes(32), key.published)


def _forged_revocation(organization: Organisation) -> Revocation:
    # The journalist provisioning key is in the hierarchy, but it is no anchor.
    key = alice(organization).identity.published.key
    return Revocation.sign(organization.journalist_provisioning.pair, key, NOW)


@dataclass(frozen=True)
class Refused:
    """A call the edge refuses, and the raw request that gets the same answer."""

    call: Call
    method: str
    path: str
    body: Callable[[Organisation], Any]
    status: int


REFUSALS: dict[str, Refused] = {
    "dead drops after a negative id": Refused(
        lambda edge, _: edge.dead_drops(UserDeadDrop, -1),
        "GET",
        f"{Route.USER_DEAD_DROPS}?ids_greater_than=-1",
        lambda _: None,
        400,
    ),
    "a key under an unknown parent": Refused(
        lambda edge, o: edge.publish_key(_unknown_parent(o)),
        "POST",
        Route.KEYS,
        lambda o: _unknown_parent(o).to_json(),
        403,
    ),
    "a stored key for another owner": Refused(
        lambda edge, o: edge.publish_key(_other_owner(o)),
        "POST",
        Route.KEYS,
        lambda o: _other_owner(o).to_json(),
        409,
    ),
    "a stale profile": Refused(
        lambda edge, o: edge.publish_profile(
            o.signed_profile(JOURNALIST_ID, NOW - timedelta(hours=1), default=True)
        ),
        "POST",
        Route.JOURNALIST_PROFILES,
        lambda o: o.signed_profile(JOURNALIST_ID, NOW - timedelta(hours=1), default=True).to_json(),
        400,
    ),
    "a queue pull by a journalist": Refused(
        lambda edge, o: edge.pull_queue(
            ENCRYPTED_U2C,
            sign_form(QueuePull(Direction.USER, 0, 1, 0).to_json(), alice(o).identity.pair, NOW),
        ),
        "POST",
        Route.COVERNODE_QUEUE,
        lambda o: sign_form(
            QueuePull(Direction.USER, 0, 1, 0).to_json(), alice(o).identity.pair, NOW
        ).to_json(),
        403,
    ),
    "a revocation not signed by the organisation key": Refused(
        lambda edge, o: edge.publish_revocation(_forged_revocation(o)),
        "POST",
        Route.REVOCATIONS,
        lambda o: _forged_revocation(o).to_json(),
        403,
    ),
    "a dead drop from a future epoch": Refused(
        lambda edge, o: edge.publish_dead_drop(journalist_dead_drop(o, NOW, epoch=99)),
        "POST",
        Route.JOURNALIST_DEAD_DROPS,
        lambda o: journalist_dead_drop(o, NOW, epoch=99).to_json(),
        400,
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_a_refusal_raises_edge_refused_with_the_edges_reason(
    published: EdgeClient, raw: TestClient, organization: Organisation, name: str
) -> None:
    refusal = REFUSALS[name]
    with pytest.raises(EdgeRefused) as refused:
        refusal.call(published, organization)
    answer = raw.request(refusal.method, refusal.path, json=refusal.body(organization))
    assert answer.status_code == refusal.status
    assert refused.value.status == refusal.status
    assert refused.value.reason == answer.json()["error"]
    assert isinstance(refused.value, QuietlineError)
    assert refused.value.message == (
        f"edge refused the request ({refusal.status}): {refused.value.reason}"
    )


def test_a_j2c_to_an_edge_without_keys_is_refused(
    client: EdgeClient, organization: Organisation
) -> None:
    with pytest.raises(EdgeRefused) as refused:
        client.send_j2c(_j2c_form(organization))
    assert refused.value.status == 403
    assert refused.value.reason == "the form is signed by a key not allowed to send it"


# --- failures, over a MockTransport -----------------------------------------------------


def _mock(answer: Callable[[httpx.Request], httpx.Response]) -> EdgeClient:
    return EdgeClient(httpx.Client(transport=httpx.MockTransport(answer), base_url=BASE_URL))


def _answer(status: int, content: bytes = b"", **headers: str) -> Callable[..., httpx.Response]:
    return lambda request: httpx.Response(status, content=content, headers=headers)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"error": "what the edge said"}', "what the edge said"),
        (b"<html>Not Found</html>", "no reason given"),
        (b'{"detail": "not ours"}', "no reason given"),
        (b'{"error": 7}', "no reason given"),
    ],
)
@pytest.mark.parametrize("status", [400, 404, 409, 413, 429])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_4xx_raises_edge_refused(
    organization: Organisation, name: str, status: int, content: bytes, reason: str
) -> None:
    with _mock(_answer(status, content)) as client, pytest.raises(EdgeRefused) as refused:
        CALLS[name](client, organization)
    assert (refused.value.status, refused.value.reason) == (status, reason)


def _raise(error: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        raise error

    return answer


FAILURES: dict[str, Callable[[httpx.Request], httpx.Response]] = {
    "500 with a reason": _answer(500, b'{"error": "the edge failed"}'),
    "502 from a proxy": _answer(502, b"<html>Bad Gateway</html>"),
    "503 busy": _answer(503, b'{"error": "the edge\'s store is busy; try again"}'),
    "504 without a body": _answer(504),
    "302 to elsewhere": _answer(302, location="https://elsewhere.example/"),
    "connection refused": _raise(httpx.ConnectError("refused")),
    "read timeout": _raise(httpx.ReadTimeout("slow")),
    "connection dropped": _raise(httpx.RemoteProtocolError("closed mid-answer")),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("name", sorted(CALLS))
def test_5xx_and_network_failures_raise_edge_unavailable(
    organization: Organisation, name: str, failure: str
) -> None:
    with _mock(FAILURES[failure]) as client, pytest.raises(EdgeUnavailable):
        CALLS[name](client, organization)


def test_an_edge_nobody_listens_on_is_unavailable(organization: Organisation) -> None:
    with EdgeClient(f"http://127.0.0.1:{free_port()}", timeout=5) as client:
        for call in CALLS.values():
            with pytest.raises(EdgeUnavailable):
                call(client, organization)


def test_a_failing_real_edge_is_unavailable(
    edge: Edge, organization: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fail(direction: Direction, data: bytes) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(edge.queues.engine, "enqueue", fail)
    http = edge.http_client(raise_server_exceptions=False)
    with EdgeClient(http) as client, pytest.raises(EdgeUnavailable):
        client.send_u2c(encrypt_cover_u2c(covernode_keys(organization)))


def _json(document: object) -> Callable[[httpx.Request], httpx.Response]:
    return _answer(200, json.dumps(document).encode(), **{"Content-Type": "application/json"})


def _queue(items: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    return _json({"messages": items})


def _u2c_data(size: int = ENCRYPTED_U2C.size) -> str:
    return b64_encode(bytes(size))


def _j2c_data(size: int = ENCRYPTED_J2C.size) -> str:
    return b64_encode(bytes(size))


def _dead_drop_list(organization: Organisation, **changes: Any) -> dict[str, Any]:
    body = user_dead_drop(organization, NOW).published(1).to_json()
    return {"dead_drops": [{**body, **changes}]}


def _status(**changes: Any) -> dict[str, Any]:
    return {**Status(SystemStatus.AVAILABLE, "fine", NOW).to_json(), **changes}


# What a reading method gets back that the protocol does not allow.
NOT_PROTOCOL: dict[
    str, list[Callable[[Organisation], Callable[[httpx.Request], httpx.Response]]]
] = {
    "public_keys": [
        lambda o: _json({"keys": 3}),
        lambda o: _json([]),
        lambda o: _json(o.published_keys().to_json() | {"max_epoch": -1}),
        lambda o: _json(o.published_keys().to_json() | {"quietline": {"roles": [{"key": "00"}]}}),
        lambda o: _json(o.published_keys().to_json() | {"quietline": []}),
    ],
    "user dead_drops": [
        lambda o: _json({"dead_drops": {}}),
        lambda o: _json(_dead_drop_list(o, data=b64_encode(bytes(552)))),
        lambda o: _json(_dead_drop_list(o, id=-1)),
        lambda o: _json(_dead_drop_list(o, signature="00")),
    ],
    "journalist dead_drops": [
        lambda o: _json({"dead_drops": None}),
        lambda o: _json(_dead_drop_list(o)),  # user entries and no epoch
    ],
    "status": [
        lambda o: _json(_status(is_available=False)),
        lambda o: _json(_status(status="FINE")),
        lambda o: _json(_status(timestamp="yesterday")),
        lambda o: _json("AVAILABLE"),
    ],
    "publish_key": [
        lambda o: _json({"epoch": "1"}),
        lambda o: _json({"epoch": True}),
        lambda o: _json({"epoch": -1}),
        lambda o: _json({"id": 1}),
    ],
    "publish user dead drop": [
        lambda o: _json({"id": -1}),
        lambda o: _json({"id": 1.5}),
        lambda o: _json({}),
    ],
    "publish journalist dead drop": [
        lambda o: _json({"epoch": 1}),
        lambda o: _json([1]),
    ],
    "pull user queue": [
        lambda o: _queue([{"seq": 2, "data": _u2c_data()}, {"seq": 1, "data": _u2c_data()}]),
        lambda o: _queue([{"seq": 1, "data": _u2c_data()}, {"seq": 1, "data": _u2c_data()}]),
        lambda o: _queue([{"seq": 0, "data": _u2c_data()}]),
        lambda o: _queue([{"seq": 2**63, "data": _u2c_data()}]),
        lambda o: _queue([{"seq": True, "data": _u2c_data()}]),
        lambda o: _json({"messages": "none"}),
    ],
    "pull journalist queue": [
        lambda o: _queue([{"seq": -1, "data": _j2c_data()}]),
        lambda o: _queue([{"seq": 1.0, "data": _j2c_data()}]),
    ],
}
# Entries with a good seq whose data is not a submission of the queue's kind.
NOT_SUBMISSIONS: dict[str, list[object]] = {
    "pull user queue": [_u2c_data(772), _j2c_data(), "!!", None, 5],
    "pull journalist queue": [_u2c_data(), _j2c_data(729), "!!"],
}
NOT_JSON = [b"", b"<html>ok</html>", b"\xff\xfe", b'{"epoch": 1']


@pytest.mark.parametrize("content", NOT_JSON)
@pytest.mark.parametrize("name", READING)
def test_an_answer_that_is_not_json_raises_protocol_error(
    organization: Organisation, name: str, content: bytes
) -> None:
    with _mock(_answer(200, content)) as client, pytest.raises(ProtocolError):
        CALLS[name](client, organization)


@pytest.mark.parametrize(
    ("name", "index"),
    [(name, index) for name, answers in NOT_PROTOCOL.items() for index in range(len(answers))],
)
def test_an_answer_of_the_wrong_shape_raises_protocol_error(
    organization: Organisation, name: str, index: int
) -> None:
    answer = NOT_PROTOCOL[name][index](organization)
    with _mock(answer) as client, pytest.raises(ProtocolError):
        CALLS[name](client, organization)


@pytest.mark.parametrize(
    ("name", "data"), [(name, data) for name, items in NOT_SUBMISSIONS.items() for data in items]
)
def test_a_queue_entry_that_is_not_a_submission_is_passed_as_unreadable(
    organization: Organisation, name: str, data: object
) -> None:
    # The mixer counts it unreadable and reads on, rather than stalling on the page.
    good = _u2c_data() if name == "pull user queue" else _j2c_data()
    answer = _queue([{"seq": 4, "data": data}, {"seq": 6, "data": good}])
    with _mock(answer) as client:
        page = CALLS[name](client, organization)
    assert isinstance(page, QueuePage)
    assert page.unreadable == (4,)
    assert [item.seq for item in page.messages] == [6]


def test_every_reading_method_is_checked_for_its_shape() -> None:
    assert set(NOT_PROTOCOL) == set(READING)


# --- the same headers whatever the environment ------------------------------------------

CONTENT_HEADERS = {"content-length", "content-type"}
FIXED = {name.lower(): value for name, value in CLIENT_HEADERS.items()}


def _call_everything(client: EdgeClient, organization: Organisation) -> None:
    """Every method once, in an order the edge accepts."""
    for submission in _submissions(organization):
        client.publish_key(submission)
    for name in sorted(CALLS):
        CALLS[name](client, organization)


def _assert_fixed_headers(requests: list[tuple[str, str, list[tuple[str, str]]]]) -> None:
    assert requests
    for method, path, headers in requests:
        names = [name for name, _ in headers]
        assert len(names) == len(set(names)), (method, path, headers)
        sent = dict(headers)
        extra = CONTENT_HEADERS if method == "POST" else set()
        assert set(sent) == {"host"} | set(FIXED) | extra, (method, path, headers)
        assert {name: sent[name] for name in FIXED} == FIXED


def test_an_injected_client_sends_only_the_fixed_headers(
    edge: Edge, organization: Organisation
) -> None:
    # A TestClient comes with headers of its own (user-agent: testclient, httpx's
    # defaults); a caller's client may carry more, and cookies.
    http = edge.http_client(headers={"X-Trace": "caller-7f3a9c"}, cookies={"session": "7f3a9c"})
    with EdgeClient(http) as client:
        _call_everything(client, organization)
    _assert_fixed_headers(edge.app.requests)


def test_a_client_built_from_a_url_sends_only_the_fixed_headers(
    edge: Edge, organization: Organisation
) -> None:
    with serve(edge.app) as url, EdgeClient(url) as client:
        _call_everything(client, organization)
    _assert_fixed_headers(edge.app.requests)


def test_cookies_set_by_a_server_are_never_sent_back(
    edge: Edge, organization: Organisation
) -> None:
    # A CDN or proxy in front of the edge could hand each client its own cookie.
    edge.app.response_headers.append((b"set-cookie", b"tracker=7f3a9c; Path=/"))
    with EdgeClient(edge.http_client()) as client:
        _call_everything(client, organization)
    with serve(edge.app) as url, EdgeClient(url) as client:
        _call_everything(client, organization)
    _assert_fixed_headers(edge.app.requests)


def test_the_headers_do_not_depend_on_what_httpx_can_decode(
    edge: Edge, organization: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    # httpx asks for br and zstd when brotli or zstandard happen to be installed.
    monkeypatch.setattr(httpx._client, "ACCEPT_ENCODING", "gzip, deflate, br, zstd")
    with serve(edge.app) as url, EdgeClient(url) as client:
        _call_everything(client, organization)
    with EdgeClient(edge.http_client()) as client:
        _call_everything(client, organization)
    _assert_fixed_headers(edge.app.requests)


def test_every_method_uses_its_route(organization: Organisation) -> None:
    seen: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        return httpx.Response(599)

    with _mock(answer) as client:
        for name in sorted(CALLS):
            with pytest.raises(EdgeUnavailable):
                CALLS[name](client, organization)
    assert dict(zip(sorted(CALLS), seen, strict=True)) == {
        "journalist dead_drops": ("GET", Route.JOURNALIST_DEAD_DROPS),
        "public_keys": ("GET", Route.PUBLIC_KEYS),
        "publish journalist dead drop": ("POST", Route.JOURNALIST_DEAD_DROPS),
        "publish user dead drop": ("POST", Route.USER_DEAD_DROPS),
        "publish_key": ("POST", Route.KEYS),
        "publish_revocation": ("POST", Route.REVOCATIONS),
        "publish_profile": ("POST", Route.JOURNALIST_PROFILES),
        "pull journalist queue": ("POST", Route.COVERNODE_QUEUE),
        "pull user queue": ("POST", Route.COVERNODE_QUEUE),
        "send_j2c": ("POST", Route.JOURNALIST_MESSAGES),
        "send_u2c": ("POST", Route.USER_MESSAGES),
        "status": ("GET", Route.STATUS),
        "user dead_drops": ("GET", Route.USER_DEAD_DROPS),
    }


def test_an_answer_longer_than_the_cap_is_refused_unread() -> None:
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        for _ in range(1000):
            sent.append(1)
            yield b" " * 1024

    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    transport = httpx.MockTransport(answer)
    with (
        EdgeClient(
            httpx.Client(transport=transport, base_url=BASE_URL), max_answer_bytes=4096
        ) as client,
        pytest.raises(ProtocolError, match="longer than 4096 bytes"),
    ):
        client.status()
    assert len(sent) < 10  # stopped reading soon after the cap
