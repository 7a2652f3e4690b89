"""Only the organisation key decides which realm a provisioning key certifies.

A ``POST /v1/keys`` of a provisioning key must carry the organisation's role statement
for the role it is posted in. Each test posts what an attacker could: no statement, a
statement for the other realm, one signed by a key that is not the pinned anchor, or the
genuine statement of the journalist provisioning key (public in every ``?quietline=1``
document) with the key posted as the CoverNodes' — the move that made a recipient's
identity key pass as a CoverNode identity able to pull and acknowledge the CoverNode
queue.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from quietline.edge import EdgeStore
from quietline.protocol.api import WITH_STATEMENTS, KeySubmission
from quietline.protocol.certificates import KeyRole
from quietline.protocol.forms import sign_form
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.keygen import CertifiedSigningKey, generate_signing_key
from quietline.protocol.keys import SigningKeyPair
from quietline.protocol.roles import RoleStatement
from quietline.protocol.verification import verify_published_keys
from tests.edge.checks import Refusal, assert_post_refused, assert_refused, stored_rows
from tests.edge.submissions import (
    JOURNALIST_ID,
    JSON,
    NOW,
    alice,
    key_submission,
    publish_keys,
    queue_form,
    u2c_body,
)
from tests.support.organisation import COVERNODE_ID, Organisation


def _fresh_provisioning(o: Organisation) -> CertifiedSigningKey:
    return generate_signing_key(KeyRole.COVERNODE_PROVISIONING, o.root, NOW)


def _posted_with(o: Organisation, signature: bytes | None) -> dict[str, Any]:
    """A new CoverNode provisioning key, certified by the root, with ``signature`` as its
    role signature (left out when None)."""
    key = _fresh_provisioning(o)
    body = KeySubmission(
        KeyRole.COVERNODE_PROVISIONING, None, o.anchor.key, key.published, bytes(64)
    ).to_json()
    if signature is None:
        del body["role_signature"]
    else:
        body["role_signature"] = signature.hex()
    return body


def _stated_by(o: Organisation, signer: SigningKeyPair, role: KeyRole) -> dict[str, Any]:
    """A new CoverNode provisioning key with ``signer``'s statement binding it to ``role``."""
    key = _fresh_provisioning(o)
    statement = RoleStatement.sign(signer, role, key.published.key)
    return KeySubmission(
        KeyRole.COVERNODE_PROVISIONING, None, o.anchor.key, key.published, statement.signature
    ).to_json()


COVERNODES = KeyRole.COVERNODE_PROVISIONING


PROVISIONING_REFUSALS: dict[str, Refusal] = {
    "no role signature": (lambda o: _posted_with(o, None), 400),
    "a null role signature": (lambda o: _posted_with(o, None) | {"role_signature": None}, 400),
    "a role signature that is not hex": (
        lambda o: _posted_with(o, bytes(64)) | {"role_signature": "zz" * 64},
        400,
    ),
    "a role signature of 63 bytes": (lambda o: _posted_with(o, bytes(63)), 400),
    "a role signature of zeros": (lambda o: _posted_with(o, bytes(64)), 403),
    "a statement for the other realm": (
        lambda o: _stated_by(o, o.root.pair, KeyRole.JOURNALIST_PROVISIONING),
        403,
    ),
    "a statement by a stranger": (
        lambda o: _stated_by(o, SigningKeyPair.generate(), COVERNODES),
        403,
    ),
    "a statement by the journalist provisioning key": (
        lambda o: _stated_by(o, o.journalist_provisioning.pair, COVERNODES),
        403,
    ),
    "a statement by the covernode provisioning key": (
        lambda o: _stated_by(o, o.covernode_provisioning.pair, COVERNODES),
        403,
    ),
    "a role signature on an identity key": (
        lambda o: (
            key_submission(alice(o).identity, JOURNALIST_ID, o.journalist_provisioning)
            | {"role_signature": "00" * 64}
        ),
        400,
    ),
}


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("name", sorted(PROVISIONING_REFUSALS))
def test_a_provisioning_key_without_the_organisations_statement_is_refused(
    edge: TestClient, organization: Organisation, name: str
) -> None:
    assert_post_refused(edge, "/v1/keys", PROVISIONING_REFUSALS[name], organization)


