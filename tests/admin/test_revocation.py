"""Revoking keys with the organisation key (quietline.admin.revocation), and publishing the
revocations to the real edge app, which then stops serving the keys."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from quietline.admin.ceremony import enroll, publish
from quietline.admin.covernode import certified_identities, mixer_keys
from quietline.admin.layout import Layout
from quietline.admin.revocation import (
    NothingToRevoke,
    recipient_keys,
    revocations,
    revoke,
)
from quietline.clock import FixedClock
from quietline.edge import EdgeStore, create_app
from quietline.edge_client import EdgeClient
from quietline.keystore import read_bundle, read_json
from quietline.protocol.api import Route
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.verification import verify_published_keys
from tests.admin.ceremonies import INIT_AT, every_key
from tests.support.queues import queues_beside

NOW = INIT_AT
LATER = NOW + timedelta(hours=1)


def enroll_two(layout: Layout) -> None:
    for recipient_id, default in (("news_desk", True), ("alice", False)):
        enroll(
            layout,
            NOW,
            recipient_id=recipient_id,
            display_name=recipient_id,
            description="",
            is_desk=default,
            default=default,
        )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def anchor(layout: Layout) -> SignedKey:
    return SignedKey.from_json(read_json(layout.anchor))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EdgeStore]:
    store = EdgeStore(tmp_path / "edge.sqlite3")
    yield store
    store.close()


@pytest.fixture
def http(store: EdgeStore, anchor: SignedKey, clock: FixedClock) -> Iterator[TestClient]:
    """The real edge app, trusting the deployment's anchor."""
    with queues_beside(store) as queues:
        yield TestClient(create_app(store, [anchor], clock, queues=queues.engine))


@pytest.fixture
def edge(http: TestClient) -> Iterator[EdgeClient]:
    with EdgeClient(http) as client:
        yield client


def test_a_recipients_revocation_is_signed_kept_and_not_made_twice(
    layout: Layout,
    anchor: SignedKey,
) -> None:
    enroll_two(layout)
    lines: list[str] = []
    keys = recipient_keys(layout, "alice")
    assert keys == [read_bundle(layout.bundle("alice")).identity.published.key]
    (made,) = revoke(layout, NOW, keys, lines.append)
    assert made.key == keys[0]
    assert made.revoked_at == NOW
    made.verify(anchor.signing_key())
    assert revocations(layout) == [made]
    assert lines == [f"revoked key {keys[0][:8].hex()}…: publish to tell the edge and clients"]

    with pytest.raises(NothingToRevoke):
        revoke(layout, LATER, keys, lines.append)
    with pytest.raises(NothingToRevoke):
        revoke(layout, LATER, [], lines.append)
    with pytest.raises(NothingToRevoke, match="no recipient 'nobody'"):
        recipient_keys(layout, "nobody")
    assert revocations(layout) == [made]


def test_a_seized_mixer_loses_every_identity_not_yet_expired(
    layout: Layout,
) -> None:
    later = NOW + timedelta(weeks=5)  # the first identity has expired
    certified = certified_identities(layout)
    assert mixer_keys(layout, later) == [identity.key.key for identity in certified[1:]]
    revoke(layout, later, mixer_keys(layout, later), lambda _: None)
    assert [r.key for r in revocations(layout)] == mixer_keys(layout, later)


def test_publish_uploads_revocations_and_the_edge_stops_serving_the_keys(
    layout: Layout,
    edge: EdgeClient,
    http: TestClient,
    anchor: SignedKey,
    clock: FixedClock,
) -> None:
    enroll_two(layout)
    publish(layout, edge, NOW, lambda _: None)
    alice = read_bundle(layout.bundle("alice"))
    identity = certified_identities(layout)[0]
    before = edge.public_keys()
    assert {alice.identity.published.key, identity.key.key} <= every_key(before)

    clock.advance(timedelta(hours=1))
    revoked = [*recipient_keys(layout, "alice"), *mixer_keys(layout, clock.now())]
    revoke(layout, clock.now(), revoked, lambda _: None)
    lines: list[str] = []
    publish(layout, edge, clock.now(), lines.append)
    assert f"published {len(revoked)} revocations" in lines

    # Neither Quietline's readers nor CoverDrop's (the plain document) see them any more.
    with_statements = edge.public_keys()
    plain = PublishedKeys.from_json(http.get(Route.PUBLIC_KEYS).json())
    for document in (with_statements, plain):
        held = every_key(document)
        assert alice.identity.published.key not in held
        assert alice.messaging.published.key not in held
        assert identity.key.key not in held
        assert read_bundle(layout.bundle("news_desk")).identity.published.key in held
    assert {r.key for r in with_statements.statements.revocations} == set(revoked)
    assert not plain.statements
    verification = verify_published_keys(with_statements, [anchor], clock.now())
    assert "alice" not in {profile.id for profile in verification.verified.profiles}
    assert not verification.verified.of_role(KeyRole.COVERNODE_ID)

    # Publishing again (after the next enrolment, say) still works, and changes nothing.
    publish(layout, edge, clock.now(), lines.append)
    assert edge.public_keys() == with_statements
