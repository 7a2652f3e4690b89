"""What callers post to an edge, as raw request bodies for Starlette's TestClient: the
admin's keys and profile, a source's U2C, a desk's J2C, the mixer's queue pulls and dead
drops, all made from a ``tests.support.organisation.Organisation`` with one recipient,
Alice."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from starlette.testclient import TestClient

from quietline.protocol.deaddrops import DeadDropKind, UnpublishedDeadDrop
from quietline.protocol.encoding import b64_encode
from quietline.protocol.forms import sign_form
from quietline.protocol.keygen import CertifiedEncryptionKey, CertifiedSigningKey
from quietline.protocol.messages import encrypt_cover_j2c, encrypt_cover_u2c
from tests.support.organisation import Organisation, Recipient

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
JOURNALIST_ID = "alice"


def build_organization(now: datetime) -> Organisation:
    """The edge tests' organisation: one CoverNode and one journalist, Alice."""
    return Organisation.create(now, (JOURNALIST_ID,))


def alice(organization: Organisation) -> Recipient:
    """The organisation's one journalist: her keys and profile."""
    return organization.recipients[JOURNALIST_ID]


def key_submission(
    key: CertifiedSigningKey | CertifiedEncryptionKey,
    owner: str | None,
    parent: CertifiedSigningKey,
) -> dict[str, Any]:
    """A ``POST /v1/keys`` body."""
    return {
        "role": key.role.value,
        "owner": owner,
        "parent_key": parent.published.key.hex(),
        "key": key.published.to_json(),
    }


def key_submissions(organization: Organisation) -> list[dict[str, Any]]:
    """``POST /v1/keys`` bodies for every key, parents first."""
    return [key_submission(*link) for link in organization.key_chain()]


def profile_form(
    organization: Organisation, now: datetime, *, default: bool = True
) -> dict[str, str]:
    """Alice's profile as ``POST /v1/journalist-profiles`` takes it."""
    return organization.signed_profile(JOURNALIST_ID, now, default=default).to_json()


def publish_keys(client: TestClient, organization: Organisation) -> None:
    """Post every key and Alice's profile; fails the test on any refusal."""
    for body in key_submissions(organization):
        response = client.post("/v1/keys", json=body)
        assert response.status_code == 200, response.text
    response = client.post("/v1/journalist-profiles", json=profile_form(organization, NOW))
    assert response.status_code == 204, response.text


def u2c_body(organization: Organisation) -> bytes:
    """A cover U2C exactly as a client posts it."""
    message = encrypt_cover_u2c([organization.covernode_messaging.pair.public] * 2)
    return b'"' + b64_encode(message.data).encode() + b'"'


def j2c_form(organization: Organisation, now: datetime) -> dict[str, str]:
    """A cover J2C signed by Alice's identity key at ``now``."""
    message = encrypt_cover_j2c([organization.covernode_messaging.pair.public] * 2)
    form = sign_form({"message": b64_encode(message.data)}, alice(organization).identity.pair, now)
    return form.to_json()


def queue_form(
    organization: Organisation,
    now: datetime,
    direction: str = "user",
    *,
    after: int = 0,
    limit: int = 100,
    ack_through: int = 0,
) -> dict[str, str]:
    """A queue pull signed by the CoverNode identity key at ``now``."""
    payload = {"direction": direction, "after": after, "limit": limit, "ack_through": ack_through}
    return sign_form(payload, organization.covernode_identity.pair, now).to_json()


def dead_drop(
    organization: Organisation,
    kind: DeadDropKind,
    created_at: datetime,
    *,
    entries: int = 3,
    epoch: int | None = None,
) -> UnpublishedDeadDrop:
    """A dead drop of random entries signed by the CoverNode identity key."""
    if kind is DeadDropKind.JOURNALIST and epoch is None:
        epoch = 1
    random_entries = [os.urandom(kind.entry_size) for _ in range(entries)]
    return organization.sign_dead_drop(kind, random_entries, created_at, epoch)