def test_a_new_provisioning_key_with_its_statement_is_published_with_it(
    edge: TestClient, organization: Organisation
) -> None:
    body = _stated_by(organization, organization.root.pair, COVERNODES)
    response = edge.post("/v1/keys", json=body)
    assert response.status_code == 200, response.text

    document = PublishedKeys.from_json(edge.get("/v1/public-keys", params=WITH_STATEMENTS).json())
    key = bytes.fromhex(body["key"]["key"])
    assert document.statements.role_of(key, organization.anchor.signing_key()) is (
        KeyRole.COVERNODE_PROVISIONING
    )
    verification = verify_published_keys(document, [organization.anchor], NOW)
    assert verification.rejected == ()


# --- the recipients' provisioning key posted as the CoverNodes' ---------------------------


def _journalist_provisioning_as_covernodes(organization: Organisation) -> dict[str, Any]:
    """The journalist provisioning key posted as the CoverNodes', with its genuine
    (journalist) statement copied: :func:`key_submission` attaches the root's statement
    for the key's own role."""
    return key_submission(
        organization.journalist_provisioning, None, organization.root, role=COVERNODES
    )


def _alice_as_a_covernode(organization: Organisation) -> dict[str, Any]:
    return key_submission(
        alice(organization).identity,
        COVERNODE_ID,
        organization.journalist_provisioning,
        role=KeyRole.COVERNODE_ID,
    )


def _alices_queue_pull(organization: Organisation) -> dict[str, str]:
    """A pull of the user queue that also acknowledges it, signed by Alice's identity key."""
    payload = {"direction": "user", "after": 0, "limit": 100, "ack_through": 1_000}
    return sign_form(payload, alice(organization).identity.pair, NOW).to_json()


def test_on_a_new_edge_a_recipient_cannot_become_a_covernode(
    client: TestClient, organization: Organisation, store: EdgeStore
) -> None:
    # The attacker is first on a new edge, holding only public material.
    assert (
        client.post("/user/messages", content=u2c_body(organization), headers=JSON).status_code
        == 204
    )
    before = stored_rows(store.path)

    moved = _journalist_provisioning_as_covernodes(organization)
    assert_refused(client.post("/v1/keys", json=moved), 403)
    assert_refused(client.post("/v1/keys", json=_alice_as_a_covernode(organization)), 403)
    assert_refused(client.post("/v1/covernode/queue", json=_alices_queue_pull(organization)), 403)

    assert stored_rows(store.path) == before
    # The admin then seeds the edge as usual; nothing the attacker tried is in the way.
    publish_keys(client, organization)
    published = PublishedKeys.from_json(
        client.get("/v1/public-keys", params=WITH_STATEMENTS).json()
    )
    verified = verify_published_keys(published, [organization.anchor], NOW)
    assert verified.rejected == ()
    assert JOURNALIST_ID not in verified.verified.of_role(KeyRole.COVERNODE_ID)
    page = client.post("/v1/covernode/queue", json=queue_form(organization, NOW))
    assert len(page.json()["messages"]) == 1  # still there: nobody acknowledged it


@pytest.mark.usefixtures("untouched")
def test_on_a_seeded_edge_a_recipient_cannot_become_a_covernode(
    edge: TestClient, organization: Organisation
) -> None:
    moved = _journalist_provisioning_as_covernodes(organization)
    # The role signature is the published statement, copied as it stands.
    document = PublishedKeys.from_json(edge.get("/v1/public-keys", params=WITH_STATEMENTS).json())
    copied = RoleStatement(
        organization.journalist_provisioning.published.key,
        KeyRole.JOURNALIST_PROVISIONING,
        bytes.fromhex(moved["role_signature"]),
    )
    assert copied in document.statements.roles

    assert_refused(edge.post("/v1/keys", json=moved), 403)
    assert_refused(edge.post("/v1/keys", json=_alice_as_a_covernode(organization)), 403)
    assert_refused(edge.post("/v1/covernode/queue", json=_alices_queue_pull(organization)), 403)
