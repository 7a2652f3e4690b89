"""Every route of docs/api.md on the real app, driven with keys made by keygen."""

from __future__ import annotations

from datetime import timedelta

from starlette.testclient import TestClient

from quietline.clock import FixedClock
from quietline.edge import EdgeStore
from quietline.protocol.api import DEAD_DROP_LIMIT, U2C_BODY_LEN, WITH_STATEMENTS, Route
from quietline.protocol.certificates import KeyRole
from quietline.protocol.constants import J2C_ENCRYPTED_LEN, U2C_ENCRYPTED_LEN
from quietline.protocol.deaddrops import (
    DeadDropKind,
    JournalistDeadDrop,
    UserDeadDrop,
    parse_dead_drop_list,
)
from quietline.protocol.encoding import b64_decode, format_rfc3339
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.verification import verify_published_keys
from tests.edge.submissions import (
    JOURNALIST_ID,
    JSON,
    NOW,
    alice,
    j2c_form,
    journalist_dead_drop,
    key_submissions,
    profile_form,
    queue_form,
    u2c_body,
    user_dead_drop,
)
from tests.support.organisation import Organisation


def _verify(client: TestClient, organization: Organisation, clock: FixedClock) -> PublishedKeys:
    """The document a Quietline reader asks for (with the statements), verified as it
    verifies it: nothing may be rejected."""
    response = client.get("/v1/public-keys", params=WITH_STATEMENTS)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=60"
    published = PublishedKeys.from_json(response.json())
    verification = verify_published_keys(published, [organization.anchor], clock.now())
    assert verification.rejected == ()
    return published


def test_an_empty_edge_publishes_just_the_anchor(
    client: TestClient, organization: Organisation, clock: FixedClock
) -> None:
    published = _verify(client, organization, clock)
    assert published.max_epoch == 0
    assert published.profiles == ()
    assert published.default_journalist_id is None
    (family,) = published.families
    assert family.organization == organization.anchor
    assert family.covernodes == family.journalists == ()


def test_posted_keys_get_epochs_and_are_published_verifiably(
    client: TestClient, organization: Organisation, clock: FixedClock
) -> None:
    epochs = [
        client.post("/v1/keys", json=body).json()["epoch"] for body in key_submissions(organization)
    ]
    assert epochs == [1, 2, 3, 4, 5, 6]
    again = client.post("/v1/keys", json=key_submissions(organization)[2])
    assert again.status_code == 200
    assert again.json() == {"epoch": 3}

    published = _verify(client, organization, clock)
    assert published.max_epoch == 6
    verified = verify_published_keys(published, [organization.anchor], clock.now()).verified
    assert len(verified.keys) == 7
    assert verified.journalist_messaging_key(JOURNALIST_ID) == (
        alice(organization).messaging.pair.public
    )
    assert verified.covernode_wrapping_keys() == [organization.covernode_messaging.pair.public] * 2


def test_the_plain_document_is_coverdrops_and_the_query_adds_the_statements(
    edge: TestClient, organization: Organisation, clock: FixedClock
) -> None:
    plain = edge.get("/v1/public-keys").json()
    # CoverDrop's apps parse this document refusing unknown fields.
    assert set(plain) == {"journalist_profiles", "default_journalist_id", "keys", "max_epoch"}
    extended = edge.get("/v1/public-keys?quietline=1").json()
    assert extended == plain | {"quietline": extended["quietline"]}
    statements = PublishedKeys.from_json(extended).statements
    assert set(statements.roles) == set(organization.role_statements().roles)
    assert statements.revocations == ()
    assert edge.get("/v1/public-keys?quietline=0").json() == plain
    # Without the statements a Quietline reader trusts no provisioning key; with
    # CoverDrop's rules the plain document verifies as CoverDrop's apps see it.
    published = PublishedKeys.from_json(plain)
    strict = verify_published_keys(published, [organization.anchor], clock.now())
    assert [key.role for key in strict.verified.keys] == [KeyRole.ORGANIZATION]
    coverdrop = verify_published_keys(
        published, [organization.anchor], clock.now(), require_roles=False
    )
    assert coverdrop.rejected == ()
    assert len(coverdrop.verified.keys) == 7


