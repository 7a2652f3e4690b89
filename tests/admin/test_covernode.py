"""Certifying the mixer's identity keys ahead of time (quietline.admin.covernode): the
turns, the files the mixer's folder gets, and the public list the admin keeps."""

import json
import stat
from datetime import timedelta

import pytest

from quietline.admin.ceremony import renew
from quietline.admin.covernode import certified_identities, certify_mixer, mixer_keys
from quietline.admin.layout import COVERNODE_ID, Layout
from quietline.admin.revocation import revoke
from quietline.keystore import read_json, read_signing_key
from quietline.mixer.keys import CoverNodeKeys
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.constants import (
    COVERNODE_ID_KEY_ROTATE_AFTER,
    COVERNODE_ID_KEY_VALIDITY,
    PROVISIONING_KEY_ROTATE_AFTER,
    PROVISIONING_KEY_VALIDITY,
)
from quietline.protocol.errors import KeyUnavailable
from tests.admin.ceremonies import INIT_AT

NOW = INIT_AT
TURN = COVERNODE_ID_KEY_ROTATE_AFTER


def test_certify_mixer_continues_the_turns_after_the_last_one(layout: Layout) -> None:
    lines: list[str] = []
    made = certify_mixer(layout, NOW + timedelta(weeks=3), lines.append, count=2)
    assert [identity.starts_at for identity in made] == [NOW + 4 * TURN, NOW + 5 * TURN]
    for identity in made:
        assert identity.key.not_valid_after == identity.starts_at + COVERNODE_ID_KEY_VALIDITY
    # The public list keeps every identity certified, in turn order.
    certified = certified_identities(layout)
    assert [identity.starts_at for identity in certified] == [NOW + n * TURN for n in range(6)]
    assert certified[-2:] == made
    assert len(lines) == 1
    assert "certified 2 identity keys" in lines[0]
    assert str(layout.covernode) in lines[0]


def test_certify_mixer_writes_the_mixers_folder_and_no_secret_of_the_admins(
    layout: Layout,
) -> None:
    certify_mixer(layout, NOW, lambda _: None, count=2)
    provisioning = read_signing_key(layout.covernode_provisioning, KeyRole.COVERNODE_PROVISIONING)
    assert stat.S_IMODE(layout.covernode.stat().st_mode) == 0o700
    (public,) = layout.covernode.glob("provisioning-*.pub.json")
    assert SignedKey.from_json(read_json(public)) == provisioning.published
    assert "secret" not in json.loads(public.read_text())
    identity_files = sorted(layout.covernode.glob("identity-*.json"))
    assert len(identity_files) == 6
    for path in identity_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        identity = read_signing_key(path, KeyRole.COVERNODE_ID)
        identity.published.verify_certificate(provisioning.pair.public)
    assert sorted(path.name for path in layout.covernode.iterdir()) == sorted(
        [public.name, *(path.name for path in identity_files)]
    )
    # The mixer takes the folder as it is, and the public list names the same keys.
    keys = CoverNodeKeys.load(layout.covernode, COVERNODE_ID)
    assert {key.published for key in keys.identities.values()} == {
        identity.key for identity in certified_identities(layout)
    }
    assert {identity.provisioning for identity in certified_identities(layout)} == {
        provisioning.published.key
    }
    # The public list holds public halves only.
    assert "secret" not in layout.covernode_identities.read_text()


def test_certify_mixer_after_the_last_turn_starts_now(layout: Layout) -> None:
    later = NOW + 9 * TURN  # every identity init certified has had its turn
    (identity,) = certify_mixer(layout, later, lambda _: None, count=1)
    assert identity.starts_at == later


def test_certify_mixer_uses_the_renewed_provisioning_key(layout: Layout) -> None:
    due = NOW + PROVISIONING_KEY_ROTATE_AFTER
    renew(layout, due, lambda _: None)
    renewed = read_signing_key(layout.covernode_provisioning, KeyRole.COVERNODE_PROVISIONING)
    (identity,) = certify_mixer(layout, due, lambda _: None, count=1)
    assert identity.provisioning == renewed.published.key
    # Both provisioning keys' public halves are in the folder: the mixer names each
    # identity's parent from them.
    assert len(list(layout.covernode.glob("provisioning-*.pub.json"))) == 2
    keys = CoverNodeKeys.load(layout.covernode, COVERNODE_ID)
    assert keys.current_identity(due).published == identity.key
    assert keys.provisioning_of(keys.current_identity(due)) == renewed.published


def test_certify_mixer_with_an_expired_provisioning_key_says_so(layout: Layout) -> None:
    with pytest.raises(KeyUnavailable):
        certify_mixer(layout, NOW + PROVISIONING_KEY_VALIDITY + TURN, lambda _: None)


def test_certify_mixer_after_a_seizure_starts_now_not_after_the_revoked_turns(
    layout: Layout,
) -> None:
    seized = NOW + timedelta(weeks=1)
    revoke(layout, seized, mixer_keys(layout, seized), lambda _: None)
    made = certify_mixer(layout, seized, lambda _: None, count=2)
    assert [identity.starts_at for identity in made] == [seized, seized + TURN]
    # Further certifications continue after the fresh run.
    (after,) = certify_mixer(layout, seized, lambda _: None, count=1)
    assert after.starts_at == seized + 2 * TURN
