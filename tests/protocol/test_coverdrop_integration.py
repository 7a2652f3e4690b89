"""CoverDrop's published vectors: real key hierarchies, dead drops and journalist entries.

The ``integration`` snapshots come from a live CoverDrop stack (2023-10-04); each step
is checked at the stack's own ``timestamp``, never the wall clock. The
``crypto/*/journalist_dead_drop`` files are raw C2J entries from CoverDrop's test
generator. CoverDrop publishes no role statements, so its hierarchies are verified as a
reader of a CoverDrop deployment verifies them (``require_roles=False``). Every test
skips when ``../shared/vectors/coverdrop`` is absent.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.deaddrops import (
    BODY_TYPES,
    B,
    DeadDrop,
    DeadDropKind,
    JournalistDeadDrop,
    JournalistTrialDecryptor,
    UserDeadDrop,
    UserTrialDecryptor,
    needs_newer_keys,
    parse_dead_drop_list,
)
from quietline.protocol.encoding import b64_encode, parse_rfc3339
from quietline.protocol.errors import BadSignature, MalformedInput, UntrustedKey
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.keys import CoverNodeMessagingKey, EncryptionKeyPair, ReplyKey
from quietline.protocol.messages import ENCRYPTED_C2J, J2UType
from quietline.protocol.recipients import RecipientTag
from quietline.protocol.verification import VerifiedKeys, verify_published_keys
from tests.protocol.keyring import build_keyring

pytestmark = pytest.mark.vectors

SCENARIOS: dict[str, tuple[str, ...]] = {
    "messaging_scenario": (
        "001_initial_state",
        "002_user_sent_message_and_processed",
        "003_journalist_replied_and_processed",
        "004_dead_drop_expired_and_no_longer_displayed",
    ),
    "minimal_scenario": ("001_default",),
    "set_system_status": ("001_initial_status", "002_status_available", "003_status_unavailable"),
}
STEPS = [(scenario, step) for scenario, steps in SCENARIOS.items() for step in steps]
REPLY_STEP = ("messaging_scenario", "003_journalist_replied_and_processed")
REPLY_TEXT = "This is a test message from the journalist to the user"
ALL_ROLES = frozenset(KeyRole)
# By step 004 the journalist's messaging key had expired and the stack stopped publishing it.
EXPECTED_ROLES = {
    step: ALL_ROLES - {KeyRole.JOURNALIST_MSG}
    if step == ("messaging_scenario", "004_dead_drop_expired_and_no_longer_displayed")
    else ALL_ROLES
    for step in STEPS
}
ENTITIES = {DeadDropKind.USER: "user_dead_drops", DeadDropKind.JOURNALIST: "journalist_dead_drops"}
# Between the messaging keys' expiry (2023-10-18) and the identity keys' (2023-11-01).
AFTER_MESSAGING_KEYS = datetime(2023, 10, 25, tzinfo=UTC)
# Past the provisioning keys (2024-03-20), before the organisation key (2024-10-02).
AFTER_PROVISIONING_KEYS = datetime(2024, 5, 1, tzinfo=UTC)
AFTER_ORGANIZATION_KEY = datetime(2024, 10, 3, tzinfo=UTC)


@pytest.fixture
def integration(coverdrop_vectors: Path) -> Path:
    return coverdrop_vectors / "integration"


@pytest.fixture
def anchor(integration: Path) -> SignedKey:
    return SignedKey.from_json(read_json(integration / "keys" / "organization-73ee6a1a.pub.json"))


@pytest.fixture
def user_key(integration: Path) -> EncryptionKeyPair:
    document = read_json(integration / "keys" / "user-4511b55a.keypair.json")
    pair = EncryptionKeyPair.from_secret(bytes.fromhex(document["secret_key"]))
    assert pair.public.hex() == document["public_key"]["key"]
    return pair


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def snapshot(integration: Path, scenario: str, entity: str, step: str) -> Any:
    return read_json(integration / scenario / entity / f"{step}.json")


def step_time(integration: Path, scenario: str, step: str) -> datetime:
    return parse_rfc3339(snapshot(integration, scenario, "timestamp", step))


def published_keys(integration: Path, scenario: str, step: str) -> PublishedKeys:
    return PublishedKeys.from_json(snapshot(integration, scenario, "published_keys", step))


def verified_at_step(
    integration: Path, anchor: SignedKey, scenario: str, step: str
) -> VerifiedKeys:
    verification = verify_published_keys(
        published_keys(integration, scenario, step),
        [anchor],
        step_time(integration, scenario, step),
        require_roles=False,
    )
    assert verification.rejected == ()
    return verification.verified


def dead_drops(
    integration: Path, body_type: type[B], scenario: str, step: str
) -> list[DeadDrop[B]]:
    document = snapshot(integration, scenario, ENTITIES[body_type.KIND], step)
    return parse_dead_drop_list(body_type, document)


def published_key_count(document: Any) -> int:
    """How many distinct keys a published-keys document lists, counted from the raw JSON."""
    keys: set[str] = set()
    for family in document["keys"]:
        keys.add(family["org_pk"]["key"])
        for realm in ("covernodes", "journalists"):
            for provisioning in family[realm]:
                keys.add(provisioning["provisioning_pk"]["key"])
                for identities in provisioning[realm].values():
                    for identity in identities:
                        keys.add(identity["id_pk"]["key"])
                        keys.update(key["key"] for key in identity["msg_pks"])
    return len(keys)


# --- published keys -----------------------------------------------------------------------


def test_the_scenario_list_covers_every_snapshot(integration: Path) -> None:
    on_disk = {
        scenario.name: tuple(sorted(p.stem for p in (scenario / "timestamp").glob("*.json")))
        for scenario in integration.iterdir()
        if scenario.is_dir() and scenario.name != "keys"
    }

    assert on_disk == SCENARIOS


def test_the_anchor_is_the_organisation_key_every_scenario_publishes(
    integration: Path, anchor: SignedKey
) -> None:
    for scenario, step in STEPS:
        (family,) = published_keys(integration, scenario, step).families
        assert family.organization == anchor


@pytest.mark.parametrize(("scenario", "step"), STEPS)
def test_every_published_key_verifies_from_the_anchor_at_the_step_time(
    integration: Path, anchor: SignedKey, scenario: str, step: str
) -> None:
    document = snapshot(integration, scenario, "published_keys", step)

    verification = verify_published_keys(
        PublishedKeys.from_json(document),
        [anchor],
        step_time(integration, scenario, step),
        require_roles=False,
    )

    assert [rejected.describe() for rejected in verification.rejected] == []
    roles = Counter(key.role for key in verification.verified.keys)
    assert set(roles) == EXPECTED_ROLES[scenario, step]
    assert roles[KeyRole.ORGANIZATION] == 1
    assert len(verification.verified.keys) == published_key_count(document)
    assert verification.verified.max_epoch == document["max_epoch"]


@pytest.mark.parametrize(("scenario", "step"), STEPS)
def test_every_profile_tag_is_the_hash_of_its_id(
    integration: Path, anchor: SignedKey, scenario: str, step: str
) -> None:
    published = published_keys(integration, scenario, step)
    verified = verified_at_step(integration, anchor, scenario, step)

    assert published.profiles
    for profile in published.profiles:
        assert profile.tag == RecipientTag.of(profile.id)
    assert verified.profiles == published.profiles
    assert [profile.id for profile in verified.profiles] == ["static_test_journalist"]


@pytest.mark.parametrize(("scenario", "step"), STEPS)
def test_the_published_keys_json_round_trips(integration: Path, scenario: str, step: str) -> None:
    published = published_keys(integration, scenario, step)

    assert PublishedKeys.from_json(json.loads(json.dumps(published.to_json()))) == published


def test_keys_past_their_expiry_are_rejected_by_name(integration: Path, anchor: SignedKey) -> None:
    published = published_keys(integration, *REPLY_STEP)

    verification = verify_published_keys(
        published, [anchor], AFTER_MESSAGING_KEYS, require_roles=False
    )

    rejected = {r.role: r for r in verification.rejected}
    assert set(rejected) == {KeyRole.COVERNODE_MSG, KeyRole.JOURNALIST_MSG}
    journalist_msg = rejected[KeyRole.JOURNALIST_MSG]
    assert journalist_msg.reason == "expired at 2023-10-18T19:06:19Z"
    assert journalist_msg.describe().startswith(
        "journalist_msg key of static_test_journalist bd481b297b520da8…: expired at"
    )
    assert rejected[KeyRole.COVERNODE_MSG].reason.startswith("expired at 2023-10-18T19:06:22")
    assert rejected[KeyRole.COVERNODE_MSG].owner == "covernode_001"
    assert KeyRole.COVERNODE_ID in {key.role for key in verification.verified.keys}


def test_an_expired_provisioning_key_takes_its_whole_branch_with_it(
    integration: Path, anchor: SignedKey
) -> None:
    published = published_keys(integration, *REPLY_STEP)

    verification = verify_published_keys(
        published, [anchor], AFTER_PROVISIONING_KEYS, require_roles=False
    )

    assert [key.role for key in verification.verified.keys] == [KeyRole.ORGANIZATION]
    reasons = {r.role: r.reason for r in verification.rejected}
    assert reasons[KeyRole.COVERNODE_PROVISIONING].startswith("expired at 2024-03-20")
    assert reasons[KeyRole.JOURNALIST_PROVISIONING].startswith("expired at 2024-03-20")
    for role in (KeyRole.COVERNODE_ID, KeyRole.COVERNODE_MSG, KeyRole.JOURNALIST_ID):
        assert reasons[role] == "its signing key was rejected"
    assert verification.verified.profiles == ()


def test_past_the_organisation_key_nothing_is_trusted(integration: Path, anchor: SignedKey) -> None:
    with pytest.raises(UntrustedKey):
        verify_published_keys(
            published_keys(integration, *REPLY_STEP),
            [anchor],
            AFTER_ORGANIZATION_KEY,
            require_roles=False,
        )


def test_a_different_pinned_organisation_rejects_everything(integration: Path) -> None:
    now = step_time(integration, *REPLY_STEP)
    ours = build_keyring(now).anchor

    verification = verify_published_keys(
        published_keys(integration, *REPLY_STEP), [ours], now, require_roles=False
    )

    assert verification.verified.keys == ()
    reasons = Counter(r.reason for r in verification.rejected)
    assert reasons == {"not a pinned organisation anchor": 1, "its signing key was rejected": 6}


@pytest.mark.parametrize("field", ["certificate", "not_valid_after"])
def test_a_tampered_anchor_is_untrusted(integration: Path, anchor: SignedKey, field: str) -> None:
    document = anchor.to_json()
    if field == "certificate":
        document["certificate"] = "00" + document["certificate"][2:]
    else:
        document["not_valid_after"] = "2025-10-02T19:06:19Z"
    now = step_time(integration, *REPLY_STEP)

    with pytest.raises(UntrustedKey):
        verify_published_keys(
            published_keys(integration, *REPLY_STEP),
            [SignedKey.from_json(document)],
            now,
            require_roles=False,
        )


def test_a_quietline_reader_trusts_no_provisioning_key_of_a_coverdrop_document(
    integration: Path, anchor: SignedKey
) -> None:
    # Without the organisation's role statements nothing says which realm a provisioning
    # key certifies, so a reader that requires them stops at the organisation key.
    scenario, step = REPLY_STEP
    document = snapshot(integration, scenario, "published_keys", step)
    assert "quietline" not in document
    published = PublishedKeys.from_json(document)

    verification = verify_published_keys(published, [anchor], step_time(integration, *REPLY_STEP))

    assert not published.statements
    assert [key.role for key in verification.verified.keys] == [KeyRole.ORGANIZATION]
    reasons = {r.role: r.reason for r in verification.rejected}
    assert reasons[KeyRole.COVERNODE_PROVISIONING] == (
        "no statement of the organisation binds it to the covernodes"
    )
    assert reasons[KeyRole.JOURNALIST_PROVISIONING] == (
        "no statement of the organisation binds it to the journalists"
    )
    assert "quietline" not in published.to_json()  # CoverDrop's readers refuse unknown fields


# --- dead drops ---------------------------------------------------------------------------


def parsed_and_verified(
    integration: Path, verified: VerifiedKeys, body_type: type[B], scenario: str, step: str
) -> list[DeadDrop[B]]:
    """Every dead drop of ``body_type`` at one step, each checked as a reader checks it."""
    document = snapshot(integration, scenario, ENTITIES[body_type.KIND], step)

    parsed = parse_dead_drop_list(body_type, document)

    assert [d.id for d in parsed] == [item["id"] for item in document["dead_drops"]]
    for dead_drop in parsed:
        dead_drop.body.verify(verified)
        entries = dead_drop.body.entries()
        assert entries
        assert {len(entry.data) for entry in entries} == {body_type.KIND.entry_size}
    return parsed


@pytest.mark.parametrize("kind", list(DeadDropKind))
@pytest.mark.parametrize(("scenario", "step"), STEPS)
def test_every_dead_drop_parses_and_its_signature_verifies(
    integration: Path, anchor: SignedKey, scenario: str, step: str, kind: DeadDropKind
) -> None:
    verified = verified_at_step(integration, anchor, scenario, step)

    if kind is DeadDropKind.USER:
        parsed_and_verified(integration, verified, UserDeadDrop, scenario, step)
    else:
        # Only journalist dead drops carry an epoch that can ask for newer keys.
        for dead_drop in parsed_and_verified(
            integration, verified, JournalistDeadDrop, scenario, step
        ):
            assert not needs_newer_keys(dead_drop, verified)


def test_the_vectors_hold_dead_drops_of_both_kinds(integration: Path) -> None:
    counts = {
        DeadDropKind.USER: sum(len(dead_drops(integration, UserDeadDrop, *s)) for s in STEPS),
        DeadDropKind.JOURNALIST: sum(
            len(dead_drops(integration, JournalistDeadDrop, *s)) for s in STEPS
        ),
    }

    assert counts == {DeadDropKind.USER: 4, DeadDropKind.JOURNALIST: 4}


def test_the_legacy_cert_field_is_accepted_and_changes_nothing(integration: Path) -> None:
    document = snapshot(integration, "minimal_scenario", "journalist_dead_drops", "001_default")
    assert all("cert" in item for item in document["dead_drops"])
    without = {
        "dead_drops": [{k: v for k, v in d.items() if k != "cert"} for d in document["dead_drops"]]
    }

    assert parse_dead_drop_list(JournalistDeadDrop, document) == parse_dead_drop_list(
        JournalistDeadDrop, without
    )


def replace_char(text: str, index: int, alphabet: str) -> str:
    """``text`` with the character at ``index`` swapped for another one of ``alphabet``."""
    current = text[index]
    replacement = next(c for c in alphabet if c != current)
    return text[:index] + replacement + text[index + 1 :]


BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def tamper_data(item: dict[str, Any]) -> None:
    item["data"] = replace_char(item["data"], len(item["data"]) // 2, BASE64)


def tamper_whole_seconds(item: dict[str, Any]) -> None:
    # "2023-10-04T19:06:41.298790Z": index 18 is the last digit of the seconds.
    item["created_at"] = replace_char(item["created_at"], 18, "0123456789")


def tamper_epoch(item: dict[str, Any]) -> None:
    item["epoch"] += 1


def tamper_signature(item: dict[str, Any]) -> None:
    item["signature"] = replace_char(item["signature"], 10, "0123456789abcdef")


@pytest.mark.parametrize(
    ("kind", "tamper"),
    [
        (DeadDropKind.USER, tamper_data),
        (DeadDropKind.USER, tamper_whole_seconds),
        (DeadDropKind.USER, tamper_signature),
        (DeadDropKind.JOURNALIST, tamper_data),
        (DeadDropKind.JOURNALIST, tamper_whole_seconds),
        (DeadDropKind.JOURNALIST, tamper_epoch),
        (DeadDropKind.JOURNALIST, tamper_signature),
    ],
)
def test_changing_one_signed_field_breaks_the_signature(
    integration: Path,
    anchor: SignedKey,
    kind: DeadDropKind,
    tamper: Callable[[dict[str, Any]], None],
) -> None:
    verified = verified_at_step(integration, anchor, *REPLY_STEP)
    document = snapshot(integration, *REPLY_STEP[:1], ENTITIES[kind], REPLY_STEP[1])
    (item,) = document["dead_drops"]
    BODY_TYPES[kind].from_json(item).verify(verified)

    tamper(item)
    tampered = BODY_TYPES[kind].from_json(item)

    with pytest.raises(BadSignature):
        tampered.verify(verified)


def test_only_whole_seconds_of_created_at_are_signed(integration: Path, anchor: SignedKey) -> None:
    verified = verified_at_step(integration, anchor, *REPLY_STEP)
    document = snapshot(integration, REPLY_STEP[0], "user_dead_drops", REPLY_STEP[1])
    (item,) = document["dead_drops"]
    item["created_at"] = item["created_at"][:19] + "Z"

    DeadDrop.from_json(UserDeadDrop, item).body.verify(verified)


def test_dead_drops_cannot_be_verified_once_every_covernode_identity_key_expired(
    integration: Path, anchor: SignedKey
) -> None:
    published = published_keys(integration, *REPLY_STEP)
    later = verify_published_keys(
        published, [anchor], datetime(2023, 11, 5, tzinfo=UTC), require_roles=False
    )
    (dead_drop,) = dead_drops(integration, UserDeadDrop, *REPLY_STEP)

    assert not later.verified.of_role(KeyRole.COVERNODE_ID)
    with pytest.raises(BadSignature):
        dead_drop.body.verify(later.verified)


# --- the user reading replies -------------------------------------------------------------


@pytest.mark.parametrize(("scenario", "step"), STEPS)
def test_the_user_finds_the_one_reply_and_nothing_else(
    integration: Path,
    anchor: SignedKey,
    user_key: EncryptionKeyPair,
    scenario: str,
    step: str,
) -> None:
    verified = verified_at_step(integration, anchor, scenario, step)
    decryptor = UserTrialDecryptor(user_key, verified)

    replies = [
        reply
        for dead_drop in dead_drops(integration, UserDeadDrop, scenario, step)
        for reply in decryptor.open(dead_drop)
    ]

    if (scenario, step) != REPLY_STEP:
        assert replies == []
        return
    (reply,) = replies
    assert reply.dead_drop_id == 1
    assert reply.journalist_id == "static_test_journalist"
    assert reply.message.type is J2UType.TEXT
    assert reply.message.body.text() == REPLY_TEXT


def test_the_minimal_scenario_has_user_dead_drops_but_no_reply(
    integration: Path, anchor: SignedKey, user_key: EncryptionKeyPair
) -> None:
    verified = verified_at_step(integration, anchor, "minimal_scenario", "001_default")
    user_drops = dead_drops(integration, UserDeadDrop, "minimal_scenario", "001_default")

    assert len(user_drops) == 3
    assert all(UserTrialDecryptor(user_key, verified).open(d) == [] for d in user_drops)


# --- crypto/*/journalist_dead_drop --------------------------------------------------------


def raw_vector(coverdrop_vectors: Path, generation: str, name: str) -> bytes:
    return (coverdrop_vectors / "crypto" / generation / "journalist_dead_drop" / name).read_bytes()


def test_the_common_journalist_dead_drop_opens_exactly_five_messages(
    coverdrop_vectors: Path,
) -> None:
    journalist = EncryptionKeyPair.from_secret(
        raw_vector(coverdrop_vectors, "common", "02_journalist_sk")
    )
    assert journalist.public.raw == raw_vector(coverdrop_vectors, "common", "01_journalist_pk")
    user_pk = ReplyKey(raw_vector(coverdrop_vectors, "common", "03_user_pk"))
    covernode_pk = CoverNodeMessagingKey(raw_vector(coverdrop_vectors, "common", "04_covernode_pk"))
    data = raw_vector(coverdrop_vectors, "common", "05_journalist_dead_drop")
    assert len(data) == 10 * DeadDropKind.JOURNALIST.entry_size
    decryptor = JournalistTrialDecryptor([journalist], [covernode_pk])

    opened = [
        decryptor.open_entry(ENCRYPTED_C2J.decode(data[i : i + 633]))
        for i in range(0, len(data), 633)
    ]

    messages = [message for message in opened if message is not None]
    assert len(messages) == 5
    for message in messages:
        assert message.reply_key == user_pk
        assert message.text.text() == "こんにちは"


def test_the_common_journalist_dead_drop_reads_the_same_as_a_whole_dead_drop(
    coverdrop_vectors: Path,
) -> None:
    journalist = EncryptionKeyPair.from_secret(
        raw_vector(coverdrop_vectors, "common", "02_journalist_sk")
    )
    covernode_pk = CoverNodeMessagingKey(raw_vector(coverdrop_vectors, "common", "04_covernode_pk"))
    data = raw_vector(coverdrop_vectors, "common", "05_journalist_dead_drop")
    unsigned = JournalistDeadDrop(datetime(2023, 10, 4, tzinfo=UTC), data, bytes(64), 0)

    received = JournalistTrialDecryptor([journalist], [covernode_pk]).open(unsigned.published(7))

    assert [(m.dead_drop_id, m.message.text.text()) for m in received] == [(7, "こんにちは")] * 5
    assert (
        JournalistTrialDecryptor([EncryptionKeyPair.generate()], [covernode_pk]).open(
            unsigned.published(7)
        )
        == []
    )


@pytest.mark.parametrize(
    ("generation", "name"),
    [
        ("common", "04_journalist_dead_drop"),
        ("ios", "04_journalist_dead_drop"),
        ("ios", "05_journalist_dead_drop"),
    ],
)
def test_stale_journalist_dead_drops_are_rejected_cleanly(
    coverdrop_vectors: Path, generation: str, name: str
) -> None:
    data = raw_vector(coverdrop_vectors, generation, name)
    assert len(data) % DeadDropKind.JOURNALIST.entry_size != 0

    with pytest.raises(MalformedInput):
        JournalistDeadDrop(datetime(2023, 10, 4, tzinfo=UTC), data, bytes(64), 0)
    item = {
        "id": 1,
        "created_at": "2023-10-04T19:06:41Z",
        "data": b64_encode(data),
        "signature": "00" * 64,
        "epoch": 0,
    }
    with pytest.raises(MalformedInput):
        DeadDrop.from_json(JournalistDeadDrop, item)


@pytest.mark.parametrize("generation", ["common", "ios"])
def test_slicing_a_stale_dead_drop_anyway_opens_nothing_and_raises_nothing(
    coverdrop_vectors: Path, generation: str
) -> None:
    journalist = EncryptionKeyPair.from_secret(
        raw_vector(coverdrop_vectors, generation, "02_journalist_sk")
    )
    covernode_pk = CoverNodeMessagingKey(
        raw_vector(coverdrop_vectors, generation, "04_covernode_pk")
    )
    decryptor = JournalistTrialDecryptor([journalist], [covernode_pk])
    size = DeadDropKind.JOURNALIST.entry_size

    for name in ("04_journalist_dead_drop", "05_journalist_dead_drop"):
        data = raw_vector(coverdrop_vectors, generation, name)
        if generation == "common" and name.startswith("05"):
            continue  # the current format, read above
        for start in range(0, len(data) - size + 1, size):
            assert decryptor.open_entry(ENCRYPTED_C2J.decode(data[start : start + size])) is None
