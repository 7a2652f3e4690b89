"""Fuzzing every parser that sees peer input: garbage parses or raises ProtocolError.

As in h11's fuzz harness, the contract under test is narrow: whatever bytes or JSON a
peer sends, a parser returns a value or raises :class:`ProtocolError`, never anything
else (no ``KeyError``, ``TypeError``, ``OverflowError``, nacl or zlib errors). Three
kinds of input: arbitrary bytes and text; arbitrary JSON values; and valid inputs
(every entry of ``PUBLIC_PARSERS`` has one here) with one leaf replaced, one key deleted
or a few bytes edited, so the parsers are driven deep into their structure; whatever a
JSON parser accepts must be written back and read again unchanged. Ciphertexts are also
built around arbitrary plaintexts with real keys, so the decoders behind a successful
decryption see garbage too.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable
from datetime import UTC
from typing import Any, TypeVar

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from quietline.protocol.api import (
    Direction,
    KeySubmission,
    Status,
    SystemStatus,
)
from quietline.protocol.boxes import (
    AnonymousBox,
    MultiAnonymousBox,
    TwoPartyBox,
    seal_anonymous,
    seal_multi_anonymous,
    seal_two_party,
)
from quietline.protocol.certificates import KeyRole
from quietline.protocol.constants import (
    C2J_ENCRYPTED_LEN,
    J2C_ENCRYPTED_LEN,
    J2C_MESSAGE_LEN,
    J2U_ENCRYPTED_LEN,
    J2U_MESSAGE_LEN,
    MESSAGE_PADDING_LEN,
    U2C_ENCRYPTED_LEN,
    U2C_MESSAGE_LEN,
    U2J_ENCRYPTED_LEN,
    U2J_MESSAGE_LEN,
)
from quietline.protocol.deaddrops import (
    B,
    DeadDrop,
    JournalistDeadDrop,
    JournalistTrialDecryptor,
    UserDeadDrop,
    UserTrialDecryptor,
    parse_dead_drop_list,
)
from quietline.protocol.encoding import b64_decode, hex_decode, parse_rfc3339
from quietline.protocol.errors import MalformedInput, ProtocolError
from quietline.protocol.forms import SignedForm, open_form
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.keys import (
    CoverNodeMessagingKey,
    JournalistMessagingKey,
)
from quietline.protocol.messages import (
    ENCRYPTED_C2J,
    J2C,
    J2U,
    U2C,
    U2J,
    J2CMessage,
    J2UMessage,
    U2CMessage,
    U2JMessage,
    parse_j2c,
    parse_u2c,
)
from quietline.protocol.parsers import PUBLIC_PARSERS
from quietline.protocol.pcs import PaddedCompressedString
from quietline.protocol.roles import Revocation, RoleStatement
from quietline.protocol.verification import verify_published_keys
from tests.protocol.keyring import (
    Keyring,
)
from tests.protocol.valid_inputs import NOW, WRITERS, world

T = TypeVar("T")
# Three times the profile's count: 300 by default, fewer under make check's light profile.
FUZZ = settings(max_examples=3 * settings().max_examples, deadline=None)


def parsed_or_rejected(parse: Callable[[], T]) -> T | None:
    """Run ``parse``: a ProtocolError is a clean rejection (None); anything else escapes
    and fails the test."""
    try:
        return parse()
    except ProtocolError:
        return None


JSON_PARSERS = sorted(WRITERS)
BYTE_PARSERS = sorted(set(PUBLIC_PARSERS) - set(WRITERS))


def test_every_public_parser_has_a_valid_input_to_fuzz_from() -> None:
    # A parser added to PUBLIC_PARSERS must be given a valid input (and, if it reads
    # JSON, a writer) here, so the mutation fuzzers below reach it.
    w = world()
    assert set(w.documents) == set(WRITERS)
    assert set(w.wire) == set(BYTE_PARSERS)
    assert set(w.documents).isdisjoint(w.wire)
    assert set(w.documents) | set(w.wire) == set(PUBLIC_PARSERS)


@pytest.mark.parametrize("name", sorted(PUBLIC_PARSERS))
def test_every_valid_input_parses(name: str) -> None:
    w = world()
    value = PUBLIC_PARSERS[name](w.valid_input(name))
    if name in WRITERS:
        assert WRITERS[name](value) == w.documents[name]


def test_the_valid_documents_are_valid() -> None:
    # The mutation fuzzers below start from these; they must parse, verify and decrypt.
    w = world()
    published = PublishedKeys.from_json(w.published_keys_json)
    assert verify_published_keys(published, [w.keyring.anchor], NOW).rejected == ()
    assert published.statements.roles
    assert published.statements.revocations
    organization = w.keyring.anchor.signing_key()
    RoleStatement.from_json(w.documents["role_statement"]).verify(organization)
    Revocation.from_json(w.documents["revocation"]).verify(organization)
    statement = KeySubmission.from_json(w.documents["key_submission"]).role_statement
    assert statement is not None
    statement.verify(organization)
    (user_drop,) = parse_dead_drop_list(UserDeadDrop, w.user_dead_drops_json)
    user_drop.body.verify(w.verified)
    assert len(UserTrialDecryptor(w.user, w.verified).open(user_drop)) == 1
    (journalist_drop,) = parse_dead_drop_list(JournalistDeadDrop, w.journalist_dead_drops_json)
    journalist_drop.body.verify(w.verified)
    assert len(w.journalist_decryptor().open(journalist_drop)) == 1


# --- bytes --------------------------------------------------------------------------------


def around(size: int) -> st.SearchStrategy[bytes]:
    """Bytes of exactly ``size`` (the interesting case) or of any nearby length."""
    return st.binary(min_size=size, max_size=size) | st.binary(max_size=size + 64)


@FUZZ
@given(raw=around(U2C_ENCRYPTED_LEN))
def test_parse_u2c_then_open(raw: bytes) -> None:
    box = parsed_or_rejected(lambda: parse_u2c(raw))
    if box is not None:
        assert isinstance(box, MultiAnonymousBox)
        parsed_or_rejected(lambda: box.open(world().covernode))


@FUZZ
@given(raw=around(J2C_ENCRYPTED_LEN))
def test_parse_j2c_then_open(raw: bytes) -> None:
    box = parsed_or_rejected(lambda: parse_j2c(raw))
    if box is not None:
        assert isinstance(box, MultiAnonymousBox)
        parsed_or_rejected(lambda: box.open(world().covernode))


def read_message(message: object) -> None:
    """Read every text a decoded message holds, as a client would display it."""
    if isinstance(message, U2JMessage):
        parsed_or_rejected(message.text.text)
    elif isinstance(message, U2CMessage):
        parsed_or_rejected(lambda: message.payload.open(world().journalist))
    elif isinstance(message, J2UMessage):
        parsed_or_rejected(message.body.text)
    elif isinstance(message, J2CMessage):
        parsed_or_rejected(lambda: message.payload.open(world().user, world().journalist.public))


MESSAGE_DECODERS: list[tuple[Callable[[bytes], object], int]] = [
    (U2JMessage.from_bytes, U2J_MESSAGE_LEN),
    (U2CMessage.from_bytes, U2C_MESSAGE_LEN),
    (J2UMessage.from_bytes, J2U_MESSAGE_LEN),
    (J2CMessage.from_bytes, J2C_MESSAGE_LEN),
]


@pytest.mark.parametrize(("decode", "size"), MESSAGE_DECODERS)
@FUZZ
@given(data=st.data())
def test_message_from_bytes(
    decode: Callable[[bytes], object], size: int, data: st.DataObject
) -> None:
    raw = data.draw(around(size))
    message = parsed_or_rejected(lambda: decode(raw))
    if message is not None:
        read_message(message)


@FUZZ
@given(raw=st.binary(min_size=MESSAGE_PADDING_LEN, max_size=MESSAGE_PADDING_LEN))
@example(raw=b"\x00\x00" + bytes(510))
@example(raw=b"\x01\xfe" + bytes(510))
@example(raw=b"\x00\x0a\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + bytes(500))
def test_padded_compressed_string_text(raw: bytes) -> None:
    text = parsed_or_rejected(PaddedCompressedString(raw).text)
    assert text is None or isinstance(text, str)


def edged(low: int, high: int) -> st.SearchStrategy[int]:
    """Integers in ``low..high``, half the time one of the two ends."""
    return st.sampled_from([low, high]) | st.integers(low, high)


# Biased to the edges of datetime's range, where a zone offset can push an instant out.
timestamp_like = st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}{}".format,
    edged(1, 9999) | st.sampled_from([0, 999, 1970]),
    edged(1, 12) | st.just(13),
    edged(1, 31) | st.just(0),
    edged(0, 23) | st.just(24),
    edged(0, 59),
    edged(0, 59) | st.just(60),
    st.sampled_from(["", ".5", ".123456789", ".999999999"]),
    st.sampled_from(["Z", "z", "+00:00", "-23:59", "+23:59", "+24:00", "-01:00", "-00:60", ""]),
)


@FUZZ
@given(text=st.text() | timestamp_like)
@example(text="0001-01-01T00:00:00+01:00")
@example(text="9999-12-31T23:59:59-01:00")
def test_text_decoders(text: str) -> None:
    decoded = parsed_or_rejected(lambda: b64_decode(text))
    assert decoded is None or isinstance(decoded, bytes)
    decoded = parsed_or_rejected(lambda: hex_decode(text))
    assert decoded is None or isinstance(decoded, bytes)
    parsed_or_rejected(lambda: hex_decode(text, 32))
    moment = parsed_or_rejected(lambda: parse_rfc3339(text))
    assert moment is None or moment.tzinfo is UTC


# --- boxes: random ciphertexts, and real ciphertexts of random plaintexts -----------------

keys_32 = st.binary(min_size=32, max_size=32)
low_order_point = bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")


@FUZZ
@given(
    anonymous=st.binary(min_size=U2J_ENCRYPTED_LEN, max_size=U2J_ENCRYPTED_LEN),
    two_party=st.binary(min_size=J2U_ENCRYPTED_LEN, max_size=J2U_ENCRYPTED_LEN),
    multi=st.binary(min_size=U2C_ENCRYPTED_LEN, max_size=U2C_ENCRYPTED_LEN),
    c2j=st.binary(min_size=C2J_ENCRYPTED_LEN, max_size=C2J_ENCRYPTED_LEN),
    sender=keys_32,
)
@example(
    anonymous=bytes(U2J_ENCRYPTED_LEN),
    two_party=bytes(J2U_ENCRYPTED_LEN),
    multi=bytes(U2C_ENCRYPTED_LEN),
    c2j=bytes(C2J_ENCRYPTED_LEN),
    sender=bytes(32),
)
@example(
    anonymous=low_order_point + bytes(U2J_ENCRYPTED_LEN - 32),
    two_party=bytes(J2U_ENCRYPTED_LEN),
    multi=low_order_point + bytes(U2C_ENCRYPTED_LEN - 32),
    c2j=bytes(C2J_ENCRYPTED_LEN),
    sender=low_order_point,
)
def test_opening_random_ciphertexts_with_real_keys(
    anonymous: bytes, two_party: bytes, multi: bytes, c2j: bytes, sender: bytes
) -> None:
    w = world()
    assert parsed_or_rejected(lambda: AnonymousBox(U2J, anonymous).open(w.journalist)) is None
    assert (
        parsed_or_rejected(
            lambda: TwoPartyBox(J2U, two_party).open(w.user, JournalistMessagingKey(sender))
        )
        is None
    )
    assert parsed_or_rejected(lambda: MultiAnonymousBox(U2C, 2, multi).open(w.covernode)) is None
    entry = ENCRYPTED_C2J.decode(c2j)
    assert parsed_or_rejected(lambda: w.journalist_decryptor().open_entry(entry)) is None
    assert (
        parsed_or_rejected(
            lambda: JournalistTrialDecryptor([w.journalist], [CoverNodeMessagingKey(sender)])
        )
        is not None
    )


@FUZZ
@given(
    u2j=st.binary(min_size=U2J_MESSAGE_LEN, max_size=U2J_MESSAGE_LEN),
    u2c=st.binary(min_size=U2C_MESSAGE_LEN, max_size=U2C_MESSAGE_LEN),
    j2u=st.binary(min_size=J2U_MESSAGE_LEN, max_size=J2U_MESSAGE_LEN),
    j2c=st.binary(min_size=J2C_MESSAGE_LEN, max_size=J2C_MESSAGE_LEN),
)
def test_authentic_boxes_of_garbage_plaintexts(
    u2j: bytes, u2c: bytes, j2u: bytes, j2c: bytes
) -> None:
    # A peer holding the right keys can still send nonsense inside a valid box.
    w = world()
    covernodes = w.verified.covernode_wrapping_keys()

    u2c_box = MultiAnonymousBox(U2C, 2, seal_multi_anonymous(covernodes, u2c))
    read_message(parsed_or_rejected(lambda: u2c_box.open(w.covernode)))
    j2c_box = MultiAnonymousBox(J2C, 2, seal_multi_anonymous(covernodes, j2c))
    read_message(parsed_or_rejected(lambda: j2c_box.open(w.covernode)))

    sealed_u2j = seal_anonymous(w.journalist.public, u2j)
    entry = ENCRYPTED_C2J.decode(seal_two_party(w.covernode, w.journalist.public, sealed_u2j))
    read_message(parsed_or_rejected(lambda: w.journalist_decryptor().open_entry(entry)))

    j2u_entry = seal_two_party(w.journalist, w.user.public, j2u)
    dead_drop = UserDeadDrop(NOW, j2u_entry, bytes(64)).published(1)
    for reply in (
        parsed_or_rejected(lambda: UserTrialDecryptor(w.user, w.verified).open(dead_drop)) or []
    ):
        read_message(reply.message)


def whole_entries(size: int) -> st.SearchStrategy[bytes]:
    """One to three entries of ``size`` random bytes, or a length that is no whole number."""
    counts = st.integers(1, 3)
    return counts.flatmap(lambda n: st.binary(min_size=n * size, max_size=n * size)) | st.binary(
        max_size=2 * size + 1
    )


@FUZZ
@given(user_data=whole_entries(J2U_ENCRYPTED_LEN), journalist_data=whole_entries(C2J_ENCRYPTED_LEN))
def test_trial_decrypting_random_dead_drops(user_data: bytes, journalist_data: bytes) -> None:
    w = world()
    user_drop = parsed_or_rejected(lambda: UserDeadDrop(NOW, user_data, bytes(64)))
    if user_drop is not None:
        assert UserTrialDecryptor(w.user, w.verified).open(user_drop.published(1)) == []
    journalist_drop = parsed_or_rejected(
        lambda: JournalistDeadDrop(NOW, journalist_data, bytes(64), 0)
    )
    if journalist_drop is not None:
        assert w.journalist_decryptor().open(journalist_drop.published(1)) == []


# --- JSON ---------------------------------------------------------------------------------

FIELD_NAMES = [
    "journalist_profiles", "default_journalist_id", "keys", "max_epoch", "org_pk",
    "covernodes", "journalists", "provisioning_pk", "id_pk", "msg_pks", "key",
    "certificate", "not_valid_after", "id", "display_name", "sort_name", "description",
    "is_desk", "tag", "status", "dead_drops", "created_at", "data", "signature", "epoch", "cert",
    "public_key", "secret_key", "body", "signing_pk", "message", "role", "owner",
    "parent_key", "profile", "default", "direction", "after", "limit", "ack_through",
    "messages", "seq", "is_available", "timestamp", "error",
]  # fmt: skip
# The enumerated strings a parser looks for, so random JSON gets past the first check.
ENUM_VALUES = sorted(
    {role.value for role in KeyRole}
    | {direction.value for direction in Direction}
    | {status.value for status in SystemStatus}
)

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(ENUM_VALUES)
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=16,
)


@pytest.mark.parametrize("name", JSON_PARSERS)
@FUZZ
@given(document=json_values)
def test_arbitrary_json(name: str, document: Any) -> None:
    parsed_or_rejected(lambda: PUBLIC_PARSERS[name](json.dumps(document).encode()))


# Published dead drops one at a time: what a reader parses from each list item.
ITEM_PARSERS: dict[str, Callable[[Any], object]] = {
    "user dead drop": lambda obj: DeadDrop.from_json(UserDeadDrop, obj),
    "journalist dead drop": lambda obj: DeadDrop.from_json(JournalistDeadDrop, obj),
}


@pytest.mark.parametrize("parse", ITEM_PARSERS.values(), ids=ITEM_PARSERS.keys())
@FUZZ
@given(document=json_values)
def test_arbitrary_json_dead_drop_items(parse: Callable[[Any], object], document: Any) -> None:
    parsed_or_rejected(lambda: parse(document))


JsonPath = tuple[str | int, ...]


def nodes(document: Any, path: JsonPath = ()) -> list[JsonPath]:
    """The path of every value in ``document``, the document itself included."""
    found = [path]
    if isinstance(document, dict):
        for name, value in document.items():
            found += nodes(value, (*path, name))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += nodes(value, (*path, index))
    return found


def at(document: Any, path: JsonPath) -> Any:
    for step in path:
        document = document[step]
    return document


def near_misses(value: Any) -> st.SearchStrategy[Any]:
    """Values close to ``value``, which get further into a parser than random JSON does."""
    options: list[st.SearchStrategy[Any]] = [json_values]
    if isinstance(value, str):
        options += [
            st.integers(0, len(value)).map(lambda i: value[:i]),
            st.tuples(st.integers(0, max(len(value) - 1, 0)), st.characters()).map(
                lambda edit: value[: edit[0]] + edit[1] + value[edit[0] + 1 :]
            ),
            st.just(value.upper()),
            st.just(value + "="),
            st.just(value + "00"),
            timestamp_like,
            st.sampled_from(ENUM_VALUES),
        ]
    elif isinstance(value, bool):
        options.append(st.sampled_from([not value, 0, 1, "true"]))
    elif isinstance(value, int):
        options.append(
            st.sampled_from(
                [
                    value + 1,
                    value - 1,
                    0,
                    -1,
                    2**31,
                    2**63 - 1,
                    2**63,
                    -(2**63) - 1,
                    1.0,
                    str(value),
                ]
            )
        )
    return st.one_of(options)


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with one value replaced or one object member deleted (a document
    that is a single value, such as a JSON string, is replaced by a near miss)."""
    document = copy.deepcopy(document)
    paths = nodes(document)[1:]
    if not paths:
        return draw(near_misses(document))
    members = [p for p in paths if isinstance(p[-1], str)]
    if draw(st.booleans()) and members:
        path = draw(st.sampled_from(members))
        del at(document, path[:-1])[path[-1]]
    else:
        path = draw(st.sampled_from(paths))
        at(document, path[:-1])[path[-1]] = draw(near_misses(at(document, path)))
    return document