def test_profiles_are_published_with_the_default(
    edge: TestClient, organization: Organisation, clock: FixedClock
) -> None:
    published = _verify(edge, organization, clock)
    assert [p.id for p in published.profiles] == [JOURNALIST_ID]
    assert published.default_journalist_id == JOURNALIST_ID
    verified = verify_published_keys(published, [organization.anchor], clock.now()).verified
    assert verified.default_journalist_id == JOURNALIST_ID


def test_expired_keys_leave_the_published_document_which_still_verifies(
    edge: TestClient, organization: Organisation, clock: FixedClock
) -> None:
    clock.advance(timedelta(weeks=2, seconds=1))  # both messaging keys expire
    published = _verify(edge, organization, clock)
    roles = {
        k.role
        for k in verify_published_keys(published, [organization.anchor], clock.now()).verified.keys
    }
    assert KeyRole.COVERNODE_MSG not in roles
    assert KeyRole.JOURNALIST_MSG not in roles
    assert KeyRole.COVERNODE_ID in roles
    assert published.max_epoch == 6


def test_status_follows_the_messaging_keys(
    client: TestClient, organization: Organisation, clock: FixedClock
) -> None:
    before = client.get("/v1/status")
    assert before.headers["cache-control"] == "public, max-age=30"
    assert before.json()["status"] == "NO_INFORMATION"
    assert before.json()["is_available"] is False
    for body in key_submissions(organization):
        client.post("/v1/keys", json=body)
    after = client.get("/v1/status").json()
    assert after == {
        "status": "AVAILABLE",
        "is_available": True,
        "description": after["description"],
        "timestamp": format_rfc3339(NOW),
    }
    clock.advance(timedelta(weeks=2, seconds=1))
    assert client.get("/v1/status").json()["is_available"] is False


def test_a_u2c_is_queued_and_pulled_by_the_covernode(
    edge: TestClient, organization: Organisation, clock: FixedClock
) -> None:
    body = u2c_body(organization)
    assert len(body) == U2C_BODY_LEN == 1033
    response = edge.post("/user/messages", content=body, headers=JSON)
    assert response.status_code == 204
    pulled = edge.post("/v1/covernode/queue", json=queue_form(organization, clock.now()))
    assert pulled.status_code == 200
    (message,) = pulled.json()["messages"]
    assert message["seq"] == 1
    assert b64_decode(message["data"]) == b64_decode(body.decode()[1:-1])
    assert len(b64_decode(message["data"])) == U2C_ENCRYPTED_LEN


def test_a_j2c_is_queued_in_the_journalist_queue(
    edge: TestClient, organization: Organisation, clock: FixedClock
) -> None:
    response = edge.post("/v1/journalist-messages", json=j2c_form(organization, clock.now()))
    assert response.status_code == 204, response.text
    users = edge.post("/v1/covernode/queue", json=queue_form(organization, clock.now()))
    assert users.json() == {"messages": []}
    journalists = edge.post(
        "/v1/covernode/queue", json=queue_form(organization, clock.now(), "journalist")
    )
    (message,) = journalists.json()["messages"]
    assert len(b64_decode(message["data"])) == J2C_ENCRYPTED_LEN


def test_the_queue_returns_after_and_limit_and_deletes_through_ack(
    edge: TestClient, organization: Organisation, clock: FixedClock, store: EdgeStore
) -> None:
    for _ in range(5):
        edge.post("/user/messages", content=u2c_body(organization), headers=JSON)

    def pull(after: int, limit: int, ack_through: int) -> list[int]:
        form = queue_form(
            organization, clock.now(), after=after, limit=limit, ack_through=ack_through
        )
        response = edge.post("/v1/covernode/queue", json=form)
        assert response.status_code == 200
        return [m["seq"] for m in response.json()["messages"]]

    assert pull(0, 2, 0) == [1, 2]
    assert pull(2, 10, 0) == [3, 4, 5]
    assert pull(3, 10, 3) == [4, 5]
    assert pull(0, 10, 0) == [4, 5]  # 1 to 3 were acknowledged and deleted
    assert pull(5, 10, 5) == []


