"""``POST /v1/revocations``: the organisation key's word takes a key and everything below
it out of the edge, and nobody else's word does.

A revoked key leaves both forms of ``GET /v1/public-keys`` (CoverDrop's apps know
nothing of revocations, so they must never see it), cannot sign forms or dead drops, and
cannot be posted again; the revocation itself is served to Quietline's readers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from quietline.edge import EdgeStore
from quietline.protocol.api import WITH_STATEMENTS
from quietline.protocol.certificates import KeyRole
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.keygen import generate_messaging_key
from quietline.protocol.keys import SigningKeyPair
from quietline.protocol.roles import Revocation
from quietline.protocol.verification import verify_published_keys
from tests.edge.checks import Refusal, assert_post_refused, assert_refused, stored_rows
from tests.edge.submissions import (
    JOURNALIST_ID,
    JSON,
    NOW,
    alice,
    j2c_form,
    key_submission,
    key_submissions,
    queue_form,
    revocation,
    u2c_body,
    user_dead_drop,
)
from tests.support.organisation import Organisation


def _revoke(edge: TestClient, organization: Organisation, key: bytes) -> Revocation:
    revoked = revocation(organization, key)
    response = edge.post("/v1/revocations", json=revoked.to_json())
    assert response.status_code == 204, response.text
    return revoked


def _documents(edge: TestClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """The plain document and the one with the statements, as JSON."""
    plain = edge.get("/v1/public-keys").json()
    extended = edge.get("/v1/public-keys", params=WITH_STATEMENTS).json()
    return plain, extended


def _alice_keys(organization: Organisation) -> list[str]:
    """Alice's identity and messaging keys, as hex as the documents hold them."""
    recipient = alice(organization)
    return [recipient.identity.published.key.hex(), recipient.messaging.published.key.hex()]


# --- by the organisation key ---------------------------------------------------------------


def test_a_revoked_identity_and_its_children_leave_both_documents(
    edge: TestClient, organization: Organisation, store: EdgeStore
) -> None:
    plain_before, _ = _documents(edge)
    assert all(key in str(plain_before) for key in _alice_keys(organization))

    revoked = _revoke(edge, organization, alice(organization).identity.published.key)

    assert store.statements().revocations == (revoked,)
    plain, extended = _documents(edge)
    for document in (plain, extended):
        assert not any(key in str(document["keys"]) for key in _alice_keys(organization))
    assert "quietline" not in plain
    assert plain["journalist_profiles"] == []  # Alice had no other identity key
    published = PublishedKeys.from_json(extended)
    assert published.statements.revocations == (revoked,)
    # What is left verifies with nothing rejected, and Alice can no longer be written to.
    verification = verify_published_keys(published, [organization.anchor], NOW)
    assert verification.rejected == ()
    assert JOURNALIST_ID not in verification.verified.of_role(KeyRole.JOURNALIST_MSG)
    assert verification.verified.profiles == ()
    assert verification.verified.of_role(KeyRole.COVERNODE_MSG)
    assert edge.get("/v1/status").json()["is_available"] is False


def test_a_revoked_provisioning_key_takes_its_whole_realm(
    edge: TestClient, organization: Organisation
) -> None:
    _revoke(edge, organization, organization.covernode_provisioning.published.key)

    plain, extended = _documents(edge)
    for document in (plain, extended):
        assert document["keys"][0]["covernodes"] == []
        assert document["keys"][0]["journalists"] != []
    # Nothing is left to pull the queue with.
    assert_refused(edge.post("/v1/covernode/queue", json=queue_form(organization, NOW)), 403)


def test_forms_and_dead_drops_signed_by_a_revoked_identity_are_refused(
    edge: TestClient, organization: Organisation, store: EdgeStore
) -> None:
    assert (
        edge.post("/user/messages", content=u2c_body(organization), headers=JSON).status_code == 204
    )
    _revoke(edge, organization, alice(organization).identity.published.key)
    _revoke(edge, organization, organization.covernode_identity.published.key)
    before = stored_rows(store.path)

    assert_refused(edge.post("/v1/journalist-messages", json=j2c_form(organization, NOW)), 403)
    pull = queue_form(organization, NOW, ack_through=1_000)
    assert_refused(edge.post("/v1/covernode/queue", json=pull), 403)
    dead_drop = user_dead_drop(organization, NOW).to_json()
    assert_refused(edge.post("/v1/user/dead-drops", json=dead_drop), 403)

    assert stored_rows(store.path) == before


def test_a_key_posted_after_its_revocation_is_refused(
    client: TestClient, organization: Organisation, store: EdgeStore
) -> None:
    # Revoked before the edge ever saw it: the admin's own publication is refused too.
    identity = alice(organization).identity
    _revoke(client, organization, identity.published.key)
    bodies = key_submissions(organization)
    successor = generate_messaging_key(KeyRole.JOURNALIST_MSG, identity, NOW)
    statuses = [client.post("/v1/keys", json=body).status_code for body in bodies]

    # covernode provisioning, identity, messaging, journalist provisioning; then Alice's
    assert statuses == [200, 200, 200, 200, 403, 403]
    body = key_submission(successor, JOURNALIST_ID, identity)
    assert_refused(client.post("/v1/keys", json=body), 403)
    assert all(row[0] != identity.published.key for row in stored_rows(store.path)["keys"])