@pytest.mark.parametrize("name", JSON_PARSERS)
@FUZZ
@given(data=st.data())
def test_mutated_public_documents(name: str, data: st.DataObject) -> None:
    document = data.draw(mutated(world().documents[name]))
    parse = PUBLIC_PARSERS[name]

    value = parsed_or_rejected(lambda: parse(json.dumps(document).encode()))

    if value is not None:
        # What was accepted is written back as JSON that reads as the same value.
        written = WRITERS[name](value)
        assert parse(json.dumps(written).encode()) == value


@st.composite
def edited(draw: st.DrawFn, raw: bytes) -> bytes:
    """``raw`` with a few bytes overwritten, or cut short, or made longer."""
    data = bytearray(raw)
    how = draw(st.sampled_from(["overwrite", "cut", "extend"]))
    if how == "cut":
        return bytes(data[: draw(st.integers(0, max(len(data) - 1, 0)))])
    if how == "extend":
        return bytes(data) + draw(st.binary(min_size=1, max_size=64))
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(data) - 1))
        data[index] = draw(st.integers(0, 255))
    return bytes(data)


@pytest.mark.parametrize("name", BYTE_PARSERS)
@FUZZ
@given(data=st.data())
def test_edited_wire_bytes(name: str, data: st.DataObject) -> None:
    w = world()
    raw = data.draw(edited(w.wire[name]))

    value = parsed_or_rejected(lambda: PUBLIC_PARSERS[name](raw))

    if isinstance(value, MultiAnonymousBox):
        read_message(parsed_or_rejected(lambda: value.open(w.covernode)))
    else:
        read_message(value)