def test_dead_drops_are_posted_once_and_served_in_order(
    edge: TestClient, organization: Organisation, clock: FixedClock
) -> None:
    first = user_dead_drop(organization, clock.now())
    second = user_dead_drop(organization, clock.now())
    assert edge.post("/v1/user/dead-drops", json=first.to_json()).json() == {"id": 1}
    assert edge.post("/v1/user/dead-drops", json=first.to_json()).json() == {"id": 1}
    assert edge.post("/v1/user/dead-drops", json=second.to_json()).json() == {"id": 2}

    response = edge.get("/v1/user/dead-drops", params={"ids_greater_than": 0})
    assert response.headers["cache-control"] == "public, max-age=60"
    served = parse_dead_drop_list(UserDeadDrop, response.json())
    assert [(d.id, d.body) for d in served] == [(1, first), (2, second)]
    assert set(response.json()["dead_drops"][0]) == {"id", "created_at", "data", "signature"}
    later = edge.get("/v1/user/dead-drops?ids_greater_than=1").json()
    assert [d["id"] for d in later["dead_drops"]] == [2]
    assert edge.get("/v1/user/dead-drops").json() == response.json()
    assert edge.get("/v1/journalist/dead-drops").json() == {"dead_drops": []}


def test_journalist_dead_drops_carry_their_epoch(
    edge: TestClient, organization: Organisation, clock: FixedClock
) -> None:
    body = journalist_dead_drop(organization, clock.now(), epoch=6)
    assert edge.post("/v1/journalist/dead-drops", json=body.to_json()).json() == {"id": 1}
    response = edge.get("/v1/journalist/dead-drops?ids_greater_than=0").json()
    (served,) = parse_dead_drop_list(JournalistDeadDrop, response)
    assert served.body == body
    assert response["dead_drops"][0]["epoch"] == 6


def test_dead_drop_reads_are_paged_by_limit_with_coverdrops_defaults(
    edge: TestClient, organization: Organisation, store: EdgeStore
) -> None:
    def ids(kind: str, **query: str | int) -> list[int]:
        response = edge.get(f"/v1/{kind}/dead-drops", params=query)
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()["dead_drops"]]

    for _ in range(DEAD_DROP_LIMIT[DeadDropKind.JOURNALIST] + 6):  # ids 1 to 30
        store.add_dead_drop(journalist_dead_drop(organization, NOW, epoch=1), NOW)
    for _ in range(DEAD_DROP_LIMIT[DeadDropKind.USER] + 5):  # ids 31 to 395
        store.add_dead_drop(user_dead_drop(organization, NOW, entries=1), NOW)

    assert ids("journalist", ids_greater_than=0) == list(range(1, 25))
    assert ids("journalist", ids_greater_than=24) == list(range(25, 31))
    assert ids("journalist", ids_greater_than=0, limit=5) == list(range(1, 6))
    assert ids("journalist", ids_greater_than=0, limit=1000) == list(range(1, 25))
    assert ids("user", ids_greater_than=0) == list(range(31, 391))
    assert ids("user", ids_greater_than=390) == list(range(391, 396))
    assert ids("user", ids_greater_than=0, limit="0000000002") == [31, 32]
    assert ids("user", ids_greater_than=0, limit=2**32 - 1) == list(range(31, 391))
    for bad in ("0", "-1", "1.5", "x", "", str(2**32), "1" * 11):
        response = edge.get("/v1/user/dead-drops", params={"limit": bad})
        assert response.status_code == 400, bad
        assert "limit" in response.json()["error"]
    # A window reads neither the cursor nor the limit.
    assert ids("user", ids_greater_than=0, window=3, limit=1) == [393, 394, 395]


