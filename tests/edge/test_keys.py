"""The edge verifies the key hierarchy once per change, not once per request, and still
honours every expiry, revocation and new key at once (quietline.edge.keys).

Verifications are counted by wrapping the real ``verify_published_keys``; nothing is timed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

import quietline.edge.keys
from quietline.clock import FixedClock
from quietline.edge import EdgeStore, create_app
from quietline.protocol.certificates import KeyRole
from quietline.protocol.keygen import generate_messaging_key
from quietline.protocol.verification import KeyVerification, verify_published_keys
from tests.edge.checks import assert_refused
from tests.edge.submissions import JOURNALIST_ID, NOW, alice, j2c_form, key_submission, revocation
from tests.support.organisation import Organisation
from tests.support.queues import Queues


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[None]:
    """One entry per verification of the whole hierarchy the edge makes."""
    made: list[None] = []
    real: Callable[..., KeyVerification] = verify_published_keys

    def counted(*args: Any, **kwargs: Any) -> KeyVerification:
        made.append(None)
        return real(*args, **kwargs)

    monkeypatch.setattr(quietline.edge.keys, "verify_published_keys", counted)
    return made


def _post_j2c(edge: TestClient, organization: Organisation, clock: FixedClock) -> int:
    form = j2c_form(organization, clock.now())
    status: int = edge.post("/v1/journalist-messages", json=form).status_code
    return status


def test_forms_verify_the_hierarchy_once_until_it_changes(
    edge: TestClient, organization: Organisation, clock: FixedClock, verifications: list[None]
) -> None:
    assert _post_j2c(edge, organization, clock) == 204
    verifications.clear()
    statuses = [_post_j2c(edge, organization, clock) for _ in range(5)]

    assert statuses == [204] * 5
    assert verifications == []
    # A new key changes the hierarchy: the next form verifies it again, once.
    identity = alice(organization).identity
    successor = generate_messaging_key(KeyRole.JOURNALIST_MSG, identity, NOW)
    response = edge.post("/v1/keys", json=key_submission(successor, JOURNALIST_ID, identity))
    assert response.status_code == 200, response.text
    before = len(verifications)
    statuses = [_post_j2c(edge, organization, clock) for _ in range(3)]
    assert statuses == [204] * 3
    assert len(verifications) == before + 1


def test_a_key_stops_signing_at_its_expiry_to_the_microsecond(
    edge: TestClient, organization: Organisation, clock: FixedClock, verifications: list[None]
) -> None:
    expiry = alice(organization).identity.not_valid_after
    clock.advance(expiry - clock.now())
    assert _post_j2c(edge, organization, clock) == 204
    assert _post_j2c(edge, organization, clock) == 204
    verified_at_expiry = len(verifications)

    clock.advance(timedelta(microseconds=1))
    response = edge.post("/v1/journalist-messages", json=j2c_form(organization, expiry))
    assert_refused(response, 403)
    assert len(verifications) == verified_at_expiry + 1


def test_a_revocation_through_another_edge_on_the_same_store_counts_at_once(
    edge: TestClient,
    store: EdgeStore,
    queues: Queues,
    organization: Organisation,
    clock: FixedClock,
) -> None:
    assert _post_j2c(edge, organization, clock) == 204
    with TestClient(create_app(store, [organization.anchor], clock, queues=queues.engine)) as other:
        revoked = revocation(organization, alice(organization).identity.published.key)
        assert other.post("/v1/revocations", json=revoked.to_json()).status_code == 204

    assert_refused(edge.post("/v1/journalist-messages", json=j2c_form(organization, NOW)), 403)


def test_a_key_published_through_another_edge_signs_at_once(
    client: TestClient,
    store: EdgeStore,
    queues: Queues,
    organization: Organisation,
    clock: FixedClock,
) -> None:
    chain = organization.key_chain()
    without_alice = [link for link in chain if link.owner != JOURNALIST_ID]
    for link in without_alice:
        response = client.post("/v1/keys", json=organization.submission(link).to_json())
        assert response.status_code == 200, response.text
    assert_refused(client.post("/v1/journalist-messages", json=j2c_form(organization, NOW)), 403)

    with TestClient(create_app(store, [organization.anchor], clock, queues=queues.engine)) as other:
        for link in chain:
            if link.owner == JOURNALIST_ID:
                response = other.post("/v1/keys", json=organization.submission(link).to_json())
                assert response.status_code == 200, response.text

    assert _post_j2c(client, organization, clock) == 204