@FUZZ
@given(data=st.data())
def test_mutated_published_keys(data: st.DataObject) -> None:
    w = world()
    document = data.draw(mutated(w.published_keys_json))

    published = parsed_or_rejected(
        lambda: PublishedKeys.from_json(json.loads(json.dumps(document)))
    )

    if published is not None:
        assert PublishedKeys.from_json(published.to_json()) == published
        verification = parsed_or_rejected(
            lambda: verify_published_keys(published, [w.keyring.anchor], NOW)
        )
        if verification is not None:
            assert {k.key for k in verification.verified.keys} <= {k.key for k in w.verified.keys}


def verifies(statement: RoleStatement | Revocation, keyring: Keyring) -> bool:
    try:
        statement.verify(keyring.anchor.signing_key())
    except ProtocolError:
        return False
    return True


@FUZZ
@given(data=st.data())
def test_a_mutated_revocation_is_refused_or_says_the_same(data: st.DataObject) -> None:
    # What the edge does with a posted revocation: parse it, verify it under the anchor.
    w = world()
    valid = Revocation.from_json(w.documents["revocation"])
    document = data.draw(mutated(w.documents["revocation"]))

    revocation = parsed_or_rejected(lambda: Revocation.from_json(json.loads(json.dumps(document))))

    if revocation is not None and verifies(revocation, w.keyring):
        # Only whole seconds are signed: nothing else about it can change.
        assert revocation.key == valid.key
        assert revocation.revoked_at.replace(microsecond=0) == valid.revoked_at