def test_a_windowed_read_is_the_window_just_before_the_newest_ones_it_skips(
    edge: TestClient, organization: Organisation, store: EdgeStore
) -> None:
    def ids(window: int | str, back: str | None = None, kind: str = "user") -> list[int]:
        query = {"window": window, **({} if back is None else {"back": back})}
        response = edge.get(f"/v1/{kind}/dead-drops", params=query)
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()["dead_drops"]]

    assert ids(3) == ids(3, "00002") == []
    store.add_dead_drop(user_dead_drop(organization, NOW, entries=1), NOW)
    assert ids(3) == [1]  # fewer only while fewer exist
    for _ in range(9):
        store.add_dead_drop(user_dead_drop(organization, NOW, entries=1), NOW)
    store.add_dead_drop(journalist_dead_drop(organization, NOW, epoch=1), NOW)  # id 11
    store.add_dead_drop(user_dead_drop(organization, NOW, entries=1), NOW)  # id 12
    assert ids(3) == ids(3, "0") == ids(3, "00000") == [9, 10, 12]
    assert ids(3, "00001") == [8, 9, 10]
    assert ids(2, "00004") == [6, 7]  # back written in all five digits, as the client does
    assert ids(3, "9") == [1, 2]  # the oldest end: fewer
    assert ids(3, "11") == ids(3, "99999") == []
    assert ids(1, kind="journalist") == [11]
    for bad in ("0", "101", "-1", "1.5", "0x3", "1000"):
        response = edge.get("/v1/user/dead-drops", params={"window": bad})
        assert response.status_code == 400, bad
        assert "window" in response.json()["error"]
    for bad in ("-1", "1.5", "x", "", "100000", "000001"):
        response = edge.get("/v1/user/dead-drops", params={"window": "2", "back": bad})
        assert response.status_code == 400, bad
        assert "back" in response.json()["error"]


def test_dead_drops_past_retention_disappear(
    edge: TestClient, organization: Organisation, clock: FixedClock, store: EdgeStore
) -> None:
    edge.post("/v1/user/dead-drops", json=user_dead_drop(organization, NOW).to_json())
    clock.advance(timedelta(days=14, seconds=1))
    assert edge.get("/v1/user/dead-drops").json() == {"dead_drops": []}
    # The CoverNode identity key (4 weeks) still signs: the next write purges the old one.
    fresh = user_dead_drop(organization, clock.now())
    assert edge.post("/v1/user/dead-drops", json=fresh.to_json()).json() == {"id": 2}
    assert store.dead_drop_count() == 1


def test_a_profile_can_be_replaced_and_the_default_moved(
    edge: TestClient, organization: Organisation, clock: FixedClock
) -> None:
    edge.post("/v1/journalist-profiles", json=profile_form(organization, NOW, default=False))
    published = _verify(edge, organization, clock)
    assert [p.id for p in published.profiles] == [JOURNALIST_ID]
    assert published.default_journalist_id is None


def test_every_get_is_cacheable_and_the_openapi_document_lists_every_route(
    edge: TestClient,
) -> None:
    document = edge.get("/openapi.json")
    assert document.status_code == 200
    assert document.headers["cache-control"].startswith("public, max-age=")
    paths = document.json()["paths"]
    assert set(paths) == {
        "/v1/public-keys",
        "/v1/user/dead-drops",
        "/v1/journalist/dead-drops",
        "/v1/status",
        "/v1/healthcheck",
        "/v1/user/dead-drops/recent-summary",
        "/v1/journalist/dead-drops/recent-summary",
        "/user/messages",
        "/v1/journalist-messages",
        "/v1/keys",
        "/v1/revocations",
        "/v1/journalist-profiles",
        "/v1/covernode/queue",
        "/openapi.json",
        "/v1/public-keys/journalists",
        "/v1/public-keys/journalists/update-profile",
        "/v1/public-keys/journalists/update-status",
        "/v1/public-keys/journalists/delete",
    }
    assert set(paths) == {str(route) for route in Route}
    for path, operations in paths.items():
        for method in operations:
            if method == "get":
                response = edge.get(path)
                assert response.status_code == 200
                assert response.headers["cache-control"].startswith("public, max-age="), path


def test_unknown_routes_and_methods_answer_json(edge: TestClient) -> None:
    missing = edge.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert "error" in missing.json()
    wrong = edge.delete("/v1/public-keys")
    assert wrong.status_code == 405
    assert "error" in wrong.json()
    assert "GET" in wrong.headers["allow"]
    put = edge.put("/v1/user/dead-drops", content=b"{}")
    assert put.status_code == 405
    assert "POST" in put.headers["allow"]
