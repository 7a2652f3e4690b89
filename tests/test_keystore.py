"""Tests for quietline.keystore: secret key files, typed loaders and recipient bundles.

Files are written whole with mode 0600; a certified key and a bundle survive a round trip
through their files; the typed loaders hand back exactly the role asked for and name the
file when it holds anything else.
"""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quietline.keystore import (
    Bundle,
    certified_key_from_json,
    certified_key_to_json,
    read_bundle,
    read_encryption_key,
    read_json,
    read_signing_key,
    write_private,
    write_private_json,
)
from quietline.protocol.certificates import KeyRole
from quietline.protocol.errors import MalformedInput
from quietline.protocol.hierarchy import JournalistProfile
from quietline.protocol.recipients import RecipientId
from tests.support.organisation import Organisation

NOW = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def org() -> Organisation:
    return Organisation.create(NOW, ("alice",))


def test_a_private_file_is_0600_and_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "secret.json"
    write_private(path, b"first")
    write_private(path, b"second")
    assert path.read_bytes() == b"second"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret.json"]


def test_read_json_names_a_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(b"{not json")
    with pytest.raises(MalformedInput, match=r"broken\.json"):
        read_json(path)
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "missing.json")


def test_every_certified_key_round_trips_through_its_file(
    org: Organisation, tmp_path: Path
) -> None:
    for link in org.key_chain():
        path = tmp_path / f"{link.key.role.value}.json"
        write_private_json(path, certified_key_to_json(link.key))
        assert certified_key_from_json(read_json(path)) == link.key


def test_the_typed_loaders_return_the_role_asked_for_or_name_the_file(
    org: Organisation, tmp_path: Path
) -> None:
    identity = tmp_path / "identity.json"
    messaging = tmp_path / "messaging.json"
    write_private_json(identity, certified_key_to_json(org.covernode_identity))
    write_private_json(messaging, certified_key_to_json(org.covernode_messaging))

    assert read_signing_key(identity, KeyRole.COVERNODE_ID) == org.covernode_identity
    assert read_encryption_key(messaging, KeyRole.COVERNODE_MSG) == org.covernode_messaging
    with pytest.raises(MalformedInput, match=r"identity\.json.*covernode_id key, not a journ"):
        read_signing_key(identity, KeyRole.JOURNALIST_ID)
    with pytest.raises(MalformedInput, match=r"messaging\.json"):
        read_signing_key(messaging, KeyRole.COVERNODE_MSG)
    with pytest.raises(MalformedInput, match=r"identity\.json"):
        read_encryption_key(identity, KeyRole.COVERNODE_ID)


def test_a_key_file_whose_secret_does_not_match_its_public_half_is_refused(
    org: Organisation,
) -> None:
    document = certified_key_to_json(org.covernode_identity)
    document["secret"] = certified_key_to_json(org.journalist_provisioning)["secret"]
    with pytest.raises(MalformedInput, match="does not match"):
        certified_key_from_json(document)


@settings(max_examples=25)
@given(st.text(max_size=40), st.text(max_size=40), st.booleans(), st.booleans())
def test_a_bundle_round_trips_through_its_file(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    description: str,
    is_desk: bool,
    default: bool,
) -> None:
    org = Organisation.create(NOW, ("alice",))
    alice = org.recipients[RecipientId("alice")]
    profile = JournalistProfile.create("alice", name, description, is_desk=is_desk)
    bundle = Bundle(profile, alice.identity, alice.messaging, default)
    path = tmp_path_factory.mktemp("bundle") / "alice.json"
    write_private_json(path, bundle.to_json())
    assert read_bundle(path) == bundle


def test_a_bundle_with_keys_in_the_wrong_roles_is_refused(
    org: Organisation, tmp_path: Path
) -> None:
    alice = org.recipients[RecipientId("alice")]
    document = Bundle(alice.profile, alice.identity, alice.messaging, False).to_json()
    swapped = {**document, "identity": certified_key_to_json(org.journalist_provisioning)}
    path = tmp_path / "alice.json"
    path.write_text(json.dumps(swapped))
    with pytest.raises(MalformedInput, match=r"alice\.json.*journalist_id"):
        read_bundle(path)
