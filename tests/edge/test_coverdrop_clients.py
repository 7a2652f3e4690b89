"""CoverDrop's own apps against a real edge (uvicorn over loopback): each request is built
as the app builds it (``tests.support.coverdrop_clients``), and what the edge queues is
the U2C the app sent."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from quietline.clock import FixedClock
from quietline.edge import EdgeStore, create_app
from quietline.protocol.encoding import b64_decode
from quietline.protocol.keys import SigningKeyPair
from quietline.protocol.messages import encrypt_cover_j2c, encrypt_cover_u2c
from tests.edge.submissions import (
    NOW,
    alice,
    covernode_keys,
    journalist_dead_drop,
    publish_keys,
    queue_form,
    user_dead_drop,
)
from tests.support.coverdrop_clients import (
    ANDROID_HEADERS,
    IOS_HEADERS,
    android_u2c_body,
    coverdrop_form,
    ios_u2c_body,
    j2c_data,
)
from tests.support.edge_server import serve
from tests.support.organisation import Organisation
from tests.support.queues import Queues


@pytest.fixture
def served(
    store: EdgeStore, queues: Queues, organization: Organisation, clock: FixedClock
) -> Iterator[httpx.Client]:
    """A client of a real edge server holding the organisation's keys."""
    app = create_app(store, [organization.anchor], clock, queues=queues.engine)
    with serve(app) as url, httpx.Client(base_url=url) as client:
        publish_keys(client, organization)
        yield client


# The edge tests' clock stands at 2026-03-01T12:00:00Z; chrono writes nanoseconds.
MADE_AT = "2026-03-01T11:59:30.250000001Z"
VALID_UNTIL = "2026-03-01T12:59:30.250000001Z"


def _pulled(
    client: httpx.Client, organization: Organisation, clock: FixedClock, queue: str = "user"
) -> list[bytes]:
    form = queue_form(organization, clock.now(), queue)
    answer = client.post("/v1/covernode/queue", json=form)
    assert answer.status_code == 200, answer.text
    return [b64_decode(message["data"]) for message in answer.json()["messages"]]


def _u2c(organization: Organisation) -> bytes:
    """A U2C with ``/`` in its base64, so the iOS encoder's escapes are exercised."""
    while True:
        data = encrypt_cover_u2c(covernode_keys(organization)).data
        if b"/" in ios_u2c_body(data):
            return data


def test_the_ios_body_is_padded_with_slashes_escaped(organization: Organisation) -> None:
    body = ios_u2c_body(_u2c(organization))
    assert len(body) > 1033
    assert b"\\/" in body
    assert body.endswith(b'="')


@pytest.mark.parametrize(
    ("app", "headers"),
    [(android_u2c_body, ANDROID_HEADERS), (ios_u2c_body, IOS_HEADERS)],
    ids=["android", "ios"],
)
def test_each_apps_message_is_queued(
    served: httpx.Client,
    organization: Organisation,
    clock: FixedClock,
    app: Callable[[bytes], bytes],
    headers: dict[str, str],
) -> None:
    u2c = _u2c(organization)

    answer = served.post("/user/messages", content=app(u2c), headers=headers)

    assert answer.status_code == 204, answer.text
    assert _pulled(served, organization, clock) == [u2c]


def test_a_chunked_message_is_read_under_the_same_cap(
    served: httpx.Client, organization: Organisation, clock: FixedClock
) -> None:
    u2c = _u2c(organization)
    body = ios_u2c_body(u2c)
    chunks = iter([body[:100], body[100:700], body[700:]])

    answer = served.post("/user/messages", content=chunks, headers=IOS_HEADERS)

    assert answer.request.headers["transfer-encoding"] == "chunked"
    assert answer.status_code == 204, answer.text
    oversized = served.post("/user/messages", content=iter([body] * 3), headers=IOS_HEADERS)
    assert oversized.status_code == 413
    assert _pulled(served, organization, clock) == [u2c]


def test_the_journalist_clients_form_is_queued(
    served: httpx.Client, organization: Organisation, clock: FixedClock
) -> None:
    j2c = encrypt_cover_j2c(covernode_keys(organization)).data
    form = coverdrop_form(j2c_data(j2c), alice(organization).identity.pair, MADE_AT, VALID_UNTIL)

    answer = served.post("/v1/journalist-messages", json=form)

    assert answer.status_code == 204, answer.text
    assert _pulled(served, organization, clock, "journalist") == [j2c]


@pytest.mark.parametrize(
    ("made_at", "valid_until", "status"),
    [
        ("2026-03-01T10:59:59Z", "2026-03-01T11:59:59Z", 400),  # past its not_valid_after
        (MADE_AT, "2026-03-01T13:00:00Z", 400),  # valid for longer than an hour
    ],
)
def test_a_journalist_form_out_of_its_time_is_refused(
    served: httpx.Client, organization: Organisation, made_at: str, valid_until: str, status: int
) -> None:
    j2c = encrypt_cover_j2c(covernode_keys(organization)).data
    form = coverdrop_form(j2c_data(j2c), alice(organization).identity.pair, made_at, valid_until)

    assert served.post("/v1/journalist-messages", json=form).status_code == status