@FUZZ
@given(data=st.data())
def test_a_mutated_role_statement_is_refused_or_unchanged(data: st.DataObject) -> None:
    w = world()
    document = data.draw(mutated(w.documents["role_statement"]))

    statement = parsed_or_rejected(
        lambda: RoleStatement.from_json(json.loads(json.dumps(document)))
    )

    if statement is not None and verifies(statement, w.keyring):
        assert statement == RoleStatement.from_json(w.documents["role_statement"])


def mutated_dead_drops(
    data: st.DataObject, body_type: type[B], valid: dict[str, Any]
) -> list[DeadDrop[B]]:
    """Dead drops parsed from a mutated list, each re-read unchanged and verified if it can be."""
    document = data.draw(mutated(valid))

    dead_drops = parsed_or_rejected(lambda: parse_dead_drop_list(body_type, document)) or []

    for dead_drop in dead_drops:
        assert DeadDrop.from_json(body_type, dead_drop.to_json()) == dead_drop
        with contextlib.suppress(ProtocolError):
            dead_drop.body.verify(world().verified)
    return dead_drops


@FUZZ
@given(data=st.data())
def test_mutated_user_dead_drop_lists(data: st.DataObject) -> None:
    w = world()
    for dead_drop in mutated_dead_drops(data, UserDeadDrop, w.user_dead_drops_json):
        replies = UserTrialDecryptor(w.user, w.verified).open(dead_drop)
        assert len(replies) <= 1


