"""Tests for quietline.protocol.api: the edge API's routes and bodies as records.

Every record survives ``to_json`` → JSON text → ``from_json`` for any value it can hold
(Hypothesis), and each refuses what breaks its rules with MalformedInput: ranges of the
queue pull, the order of a queue page, who may have an owner, a status that contradicts
itself, a profile whose tag is not its id's.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quietline.protocol.api import (
    QUEUE_PULL_MAX,
    U2C_BODY_CAP,
    U2C_BODY_LEN,
    Direction,
    ErrorBody,
    J2CSubmission,
    KeyEpoch,
    KeySubmission,
    ProfileSubmission,
    Queued,
    QueuePage,
    QueuePull,
    Route,
    Status,
    StoredId,
    SystemStatus,
    parse_u2c_body,
    u2c_body,
)
from quietline.protocol.boxes import Codec
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.constants import U2C_ENCRYPTED_LEN
from quietline.protocol.deaddrops import DeadDropKind
from quietline.protocol.errors import MalformedInput
from quietline.protocol.hierarchy import JournalistProfile, PublishedKeys
from quietline.protocol.messages import ENCRYPTED_J2C, ENCRYPTED_U2C
from quietline.protocol.recipients import RecipientId, RecipientTag
from quietline.protocol.roles import RoleStatement
from tests.protocol.strategies import (
    epochs,
    moments,
    owned_roles,
    provisioning_roles,
    public_keys,
    recipient_ids,
    sequence_numbers,
    signatures,
    signed_keys,
)
from tests.support.coverdrop_clients import android_u2c_body, ios_u2c_body


def through_text(document: dict[str, Any]) -> object:
    """What the other side reads after the document crossed the wire as JSON text."""
    return json.loads(json.dumps(document))


def boxes(codec: Codec[Any]) -> st.SearchStrategy[Any]:
    return st.binary(min_size=codec.size, max_size=codec.size).map(codec.decode)


profiles = st.builds(
    JournalistProfile.create, recipient_ids, st.text(), st.text(), is_desk=st.booleans()
)


# --- routes and queues ---------------------------------------------------------------------


def test_every_route_is_an_absolute_path_of_coverdrops_api() -> None:
    assert str(Route.PUBLIC_KEYS) == "/v1/public-keys"
    assert str(Route.USER_MESSAGES) == "/user/messages"
    assert str(Route.REVOCATIONS) == "/v1/revocations"
    assert all(route.startswith("/") for route in Route)
    assert Route.dead_drops(DeadDropKind.USER) is Route.USER_DEAD_DROPS
    assert Route.dead_drops(DeadDropKind.JOURNALIST) is Route.JOURNALIST_DEAD_DROPS


def test_each_queue_feeds_the_dead_drops_of_the_other_side() -> None:
    assert Direction.USER.dead_drop_kind is DeadDropKind.JOURNALIST
    assert Direction.JOURNALIST.dead_drop_kind is DeadDropKind.USER


# --- what sources and desks send -------------------------------------------------------------


@given(boxes(ENCRYPTED_U2C))
def test_a_u2c_body_is_1033_bytes_and_round_trips(message: Any) -> None:
    body = u2c_body(message)
    assert len(body) == U2C_BODY_LEN == 1033
    assert parse_u2c_body(body) == message


@given(boxes(ENCRYPTED_U2C), st.sampled_from([android_u2c_body, ios_u2c_body]))
def test_a_u2c_body_as_either_coverdrop_app_writes_it_is_read(message: Any, app: Any) -> None:
    body = app(message.data)
    assert len(body) <= U2C_BODY_CAP
    assert parse_u2c_body(body) == message


@given(st.binary(min_size=U2C_ENCRYPTED_LEN, max_size=U2C_ENCRYPTED_LEN), st.data())
def test_any_mix_of_escaped_and_plain_slashes_padded_or_not_is_read(
    u2c: bytes, data: st.DataObject
) -> None:
    text = base64.b64encode(u2c).decode()
    if data.draw(st.booleans(), "unpadded"):
        text = text.rstrip("=")
    escapes = st.sampled_from(["/", "\\/"])
    escaped = "".join(data.draw(escapes) if c == "/" else c for c in text)
    body = f'"{escaped}"'.encode()
    assert len(body) <= U2C_BODY_CAP
    assert parse_u2c_body(body).data == u2c


@given(
    st.binary(max_size=2 * U2C_ENCRYPTED_LEN).filter(lambda b: len(b) != U2C_ENCRYPTED_LEN),
    st.sampled_from([android_u2c_body, ios_u2c_body]),
)
def test_a_body_of_any_other_length_is_refused(other: bytes, app: Any) -> None:
    with pytest.raises(MalformedInput):
        parse_u2c_body(app(other))


def test_the_cap_fits_a_u2c_whose_every_character_is_escaped() -> None:
    every_slash = b"\xff" * U2C_ENCRYPTED_LEN  # base64 "////...//8="
    body = ios_u2c_body(every_slash)
    assert len(body) == U2C_BODY_CAP - 2  # only the last "8=" is left unescaped
    assert parse_u2c_body(body).data == every_slash


@given(boxes(ENCRYPTED_J2C))
def test_a_j2c_submission_round_trips(message: Any) -> None:
    submission = J2CSubmission(message)
    assert J2CSubmission.from_json(through_text(submission.to_json())) == submission


# --- what is published ---------------------------------------------------------------------


@given(owned_roles, recipient_ids, public_keys, signed_keys)
def test_a_key_submission_with_an_owner_round_trips(
    role: KeyRole, owner: RecipientId, parent: bytes, key: SignedKey
) -> None:
    submission = KeySubmission(role, owner, parent, key)
    assert KeySubmission.from_json(through_text(submission.to_json())) == submission


@given(provisioning_roles, public_keys, signed_keys, signatures)
def test_a_provisioning_key_submission_round_trips(
    role: KeyRole, parent: bytes, key: SignedKey, role_signature: bytes
) -> None:
    submission = KeySubmission(role, None, parent, key, role_signature)
    assert KeySubmission.from_json(through_text(submission.to_json())) == submission
    assert submission.role_statement == RoleStatement(key.key, role, role_signature)


def test_only_provisioning_keys_are_ownerless_and_the_organisation_key_is_never_posted() -> None:
    key = SignedKey(bytes(32), bytes(64), datetime.fromisoformat("2030-01-01T00:00:00+00:00"))
    owner = RecipientId("alice")
    with pytest.raises(MalformedInput):
        KeySubmission(KeyRole.JOURNALIST_ID, None, bytes(32), key)
    with pytest.raises(MalformedInput):
        KeySubmission(KeyRole.COVERNODE_PROVISIONING, owner, bytes(32), key, bytes(64))
    with pytest.raises(MalformedInput):
        KeySubmission(KeyRole.ORGANIZATION, None, bytes(32), key)
    with pytest.raises(MalformedInput):
        KeySubmission.from_json({**KeySubmission(KeyRole.JOURNALIST_MSG, owner, bytes(32), key)
                                 .to_json(), "owner": "a/b"})  # fmt: skip


def test_only_provisioning_keys_carry_a_role_signature() -> None:
    key = SignedKey(bytes(32), bytes(64), datetime.fromisoformat("2030-01-01T00:00:00+00:00"))
    owner = RecipientId("alice")
    with pytest.raises(MalformedInput, match="role signature"):
        KeySubmission(KeyRole.JOURNALIST_PROVISIONING, None, bytes(32), key)
    with pytest.raises(MalformedInput, match="role signature"):
        KeySubmission(KeyRole.JOURNALIST_ID, owner, bytes(32), key, bytes(64))
    owned = KeySubmission(KeyRole.JOURNALIST_ID, owner, bytes(32), key)
    assert "role_signature" not in owned.to_json()
    assert owned.role_statement is None
    provisioning = KeySubmission(KeyRole.COVERNODE_PROVISIONING, None, bytes(32), key, bytes(64))
    for signature in (None, "00" * 63, "zz" * 64, 64):
        body = {**provisioning.to_json(), "role_signature": signature}
        with pytest.raises(MalformedInput):
            KeySubmission.from_json(body)


@given(epochs, sequence_numbers)
def test_an_epoch_and_a_stored_id_round_trip(epoch: int, number: int) -> None:
    assert KeyEpoch.from_json(through_text(KeyEpoch(epoch).to_json())) == KeyEpoch(epoch)
    assert StoredId.from_json(through_text(StoredId(number).to_json())) == StoredId(number)


@pytest.mark.parametrize("number", [-1, 2**63, 2**64, True, 1.5, "7"])
def test_a_stored_id_or_queue_seq_out_of_range_is_refused(number: object) -> None:
    # A hostile edge's answer: SQLite stores nothing beyond a signed 64-bit integer.
    box = ENCRYPTED_U2C.decode(bytes(ENCRYPTED_U2C.size))
    page = QueuePage((Queued(1, box),)).to_json(ENCRYPTED_U2C)
    page["messages"][0]["seq"] = number
    with pytest.raises(MalformedInput):
        StoredId.from_json({"id": number})
    with pytest.raises(MalformedInput):
        QueuePage.from_json(ENCRYPTED_U2C, page)


@pytest.mark.parametrize("epoch", [-1, 2**31, 2**63 - 1, 2**63])
def test_an_epoch_beyond_what_a_dead_drop_can_sign_is_refused(epoch: int) -> None:
    # An epoch is signed as an i32BE: a larger one would crash the mixer's signing.
    with pytest.raises(MalformedInput):
        KeyEpoch.from_json({"epoch": epoch})
    with pytest.raises(MalformedInput):
        PublishedKeys.from_json({"keys": [], "max_epoch": epoch})


def test_a_queue_page_entry_that_is_not_a_submission_is_listed_unreadable() -> None:
    box = ENCRYPTED_U2C.decode(bytes(ENCRYPTED_U2C.size))
    document = QueuePage((Queued(3, box), Queued(5, box), Queued(9, box))).to_json(ENCRYPTED_U2C)
    document["messages"][1]["data"] = "AAAA"  # three bytes, not a U2C
    document["messages"][2]["data"] = 17
    page = QueuePage.from_json(ENCRYPTED_U2C, document)
    assert [item.seq for item in page.messages] == [3]
    assert page.unreadable == (5, 9)
    assert page.seqs == (3, 5, 9)


def test_a_queue_page_longer_than_any_pull_asks_for_is_refused() -> None:
    box = ENCRYPTED_U2C.decode(bytes(ENCRYPTED_U2C.size))
    items = tuple(Queued(seq, box) for seq in range(1, QUEUE_PULL_MAX + 2))
    with pytest.raises(MalformedInput, match="at most"):
        QueuePage.from_json(ENCRYPTED_U2C, QueuePage(items).to_json(ENCRYPTED_U2C))


@given(profiles, st.booleans())
def test_a_profile_submission_round_trips(profile: JournalistProfile, default: bool) -> None:
    submission = ProfileSubmission(profile, default)
    assert ProfileSubmission.from_json(through_text(submission.to_json())) == submission


def test_a_profile_whose_tag_is_not_its_ids_is_refused() -> None:
    profile = JournalistProfile.create("alice", "Alice", "", is_desk=False)
    document = ProfileSubmission(profile, True).to_json()
    document["profile"]["tag"] = RecipientTag.of("bob").hex()
    with pytest.raises(MalformedInput, match="tag"):
        ProfileSubmission.from_json(document)
    with pytest.raises(MalformedInput):
        ProfileSubmission.from_json({**ProfileSubmission(profile, True).to_json(), "default": 1})


# --- the mixer's pulls -----------------------------------------------------------------------


@given(
    st.sampled_from(Direction),
    sequence_numbers,
    st.integers(1, QUEUE_PULL_MAX),
    sequence_numbers,
)
def test_a_queue_pull_round_trips(
    direction: Direction, after: int, limit: int, ack_through: int
) -> None:
    pull = QueuePull(direction, after, limit, ack_through)
    assert QueuePull.from_json(through_text(pull.to_json())) == pull


@pytest.mark.parametrize(
    "change",
    [
        {"direction": "sideways"},
        {"direction": None},
        {"after": -1},
        {"after": 2**63},
        {"after": True},
        {"limit": 0},
        {"limit": QUEUE_PULL_MAX + 1},
        {"limit": 1.5},
        {"ack_through": "3"},
    ],
)
def test_a_queue_pull_out_of_range_is_refused(change: dict[str, object]) -> None:
    document = QueuePull(Direction.USER, 0, 10, 0).to_json() | change
    with pytest.raises(MalformedInput):
        QueuePull.from_json(document)


@given(st.lists(st.tuples(st.integers(1, 2**63 - 1), boxes(ENCRYPTED_U2C)), max_size=4))
def test_a_queue_page_round_trips(items: list[tuple[int, Any]]) -> None:
    seqs = sorted({seq for seq, _ in items})
    page = QueuePage(tuple(Queued(seq, box) for seq, (_, box) in zip(seqs, items, strict=False)))
    assert QueuePage.from_json(ENCRYPTED_U2C, through_text(page.to_json(ENCRYPTED_U2C))) == page


def test_a_queue_page_out_of_order_or_of_the_wrong_size_is_refused() -> None:
    box = ENCRYPTED_J2C.decode(bytes(ENCRYPTED_J2C.size))
    document = QueuePage((Queued(5, box), Queued(7, box))).to_json(ENCRYPTED_J2C)
    backwards = {"messages": list(reversed(document["messages"]))}
    repeated = {"messages": [document["messages"][0]] * 2}
    with pytest.raises(MalformedInput, match="increasing"):
        QueuePage.from_json(ENCRYPTED_J2C, backwards)
    with pytest.raises(MalformedInput, match="increasing"):
        QueuePage.from_json(ENCRYPTED_J2C, repeated)
    # J2C where U2C is due: the wrong size, so every entry is unreadable.
    assert QueuePage.from_json(ENCRYPTED_U2C, document) == QueuePage((), (5, 7))


# --- what anyone reads -----------------------------------------------------------------------


@given(st.sampled_from(SystemStatus), st.text(), moments)
def test_a_status_round_trips(status: SystemStatus, description: str, at: datetime) -> None:
    answer = Status(status, description, at)
    assert Status.from_json(through_text(answer.to_json())) == answer


def test_a_status_is_available_as_coverdrop_decides() -> None:
    available = {status for status in SystemStatus if status.is_available}
    assert available == {SystemStatus.AVAILABLE, SystemStatus.DEGRADED_PERFORMANCE}
    document = Status(SystemStatus.UNAVAILABLE, "down", datetime.now().astimezone()).to_json()
    with pytest.raises(MalformedInput, match="contradicts"):
        Status.from_json(document | {"is_available": True})
    with pytest.raises(MalformedInput):
        Status.from_json(document | {"status": "MAYBE"})


@given(st.text())
def test_an_error_body_round_trips(reason: str) -> None:
    assert ErrorBody.from_json(through_text(ErrorBody(reason).to_json())) == ErrorBody(reason)
