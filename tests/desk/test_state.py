"""The desk's vault state: JSON round trip, bundles, lookups, and the lock around saves."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quietline.desk.state import (
    Conversation,
    DeskState,
    Flow,
    InFlight,
    Message,
    MessageKind,
    UnknownSource,
    recipient_from_bundle,
)
from quietline.desk.store import DeskExists, DeskStore, NoDesk
from quietline.protocol.certificates import KeyRole
from quietline.protocol.errors import MalformedInput, UnknownRecipient
from quietline.protocol.keygen import generate_messaging_key
from quietline.protocol.keys import EncryptionKeyPair, ReplyKey
from quietline.protocol.recipients import RecipientId
from quietline.vault import INTERACTIVE, VaultLocked
from tests.desk.world import bundle_for
from tests.protocol.strategies import encryption_pairs, moments
from tests.support.organisation import Organisation

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def org() -> Organisation:
    return Organisation.create(NOW, ("alice", "bob"))


def _state(org: Organisation) -> tuple[DeskState, ReplyKey]:
    state = DeskState()
    state.put_recipient(recipient_from_bundle(bundle_for(org, "alice", NOW)))
    state.put_recipient(recipient_from_bundle(bundle_for(org, "bob", NOW)))
    source = ReplyKey.of(EncryptionKeyPair.generate())
    conversation = state.record_received(source, "alice", "hello", "d1", NOW)
    assert conversation is not None
    state.queue_outgoing(conversation, MessageKind.TEXT, "alice", "hi back", NOW)
    state.queue_outgoing(conversation, MessageKind.HANDOVER, "alice", "bob", NOW)
    state.mark_sent(state.outbox[0], NOW + timedelta(minutes=1))
    conversation.handed_over_to = "carol"
    state.cursor = 42
    state.last_j2c_at = NOW
    state.in_flight = InFlight(state.outbox[0], bytes(range(200)), (b"\x01" * 32, b"\x02" * 32))
    return state, source


def test_state_round_trips_through_json(org: Organisation) -> None:
    state, _ = _state(org)
    again = DeskState.from_json(state.to_json())
    assert again.to_json() == state.to_json()
    assert [r.id for r in again.recipients] == ["alice", "bob"]
    alice = org.recipients[RecipientId("alice")]
    assert again.recipient("alice").identity.pair.seed == alice.identity.pair.seed


def test_a_vault_written_before_replies_were_kept_in_flight_still_loads(
    org: Organisation,
) -> None:
    state, _ = _state(org)
    old = state.to_json()
    del old["in_flight"]
    assert DeskState.from_json(old).in_flight is None


def test_marking_the_reply_in_flight_sent_lets_go_of_it(org: Organisation) -> None:
    state, _ = _state(org)
    state.mark_sent(state.outbox[0], NOW)
    assert state.in_flight is None


def test_state_round_trips_through_the_vault(tmp_path: Path, org: Organisation) -> None:
    state, source = _state(org)
    store = DeskStore(tmp_path / "desk.vault", INTERACTIVE)
    store.create(PASSPHRASE, state)
    assert (tmp_path / "desk.vault").stat().st_mode & 0o777 == 0o600
    fresh = DeskStore(tmp_path / "desk.vault", INTERACTIVE)
    fresh.unlock(PASSPHRASE)
    loaded = fresh.read()
    assert loaded.to_json() == state.to_json()
    conversation = loaded.conversation(source.hex()[:8])
    assert [(m.direction, m.kind, m.text) for m in conversation.messages] == [
        (Flow.IN, MessageKind.TEXT, "hello"),
        (Flow.OUT, MessageKind.TEXT, "hi back"),
        (Flow.OUT, MessageKind.HANDOVER, "bob"),
    ]
    assert conversation.messages[1].sent_at == NOW  # kept to the hour
    assert loaded.outbox == [conversation.messages[2].id]


def test_vault_refuses_a_wrong_passphrase_and_a_second_create(tmp_path: Path) -> None:
    store = DeskStore(tmp_path / "desk.vault", INTERACTIVE)
    with pytest.raises(NoDesk):
        store.unlock(PASSPHRASE)
    store.create(PASSPHRASE, DeskState())
    with pytest.raises(DeskExists):
        store.create(PASSPHRASE, DeskState())
    with pytest.raises(VaultLocked):
        DeskStore(tmp_path / "desk.vault", INTERACTIVE).unlock("wrong")


def test_the_vault_has_its_fixed_size_whatever_it_holds(tmp_path: Path, org: Organisation) -> None:
    empty = DeskStore(tmp_path / "empty.vault", INTERACTIVE)
    empty.create(PASSPHRASE, DeskState())
    full = DeskStore(tmp_path / "full.vault", INTERACTIVE)
    full.create(PASSPHRASE, _state(org)[0])
    assert empty.path.stat().st_size == full.path.stat().st_size == 4 * 1024 * 1024


def test_concurrent_transactions_lose_no_write(tmp_path: Path, org: Organisation) -> None:
    state, source = _state(org)
    DeskStore(tmp_path / "desk.vault", INTERACTIVE).create(PASSPHRASE, state)
    per_writer = 6

    def writer(name: str) -> None:
        # Each writer unlocks its own store, as `desk run` and `desk reply` would.
        store = DeskStore(tmp_path / "desk.vault", INTERACTIVE)
        store.unlock(PASSPHRASE)
        for index in range(per_writer):
            with store.transaction() as transaction:
                conversation = transaction.state.conversation(source.hex())
                transaction.state.queue_outgoing(
                    conversation, MessageKind.TEXT, "alice", f"{name}{index}", NOW
                )

    threads = [threading.Thread(target=writer, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store = DeskStore(tmp_path / "desk.vault", INTERACTIVE)
    store.unlock(PASSPHRASE)
    texts = {m.text for m in store.read().conversation(source.hex()).messages}
    assert {f"{n}{i}" for n in "ab" for i in range(per_writer)} <= texts
    assert len(store.read().outbox) == 1 + 2 * per_writer


def test_a_failed_transaction_saves_nothing(tmp_path: Path) -> None:
    store = DeskStore(tmp_path / "desk.vault", INTERACTIVE)
    store.create(PASSPHRASE, DeskState())

    def fail_midway() -> None:
        with store.transaction() as transaction:
            transaction.state.cursor = 99
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_midway()
    assert store.read().cursor == 0


def test_sources_are_found_by_prefix_and_errors_name_the_problem(org: Organisation) -> None:
    state, source = _state(org)
    assert state.conversation(source.hex()[:8].upper()).reply_key == source
    with pytest.raises(UnknownSource, match="no source"):
        state.conversation("zz")
    with pytest.raises(UnknownSource):
        state.conversation("")
    other = ReplyKey(source.raw[:4] + bytes(28))
    state.record_received(other, "alice", "me too", "d2", NOW)
    with pytest.raises(UnknownSource, match="matches 2 sources"):
        state.conversation(source.hex()[:8])
    with pytest.raises(UnknownRecipient, match="alice, bob"):
        state.recipient("carol")


def test_a_message_is_stored_once(org: Organisation) -> None:
    state, source = _state(org)
    assert state.record_received(source, "alice", "hello", "d1", NOW) is None
    assert state.record_received(source, "alice", "hello", "d9", NOW) is not None


def test_a_renewed_bundle_merges_into_the_recipient(org: Organisation) -> None:
    state, _ = _state(org)
    first = state.recipient("alice").messaging[0]
    later = NOW + timedelta(days=1)
    assert state.put_recipient(recipient_from_bundle(bundle_for(org, "alice", later))) is False
    keys = state.recipient("alice").messaging
    assert len(keys) == 2
    assert keys[0] == first


def test_bundles_with_wrong_roles_or_certificates_are_refused(org: Organisation) -> None:
    bundle = bundle_for(org, "alice", NOW)
    bob = org.recipients[RecipientId("bob")]
    stranger = generate_messaging_key(KeyRole.JOURNALIST_MSG, bob.identity, NOW)
    with pytest.raises(MalformedInput, match="not certified"):
        recipient_from_bundle(replace(bundle, messaging=stranger))
    with pytest.raises(MalformedInput, match="not a journalist_id"):
        recipient_from_bundle(replace(bundle, identity=org.covernode_identity))
    with pytest.raises(MalformedInput, match="not a journalist_msg"):
        recipient_from_bundle(replace(bundle, messaging=org.covernode_messaging))
    # The CoverNode's own pair certifies correctly: only the roles refuse it.
    covernode = replace(bundle, identity=org.covernode_identity, messaging=org.covernode_messaging)
    with pytest.raises(MalformedInput, match="not a journalist_id"):
        recipient_from_bundle(covernode)
    mallory = replace(bundle.profile, id=RecipientId("mallory"))
    with pytest.raises(MalformedInput, match="tag"):
        recipient_from_bundle(replace(bundle, profile=mallory))


def test_a_vault_of_another_kind_is_refused(tmp_path: Path) -> None:
    store = DeskStore(tmp_path / "desk.vault", INTERACTIVE)
    store.vault.create(PASSPHRASE, {"something": "else"})
    with pytest.raises(VaultLocked, match="does not hold a desk"):
        store.unlock(PASSPHRASE)


messages = st.builds(
    Message,
    st.integers(1, 2**31),
    st.sampled_from(Flow),
    st.sampled_from(MessageKind),
    st.text(min_size=1),
    st.text(),
    moments,
    st.none() | moments,
    st.none() | st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
)
conversations = st.builds(
    Conversation,
    encryption_pairs.map(ReplyKey.of),
    st.text(min_size=1),
    st.lists(messages, max_size=3),
    st.none() | st.text(min_size=1),
    st.text(),
    st.text(),
    st.booleans(),
    st.integers(0, 2**31),
)


@given(messages)
def test_any_message_round_trips(message: Message) -> None:
    assert Message.from_json(json.loads(json.dumps(message.to_json()))) == message


@given(conversations)
def test_any_conversation_round_trips(conversation: Conversation) -> None:
    again = Conversation.from_json(json.loads(json.dumps(conversation.to_json())))
    assert again == conversation


@settings(max_examples=20)
@given(
    st.lists(conversations, max_size=3),
    st.lists(st.integers(1, 2**31), max_size=3),
    st.integers(0, 2**63 - 1),
    st.none() | moments,
    st.none() | moments,
    st.binary(min_size=32, max_size=32),
)
def test_any_desk_state_round_trips(
    org: Organisation,
    held: list[Conversation],
    outbox: list[int],
    cursor: int,
    last_j2c_at: datetime | None,
    last_dead_drop_at: datetime | None,
    pseudonym_key: bytes,
) -> None:
    state = DeskState(
        [recipient_from_bundle(bundle_for(org, "alice", NOW))],
        cursor,
        {conversation.reply_key.hex(): conversation for conversation in held},
        outbox,
        last_j2c_at,
        7,
        last_dead_drop_at=last_dead_drop_at,
        pseudonym_key=pseudonym_key,
    )
    again = DeskState.from_json(json.loads(json.dumps(state.to_json())))
    assert again == state


def test_a_message_repr_shows_no_text() -> None:
    state = DeskState()
    conversation = state.record_received(
        ReplyKey(EncryptionKeyPair.generate().public.raw),
        "alice",
        "the minister met the contractor",
        "digest",
        NOW,
    )
    assert conversation is not None
    reply = state.queue_outgoing(conversation, MessageKind.TEXT, "alice", "meet at the pier", NOW)
    conversation.notes = "the minister's driver"
    for shown in (repr(conversation), repr(reply), repr(state), str(reply)):
        assert "minister" not in shown
        assert "pier" not in shown


def test_a_vault_written_before_the_web_desk_loads_with_fresh_desk_fields(
    org: Organisation,
) -> None:
    state, source = _state(org)
    old = state.to_json()
    for name in ("last_dead_drop_at", "pseudonym_key"):
        del old[name]
    for conversation in old["conversations"]:
        for name in ("alias", "notes", "muted", "read_up_to"):
            del conversation[name]
    loaded = DeskState.from_json(old)
    assert loaded.last_dead_drop_at is None
    assert len(loaded.pseudonym_key) == 32
    conversation = loaded.conversation(source.hex()[:8])
    assert (conversation.alias, conversation.notes, conversation.muted) == ("", "", False)
    assert conversation.unread == 1
    old["pseudonym_key"] = "AAAA"
    with pytest.raises(MalformedInput, match="pseudonym key"):
        DeskState.from_json(old)