@FUZZ
@given(data=st.data())
def test_mutated_journalist_dead_drop_lists(data: st.DataObject) -> None:
    w = world()
    for dead_drop in mutated_dead_drops(data, JournalistDeadDrop, w.journalist_dead_drops_json):
        received = w.journalist_decryptor().open(dead_drop)
        assert len(received) <= 1


@FUZZ
@given(
    body=st.binary(max_size=256)
    | json_values.map(lambda value: json.dumps(value).encode())
    | st.builds(
        lambda payload, signed_at: json.dumps({**payload, "signed_at": signed_at}).encode(),
        st.dictionaries(st.sampled_from(FIELD_NAMES), json_leaves, max_size=4),
        timestamp_like | st.sampled_from(["2024-05-01T11:59:00Z", "2024-05-01T12:00:30Z"]),
    )
)
def test_opening_a_signed_form_of_any_body(body: bytes) -> None:
    # The signature is good and the key allowed: only the body is garbage.
    identity = world().keyring.covernode("covernode_001").identity.pair
    form = SignedForm(body, identity.public, identity.sign(body))

    payload = parsed_or_rejected(lambda: open_form(form, [identity.public], NOW))

    assert payload is None or "signed_at" not in payload


# --- regressions: instants at the edges of datetime's range ------------------------------

