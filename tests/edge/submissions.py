"""What callers post to an edge, as raw request bodies for Starlette's TestClient: the
admin's keys, profile and revocations, a source's U2C, a desk's J2C, the mixer's queue
pulls and dead drops, all made from a ``tests.support.organisation.Organisation`` with
one recipient, Alice."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import httpx

from quietline.protocol.api import J2CSubmission, KeySubmission
from quietline.protocol.certificates import KeyRole
from quietline.protocol.deaddrops import JournalistDeadDrop, UserDeadDrop
from quietline.protocol.encoding import b64_encode
from quietline.protocol.forms import sign_form
from quietline.protocol.keygen import PARENT, CertifiedEncryptionKey, CertifiedSigningKey
from quietline.protocol.keys import CoverNodeMessagingKey, SigningKeyPair
from quietline.protocol.messages import (
    ENCRYPTED_C2J,
    ENCRYPTED_J2U,
    encrypt_cover_j2c,
    encrypt_cover_u2c,
)
from quietline.protocol.recipients import RecipientId
from quietline.protocol.roles import PROVISIONING_ROLES, Revocation, RoleStatement
from tests.support.organisation import Organisation, Recipient

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
JOURNALIST_ID = RecipientId("alice")
# What every client sends with a body (the edge refuses any other type with 415).
JSON = {"Content-Type": "application/json"}


def build_organization(now: datetime) -> Organisation:
    """The edge tests' organisation: one CoverNode and one journalist, Alice."""
    return Organisation.create(now, (JOURNALIST_ID,))


def alice(organization: Organisation) -> Recipient:
    """The organisation's one journalist: her keys and profile."""
    return organization.recipients[JOURNALIST_ID]


def covernode_keys(organization: Organisation) -> list[CoverNodeMessagingKey]:
    """The two wrapping keys a source or desk uses: the one CoverNode key, twice."""
    return [CoverNodeMessagingKey.of(organization.covernode_messaging.pair)] * 2


def key_submission(
    key: CertifiedSigningKey | CertifiedEncryptionKey,
    owner: str | None,
    parent: CertifiedSigningKey,
    *,
    role: KeyRole | None = None,
) -> dict[str, Any]:
    """A ``POST /v1/keys`` body: ``key`` in its own role, or posted as ``role``. A
    provisioning key carries the root's role statement for the key's own role: the only
    one anybody but the admin could copy (from the published document)."""
    statement = None
    if PARENT[role or key.role] is KeyRole.ORGANIZATION:
        statement = (
            RoleStatement.sign(parent.pair, key.role, key.published.key).signature
            if key.role in PROVISIONING_ROLES
            else bytes(64)
        )
    submission = KeySubmission(
        role or key.role,
        None if owner is None else RecipientId(owner),
        parent.published.key,
        key.published,
        statement,
    )
    return submission.to_json()


def key_submissions(organization: Organisation) -> list[dict[str, Any]]:
    """``POST /v1/keys`` bodies for every key, parents first."""
    return [organization.submission(link).to_json() for link in organization.key_chain()]


def profile_form(
    organization: Organisation, now: datetime, *, default: bool = True
) -> dict[str, str]:
    """Alice's profile as ``POST /v1/journalist-profiles`` takes it."""
    return organization.signed_profile(JOURNALIST_ID, now, default=default).to_json()


def publish_keys(client: httpx.Client, organization: Organisation) -> None:
    """Post every key and Alice's profile; fails the test on any refusal."""
    for body in key_submissions(organization):
        response = client.post("/v1/keys", json=body)
        assert response.status_code == 200, response.text
    response = client.post("/v1/journalist-profiles", json=profile_form(organization, NOW))
    assert response.status_code == 204, response.text


def revocation(organization: Organisation, key: bytes, revoked_at: datetime = NOW) -> Revocation:
    """The root key's revocation of ``key`` as of ``revoked_at``: what the admin posts."""
    return Revocation.sign(organization.root.pair, key, revoked_at)


def unrelated_revocation(organization: Organisation) -> Revocation:
    """A revocation of a key the organisation never published (one it retired, say)."""
    return revocation(organization, SigningKeyPair.generate().public.raw)


def u2c_body(organization: Organisation) -> bytes:
    """A cover U2C exactly as a client posts it: a JSON string of unpadded base64."""
    message = encrypt_cover_u2c(covernode_keys(organization))
    return b'"' + b64_encode(message.data).encode() + b'"'


def j2c_form(organization: Organisation, now: datetime) -> dict[str, str]:
    """A cover J2C signed by Alice's identity key at ``now``."""
    message = encrypt_cover_j2c(covernode_keys(organization))
    payload = J2CSubmission(message).to_json()
    return sign_form(payload, alice(organization).identity.pair, now).to_json()


def queue_form(
    organization: Organisation,
    now: datetime,
    direction: str = "user",
    *,
    after: int = 0,
    limit: int = 100,
    ack_through: int = 0,
) -> dict[str, str]:
    """A queue pull signed by the CoverNode identity key at ``now``; the payload is raw
    JSON, so that tests can also send values no ``QueuePull`` holds."""
    payload = {"direction": direction, "after": after, "limit": limit, "ack_through": ack_through}
    return sign_form(payload, organization.covernode_identity.pair, now).to_json()


def user_dead_drop(
    organization: Organisation, created_at: datetime, *, entries: int = 3
) -> UserDeadDrop:
    """A user dead drop of random entries signed by the CoverNode identity key."""
    boxes = [ENCRYPTED_J2U.decode(os.urandom(ENCRYPTED_J2U.size)) for _ in range(entries)]
    return organization.sign_user_dead_drop(boxes, created_at)


def journalist_dead_drop(
    organization: Organisation, created_at: datetime, *, entries: int = 3, epoch: int = 1
) -> JournalistDeadDrop:
    """A journalist dead drop of random entries at ``epoch`` signed by the CoverNode
    identity key."""
    boxes = [ENCRYPTED_C2J.decode(os.urandom(ENCRYPTED_C2J.size)) for _ in range(entries)]
    return organization.sign_journalist_dead_drop(boxes, created_at, epoch)
