"""What the pages show, from the desk's state (pure)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from quietline.desk.report import DeskReport
from quietline.desk.state import DeskState, MessageKind, UnknownSource, recipient_from_bundle
from quietline.desk.web import pages
from quietline.desk.web.pseudonyms import pseudonym
from quietline.protocol.keys import EncryptionKeyPair, ReplyKey, human_digest
from tests.desk.world import NOW, bundle_for
from tests.support.organisation import Organisation


@pytest.fixture(scope="module")
def org() -> Organisation:
    return Organisation.create(NOW, ("alice", "bob"))


def _desk(org: Organisation) -> tuple[DeskState, ReplyKey]:
    state = DeskState()
    for recipient_id in ("alice", "bob"):
        state.put_recipient(recipient_from_bundle(bundle_for(org, recipient_id, NOW)))
    source = ReplyKey.of(EncryptionKeyPair.generate())
    for n, text in enumerate(("one", "two")):
        conversation = state.record_received(source, "alice", text, f"d{n}", NOW)
        assert conversation is not None
    return state, source


def test_the_inbox_counts_unread_until_read_and_a_muted_source_never(org: Organisation) -> None:
    state, source = _desk(org)
    other = ReplyKey.of(EncryptionKeyPair.generate())
    state.record_received(other, "bob", "from bob's source", "d9", NOW)
    rows = pages.inbox(state)
    assert [row.name for row in rows] == [
        pseudonym(state.pseudonym_key, other),
        pseudonym(state.pseudonym_key, source),
    ]
    assert [row.unread for row in rows] == [1, 2]
    assert [row.recipient_id for row in pages.inbox(state, "bob")] == ["bob"]
    assert pages.unread_total(state) == 3
    conversation = pages.find(state, rows[1].name.ref)
    conversation.read_up_to = conversation.latest
    conversation.muted = True
    state.conversations[other.hex()].muted = True
    assert pages.unread_total(state) == 0
    with pytest.raises(UnknownSource):
        pages.find(state, "0" * 16)


def test_a_thread_shows_the_hour_and_what_became_of_each_reply(org: Organisation) -> None:
    state, source = _desk(org)
    conversation = state.conversation(source.hex())
    state.queue_outgoing(conversation, MessageKind.TEXT, "alice", "sent one", NOW)
    state.queue_outgoing(conversation, MessageKind.HANDOVER, "alice", "bob", NOW)
    state.mark_sent(state.outbox[0], NOW + timedelta(minutes=5))
    lines = pages.thread(state, conversation)
    assert [(line.text, line.status) for line in lines] == [
        ("one", ""),
        ("two", ""),
        ("sent one", "sent"),
        ("bob", "queued"),
    ]
    assert lines[3].handover
    assert {line.when for line in lines} == {"2026-03-01 12:00 UTC"}


def test_status_warns_of_keys_near_expiry_and_an_edge_out_of_reach(org: Organisation) -> None:
    state, source = _desk(org)
    identity_end = state.recipient("alice").identity.not_valid_after
    healthy = pages.status(state, None, [org.anchor], NOW)
    assert healthy.warnings == []
    assert "first unlock" in healthy.last_step
    assert healthy.kept.startswith("until the vault is deleted")
    assert pages.status(state, None, [], NOW, timedelta(days=90)).kept.startswith("90 days")
    # The digest `quietline admin digest` prints, for posters and videos.
    assert healthy.organisation_digests == [human_digest(org.anchor.signing_key())]

    report = DeskReport(NOW, notes=[f"dropped a reply to {source.hex()[:8]}: gone"])
    report.edge_reached = False
    late = pages.status(state, report, [org.anchor], identity_end - timedelta(days=3))
    assert any("expires on" in warning for warning in late.warnings)
    assert any("edge could not be reached" in warning for warning in late.warnings)
    name = pseudonym(state.pseudonym_key, source).name
    assert late.notes == [f"dropped a reply to {name}: gone"]
    expired = pages.status(state, None, [org.anchor], identity_end + timedelta(days=1))
    assert any("has expired" in warning for warning in expired.warnings)
    assert any("no messaging key in force" in warning for warning in expired.warnings)