OUT_OF_RANGE_INSTANTS = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


@pytest.mark.parametrize("created_at", OUT_OF_RANGE_INSTANTS)
def test_a_dead_drop_created_at_an_impossible_instant_is_malformed(created_at: str) -> None:
    item = copy.deepcopy(world().user_dead_drops_json["dead_drops"][0])
    item["created_at"] = created_at

    with pytest.raises(MalformedInput):
        DeadDrop.from_json(UserDeadDrop, item)


@pytest.mark.parametrize("not_valid_after", OUT_OF_RANGE_INSTANTS)
def test_published_keys_with_an_impossible_expiry_are_malformed(not_valid_after: str) -> None:
    document = copy.deepcopy(world().published_keys_json)
    document["keys"][0]["org_pk"]["not_valid_after"] = not_valid_after

    with pytest.raises(MalformedInput):
        PublishedKeys.from_json(document)


@pytest.mark.parametrize("revoked_at", OUT_OF_RANGE_INSTANTS)
def test_a_revocation_at_an_impossible_instant_is_malformed(revoked_at: str) -> None:
    document = copy.deepcopy(world().documents["revocation"])
    document["revoked_at"] = revoked_at

    with pytest.raises(MalformedInput):
        Revocation.from_json(document)


@pytest.mark.parametrize("timestamp", OUT_OF_RANGE_INSTANTS)
def test_a_status_at_an_impossible_instant_is_malformed(timestamp: str) -> None:
    document = copy.deepcopy(world().documents["status"])
    document["timestamp"] = timestamp

    with pytest.raises(MalformedInput):
        Status.from_json(document)


