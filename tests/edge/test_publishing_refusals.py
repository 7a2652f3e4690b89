"""Keys and dead drops that do not verify are refused with a 4xx and store nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from quietline.clock import FixedClock
from quietline.edge import EdgeStore
from quietline.protocol.certificates import KeyRole
from quietline.protocol.deaddrops import UserDeadDrop, user_signed_digest
from quietline.protocol.encoding import b64_encode
from quietline.protocol.keygen import generate_messaging_key, generate_signing_key
from quietline.protocol.keys import SigningKeyPair
from tests.edge.checks import (
    Refusal,
    assert_post_refused,
    assert_refused,
    flip_last_hex,
    stored_rows,
)
from tests.edge.submissions import (
    JOURNALIST_ID,
    NOW,
    alice,
    journalist_dead_drop,
    key_submission,
    user_dead_drop,
)
from tests.support.organisation import COVERNODE_ID, Organisation

# --- POST /v1/keys ------------------------------------------------------------------------


def _forged(o: Organisation) -> dict[str, Any]:
    body = key_submission(alice(o).messaging, JOURNALIST_ID, alice(o).identity)
    body["key"]["certificate"] = flip_last_hex(body["key"]["certificate"])
    return body


def _new_messaging(o: Organisation, created: timedelta = timedelta()) -> dict[str, Any]:
    key = generate_messaging_key(KeyRole.JOURNALIST_MSG, alice(o).identity, NOW + created)
    return key_submission(key, JOURNALIST_ID, alice(o).identity)


def _unknown_parent(o: Organisation) -> dict[str, Any]:
    body = _new_messaging(o)
    body["parent_key"] = SigningKeyPair.generate().public.raw.hex()
    return body


def _other_owner(o: Organisation) -> dict[str, Any]:
    return {**_new_messaging(o), "owner": "bob"}


def _wrong_parent_role(o: Organisation) -> dict[str, Any]:
    key = generate_messaging_key(KeyRole.JOURNALIST_MSG, alice(o).identity, NOW)
    return key_submission(key, JOURNALIST_ID, o.journalist_provisioning)


def _under_covernode(o: Organisation) -> dict[str, Any]:
    key = generate_signing_key(KeyRole.JOURNALIST_ID, o.journalist_provisioning, NOW)
    return key_submission(key, COVERNODE_ID, o.covernode_provisioning, role=KeyRole.COVERNODE_ID)


def _moved(o: Organisation) -> dict[str, Any]:
    # The stored identity key again, under the same parent but for another owner.
    return key_submission(alice(o).identity, "bob", o.journalist_provisioning)


def _expired(o: Organisation) -> dict[str, Any]:
    return _new_messaging(o, -timedelta(weeks=3))


def _anchor_again(o: Organisation) -> dict[str, Any]:
    return key_submission(o.root, None, o.root, role=KeyRole.COVERNODE_PROVISIONING)


KEY_REFUSALS: dict[str, Refusal] = {
    "forged certificate": (_forged, 403),
    "unknown parent": (_unknown_parent, 403),
    "messaging key of another owner": (_other_owner, 403),
    "parent of the wrong role": (_wrong_parent_role, 403),
    "identity key under the wrong realm": (_under_covernode, 403),
    "stored key moved to another owner": (_moved, 409),
    "expired key": (_expired, 400),
    "the anchor posted as its own child": (_anchor_again, 403),
    "organisation role": (lambda o: _new_messaging(o) | {"role": "organization"}, 400),
    "unknown role": (lambda o: _new_messaging(o) | {"role": "root"}, 400),
    "provisioning key with an owner": (
        lambda o: key_submission(o.covernode_provisioning, None, o.root) | {"owner": "x"},
        400,
    ),
    "owner too long": (lambda o: _new_messaging(o) | {"owner": "x" * 129}, 400),
    "parent_key not hex": (lambda o: _new_messaging(o) | {"parent_key": "zz"}, 400),
    "key missing": (lambda o: _new_messaging(o) | {"key": None}, 400),
    "not an object": (lambda o: "key", 400),
}


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("name", sorted(KEY_REFUSALS))
def test_bad_keys_are_refused(edge: TestClient, organization: Organisation, name: str) -> None:
    assert_post_refused(edge, "/v1/keys", KEY_REFUSALS[name], organization)


def test_a_key_under_an_expired_parent_is_refused(
    edge: TestClient, organization: Organisation, clock: FixedClock, store: EdgeStore
) -> None:
    successor = generate_messaging_key(
        KeyRole.JOURNALIST_MSG,
        alice(organization).identity,
        NOW + timedelta(weeks=7),
    )
    clock.advance(timedelta(weeks=8, seconds=1))  # the journalist identity key has expired
    before = stored_rows(store.path)
    body = key_submission(successor, JOURNALIST_ID, alice(organization).identity)
    assert_refused(edge.post("/v1/keys", json=body), 403)
    assert stored_rows(store.path) == before


# --- POST dead drops ----------------------------------------------------------------------


def _forged_dead_drop(o: Organisation) -> dict[str, Any]:
    body = user_dead_drop(o, NOW).to_json()
    body["signature"] = flip_last_hex(body["signature"])
    return body


def _unknown_signer_dead_drop(o: Organisation) -> dict[str, Any]:
    genuine = user_dead_drop(o, NOW)
    stranger = SigningKeyPair.generate()
    signature = stranger.sign(user_signed_digest(genuine.data, NOW))
    return UserDeadDrop(NOW, genuine.data, signature).to_json()


def _wrong_entry_size(o: Organisation) -> dict[str, Any]:
    body = user_dead_drop(o, NOW).to_json()
    body["data"] = b64_encode(bytes(552))
    return body


USER_DEAD_DROP_REFUSALS: dict[str, Refusal] = {
    "forged signature": (_forged_dead_drop, 403),
    "signed by an unknown key": (_unknown_signer_dead_drop, 403),
    "entries of the wrong size": (_wrong_entry_size, 400),
    "bad created_at": (lambda o: _forged_dead_drop(o) | {"created_at": "yesterday"}, 400),
    "a journalist dead drop": (
        lambda o: journalist_dead_drop(o, NOW).to_json() | {"data": "AAAA"},
        400,
    ),
    "not an object": (lambda o: [1, 2], 400),
}


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("name", sorted(USER_DEAD_DROP_REFUSALS))
def test_bad_user_dead_drops_are_refused(
    edge: TestClient, organization: Organisation, name: str
) -> None:
    assert_post_refused(edge, "/v1/user/dead-drops", USER_DEAD_DROP_REFUSALS[name], organization)


JOURNALIST_DEAD_DROP_REFUSALS: dict[str, Refusal] = {
    "epoch newer than every key": (
        lambda o: journalist_dead_drop(o, NOW, epoch=7).to_json(),
        400,
    ),
    "epoch changed after signing": (
        lambda o: journalist_dead_drop(o, NOW, epoch=2).to_json() | {"epoch": 3},
        403,
    ),
    "no epoch": (
        lambda o: user_dead_drop(o, NOW).to_json(),
        400,
    ),
    "epoch as a string": (
        lambda o: journalist_dead_drop(o, NOW).to_json() | {"epoch": "1"},
        400,
    ),
}


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("name", sorted(JOURNALIST_DEAD_DROP_REFUSALS))
def test_bad_journalist_dead_drops_are_refused(
    edge: TestClient, organization: Organisation, name: str
) -> None:
    assert_post_refused(
        edge, "/v1/journalist/dead-drops", JOURNALIST_DEAD_DROP_REFUSALS[name], organization
    )


@pytest.mark.usefixtures("untouched")
def test_a_dead_drop_signed_by_an_expired_identity_key_is_refused(
    edge: TestClient, organization: Organisation, clock: FixedClock
) -> None:
    body = user_dead_drop(organization, NOW)
    clock.advance(timedelta(weeks=4, seconds=1))
    assert_refused(edge.post("/v1/user/dead-drops", json=body.to_json()), 403)