def test_a_journalist_form_signed_by_a_provisioning_key_is_refused(
    served: httpx.Client, organization: Organisation
) -> None:
    j2c = encrypt_cover_j2c(covernode_keys(organization)).data
    provisioning = organization.journalist_provisioning.pair
    form = coverdrop_form(j2c_data(j2c), provisioning, MADE_AT, VALID_UNTIL)

    assert served.post("/v1/journalist-messages", json=form).status_code == 403


def test_dead_drops_page_as_the_apps_and_the_journalist_client_ask(
    served: httpx.Client, organization: Organisation, store: EdgeStore
) -> None:
    """The apps ask ``?ids_greater_than=N`` once per refresh (Android's
    ``CoverDropApiClient.getDeadDrops``, iOS's ``DeadDropRepository``); the journalist
    client adds ``&limit=L`` when it has one (``ApiClient::pull_journalist_dead_drops``)."""
    for _ in range(365):
        store.add_dead_drop(user_dead_drop(organization, NOW, entries=1), NOW)
    for _ in range(30):
        store.add_dead_drop(journalist_dead_drop(organization, NOW, epoch=1), NOW)

    def ids(url: str) -> list[int]:
        answer = served.get(url)
        assert answer.status_code == 200, answer.text
        return [dead_drop["id"] for dead_drop in answer.json()["dead_drops"]]

    assert ids("/v1/user/dead-drops?ids_greater_than=0") == list(range(1, 361))
    assert ids("/v1/user/dead-drops?ids_greater_than=360") == list(range(361, 366))
    assert ids("/v1/journalist/dead-drops?ids_greater_than=0") == list(range(366, 390))
    assert ids("/v1/journalist/dead-drops?ids_greater_than=0&limit=3") == [366, 367, 368]
    assert ids("/v1/journalist/dead-drops?ids_greater_than=389&limit=100") == list(range(390, 396))


def test_the_healthcheck_answers_as_coverdrops(served: httpx.Client) -> None:
    answer = served.get("/v1/healthcheck")
    assert answer.status_code == 200
    assert answer.json() == {"name": "api", "status": "ok", "commit": None, "branch": None}


def _status_form(status: str, key: SigningKeyPair) -> Any:
    """What CoverDrop's ``admin update-system-status`` posts: a
    ``PostSystemStatusEventForm`` (``common/src/api/forms/post_system_status_event.rs``)."""
    event = {"status": status, "description": f"{status} now", "timestamp": MADE_AT}
    return coverdrop_form(json.dumps({"status": event}).encode(), key, MADE_AT, VALID_UNTIL)


@pytest.mark.parametrize(
    ("status", "available"),
    [
        ("AVAILABLE", True),
        ("UNAVAILABLE", False),
        ("DEGRADED_PERFORMANCE", True),
        ("SCHEDULED_MAINTENANCE", False),
    ],
)
def test_a_status_the_organisation_signs_is_shown_to_the_apps(
    served: httpx.Client, organization: Organisation, status: str, available: bool
) -> None:
    answer = served.post("/v1/status", json=_status_form(status, organization.root.pair))

    assert answer.status_code == 204, answer.text
    shown = served.get("/v1/status").json()
    assert shown == {
        "status": status,
        "is_available": available,
        "description": f"{status} now",
        "timestamp": "2026-03-01T11:59:30.250000Z",
    }


def test_a_status_signed_by_any_other_key_is_refused(
    served: httpx.Client, organization: Organisation
) -> None:
    for key in (organization.journalist_provisioning.pair, alice(organization).identity.pair):
        answer = served.post("/v1/status", json=_status_form("UNAVAILABLE", key))
        assert answer.status_code == 403
    assert served.get("/v1/status").json()["status"] == "AVAILABLE"


def test_the_recent_summaries_list_the_newest_ten(
    served: httpx.Client, organization: Organisation, store: EdgeStore
) -> None:
    for _ in range(12):
        store.add_dead_drop(user_dead_drop(organization, NOW, entries=1), NOW)
    store.add_dead_drop(journalist_dead_drop(organization, NOW, epoch=1), NOW)

    users = served.get("/v1/user/dead-drops/recent-summary").json()
    journalists = served.get("/v1/journalist/dead-drops/recent-summary").json()

    assert [summary["id"] for summary in users] == list(range(12, 2, -1))
    assert journalists == [{"id": 13, "createdAt": "2026-03-01T12:00:00Z"}]


def test_an_available_status_is_not_shown_while_no_keys_are_published(
    store: EdgeStore, queues: Queues, organization: Organisation, clock: FixedClock
) -> None:
    app = create_app(store, [organization.anchor], clock, queues=queues.engine)
    with serve(app) as url, httpx.Client(base_url=url) as client:
        for status, shown in (("AVAILABLE", "NO_INFORMATION"), ("UNAVAILABLE", "UNAVAILABLE")):
            answer = client.post("/v1/status", json=_status_form(status, organization.root.pair))
            assert answer.status_code == 204, answer.text
            assert client.get("/v1/status").json()["status"] == shown
