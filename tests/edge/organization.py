"""A whole key hierarchy made with quietline.protocol.keygen, and the requests that
publish it to an edge: what the admin, the mixer and a desk would post."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.testclient import TestClient

from quietline.protocol.certificates import KeyRole
from quietline.protocol.deaddrops import DeadDropKind, UnpublishedDeadDrop, sign_dead_drop
from quietline.protocol.encoding import b64_encode
from quietline.protocol.forms import sign_form
from quietline.protocol.hierarchy import JournalistProfile
from quietline.protocol.keygen import (
    CertifiedEncryptionKey,
    CertifiedSigningKey,
    generate_messaging_key,
    generate_organization_key,
    generate_signing_key,
)
from quietline.protocol.messages import encrypt_cover_j2c, encrypt_cover_u2c

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
COVERNODE_ID = "covernode_001"
JOURNALIST_ID = "alice"


@dataclass(frozen=True)
class Organization:
    organization: CertifiedSigningKey
    covernode_provisioning: CertifiedSigningKey
    covernode_identity: CertifiedSigningKey
    covernode_messaging: CertifiedEncryptionKey
    journalist_provisioning: CertifiedSigningKey
    journalist_identity: CertifiedSigningKey
    journalist_messaging: CertifiedEncryptionKey

    def chain(
        self,
    ) -> list[tuple[CertifiedSigningKey | CertifiedEncryptionKey, str | None, CertifiedSigningKey]]:
        """Every key below the organisation with its owner and parent, parents first."""
        return [
            (self.covernode_provisioning, None, self.organization),
            (self.covernode_identity, COVERNODE_ID, self.covernode_provisioning),
            (self.covernode_messaging, COVERNODE_ID, self.covernode_identity),
            (self.journalist_provisioning, None, self.organization),
            (self.journalist_identity, JOURNALIST_ID, self.journalist_provisioning),
            (self.journalist_messaging, JOURNALIST_ID, self.journalist_identity),
        ]

    def key_submissions(self) -> list[dict[str, Any]]:
        """``POST /v1/keys`` bodies for every key, parents first."""
        return [key_submission(key, owner, parent) for key, owner, parent in self.chain()]


def build_organization(now: datetime) -> Organization:
    organization = generate_organization_key(now)
    cn_provisioning = generate_signing_key(KeyRole.COVERNODE_PROVISIONING, organization, now)
    cn_identity = generate_signing_key(KeyRole.COVERNODE_ID, cn_provisioning, now)
    j_provisioning = generate_signing_key(KeyRole.JOURNALIST_PROVISIONING, organization, now)
    j_identity = generate_signing_key(KeyRole.JOURNALIST_ID, j_provisioning, now)
    return Organization(
        organization,
        cn_provisioning,
        cn_identity,
        generate_messaging_key(KeyRole.COVERNODE_MSG, cn_identity, now),
        j_provisioning,
        j_identity,
        generate_messaging_key(KeyRole.JOURNALIST_MSG, j_identity, now),
    )


def key_submission(
    key: CertifiedSigningKey | CertifiedEncryptionKey,
    owner: str | None,
    parent: CertifiedSigningKey,
) -> dict[str, Any]:
    return {
        "role": key.role.value,
        "owner": owner,
        "parent_key": parent.published.key.hex(),
        "key": key.published.to_json(),
    }


def profile_form(
    organization: Organization, now: datetime, *, default: bool = True
) -> dict[str, str]:
    profile = JournalistProfile.create(JOURNALIST_ID, "Alice Example", "Desk", is_desk=False)
    payload = {"profile": profile.to_json(), "default": default}
    return sign_form(payload, organization.journalist_provisioning.pair, now).to_json()


def publish_keys(client: TestClient, organization: Organization) -> None:
    """Post every key and Alice's profile; fails the test on any refusal."""
    for body in organization.key_submissions():
        response = client.post("/v1/keys", json=body)
        assert response.status_code == 200, response.text
    response = client.post("/v1/journalist-profiles", json=profile_form(organization, NOW))
    assert response.status_code == 204, response.text


def u2c_body(organization: Organization) -> bytes:
    """A cover U2C exactly as a client posts it."""
    message = encrypt_cover_u2c([organization.covernode_messaging.pair.public] * 2)
    return b'"' + b64_encode(message.data).encode() + b'"'


def j2c_form(organization: Organization, now: datetime) -> dict[str, str]:
    message = encrypt_cover_j2c([organization.covernode_messaging.pair.public] * 2)
    form = sign_form(
        {"message": b64_encode(message.data)}, organization.journalist_identity.pair, now
    )
    return form.to_json()


def queue_form(
    organization: Organization,
    now: datetime,
    direction: str = "user",
    *,
    after: int = 0,
    limit: int = 100,
    ack_through: int = 0,
) -> dict[str, str]:
    payload = {"direction": direction, "after": after, "limit": limit, "ack_through": ack_through}
    return sign_form(payload, organization.covernode_identity.pair, now).to_json()


def dead_drop(
    organization: Organization,
    kind: DeadDropKind,
    created_at: datetime,
    *,
    entries: int = 3,
    epoch: int | None = None,
) -> UnpublishedDeadDrop:
    """A dead drop of random entries signed by the CoverNode identity key."""
    if kind is DeadDropKind.JOURNALIST and epoch is None:
        epoch = 1
    return sign_dead_drop(
        kind,
        [os.urandom(kind.entry_size) for _ in range(entries)],
        created_at,
        epoch,
        identity=organization.covernode_identity.pair,
        identity_not_valid_after=organization.covernode_identity.not_valid_after,
    )