def test_a_stored_key_posted_again_after_its_revocation_is_refused(
    edge: TestClient, organization: Organisation
) -> None:
    identity = alice(organization).identity
    _revoke(edge, organization, identity.published.key)

    body = key_submission(identity, JOURNALIST_ID, organization.journalist_provisioning)
    assert_refused(edge.post("/v1/keys", json=body), 403)
    messaging = key_submission(alice(organization).messaging, JOURNALIST_ID, identity)
    assert_refused(edge.post("/v1/keys", json=messaging), 403)


def test_reposting_a_revocation_is_harmless(
    edge: TestClient, organization: Organisation, store: EdgeStore
) -> None:
    key = alice(organization).messaging.published.key
    first = _revoke(edge, organization, key)
    rows = stored_rows(store.path)

    again = _revoke(edge, organization, key)

    assert again == first
    assert stored_rows(store.path) == rows
    assert store.statements().revocations == (first,)


def test_a_revocation_replayed_with_other_sub_second_digits_adds_nothing(
    edge: TestClient, organization: Organisation, store: EdgeStore
) -> None:
    # Only whole seconds are signed, so anybody could repost a published revocation with
    # each of a million fractions of its second: the document every Quietline reader
    # fetches must not grow with them.
    first = _revoke(edge, organization, alice(organization).messaging.published.key)
    rows = stored_rows(store.path)

    for micros in (1, 500_000, 999_999):
        replay = Revocation(
            first.key, first.revoked_at.replace(microsecond=micros), first.signature
        )
        edge.post("/v1/revocations", json=replay.to_json())

    assert stored_rows(store.path) == rows
    _, extended = _documents(edge)
    assert len(extended["quietline"]["revocations"]) == 1


# --- by anybody else, and garbage ---------------------------------------------------------


def _signed_by(signer: Callable[[Organisation], SigningKeyPair]) -> Callable[[Organisation], Any]:
    """A revocation of Alice's identity key signed by ``signer``, not the anchor."""
    return lambda o: Revocation.sign(signer(o), alice(o).identity.published.key, NOW).to_json()


def _valid(o: Organisation) -> dict[str, Any]:
    return revocation(o, alice(o).identity.published.key).to_json()


REVOCATION_REFUSALS: dict[str, Refusal] = {
    "by a stranger": (_signed_by(lambda o: SigningKeyPair.generate()), 403),
    "by the journalist provisioning key": (
        _signed_by(lambda o: o.journalist_provisioning.pair),
        403,
    ),
    "by the covernode provisioning key": (
        _signed_by(lambda o: o.covernode_provisioning.pair),
        403,
    ),
    "by the covernode identity key": (_signed_by(lambda o: o.covernode_identity.pair), 403),
    "by alice's own identity key": (_signed_by(lambda o: alice(o).identity.pair), 403),
    "a genuine signature over another time": (
        lambda o: _valid(o) | {"revoked_at": "2020-01-01T00:00:00Z"},
        403,
    ),
    "a genuine signature over another key": (
        lambda o: _valid(o) | {"key": o.covernode_identity.published.key.hex()},
        403,
    ),
    "key missing": (lambda o: {k: v for k, v in _valid(o).items() if k != "key"}, 400),
    "key of 31 bytes": (lambda o: _valid(o) | {"key": "00" * 31}, 400),
    "key not hex": (lambda o: _valid(o) | {"key": "zz" * 32}, 400),
    "revoked_at not a time": (lambda o: _valid(o) | {"revoked_at": "yesterday"}, 400),
    "revoked_at out of range": (
        lambda o: _valid(o) | {"revoked_at": "0001-01-01T00:00:00+01:00"},
        400,
    ),
    "signature of 63 bytes": (lambda o: _valid(o) | {"signature": "00" * 63}, 400),
    "signature a number": (lambda o: _valid(o) | {"signature": 7}, 400),
    "a list": (lambda o: [_valid(o)], 400),
    "a string": (lambda o: "revoke alice", 400),
}


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("name", sorted(REVOCATION_REFUSALS))
def test_a_revocation_not_made_by_the_anchor_is_refused(
    edge: TestClient, organization: Organisation, name: str
) -> None:
    assert_post_refused(edge, "/v1/revocations", REVOCATION_REFUSALS[name], organization)


def test_a_refused_revocation_leaves_the_key_in_use(
    edge: TestClient, organization: Organisation, store: EdgeStore
) -> None:
    make, _ = REVOCATION_REFUSALS["by the journalist provisioning key"]
    assert_refused(edge.post("/v1/revocations", json=make(organization)), 403)

    assert store.statements().revocations == ()
    plain, extended = _documents(edge)
    for document in (plain, extended):
        assert all(key in str(document["keys"]) for key in _alice_keys(organization))
    assert PublishedKeys.from_json(extended).statements.revocations == ()
    assert edge.post("/v1/journalist-messages", json=j2c_form(organization, NOW)).status_code == 204