def test_an_accepted_dead_drop_is_re_served_as_acceptable_json() -> None:
    item = copy.deepcopy(world().user_dead_drops_json["dead_drops"][0])
    item["created_at"] = "0999-01-01T00:00:00Z"
    accepted = DeadDrop.from_json(UserDeadDrop, item)

    assert DeadDrop.from_json(UserDeadDrop, accepted.to_json()) == accepted


# --- the whole public attack surface, as bytes off the wire -------------------------------

WIRE_SIZES = sorted({U2C_ENCRYPTED_LEN, J2C_ENCRYPTED_LEN, MESSAGE_PADDING_LEN, 545, 597, 513, 554})


@pytest.mark.parametrize("name", sorted(PUBLIC_PARSERS))
@FUZZ
@given(
    raw=st.binary(max_size=2048)
    | json_values.map(lambda value: json.dumps(value).encode())
    | st.sampled_from(WIRE_SIZES).flatmap(lambda n: st.binary(min_size=n, max_size=n))
)
@example(raw=b"[" * 100_000)
@example(raw=b"1" * 5_000)
@example(raw=b"\xff\xfe{}")
def test_every_public_parser_takes_any_bytes(name: str, raw: bytes) -> None:
    parsed_or_rejected(lambda: PUBLIC_PARSERS[name](raw))
