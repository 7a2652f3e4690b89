"""The edge store: keys and epochs, profiles, dead drops once per signature, retention,
and that a refused write leaves everything as it was (the queues have tests of their
own: test_sqlite_queues.py, test_jetstream.py).

Every test of what both engines hold runs on each: SQLite and PostgreSQL (a fresh
database per test; tests.support.postgres says when it is skipped). The SQLite file and
rows from older SQLite edges are SQLite's alone.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from quietline.edge.postgres import PostgresEdgeStore
from quietline.edge.store import (
    DEFAULT_RETENTION,
    DeadDropConflict,
    EdgeStore,
    KeyConflict,
    SqlEdgeStore,
)
from quietline.protocol.certificates import KeyRole
from quietline.protocol.deaddrops import JournalistDeadDrop, UserDeadDrop
from quietline.protocol.errors import UnknownRecipient
from quietline.protocol.hierarchy import JournalistProfile, JournalistStatus
from quietline.protocol.roles import RoleStatement
from tests.edge.checks import TABLES
from tests.edge.submissions import NOW, journalist_dead_drop, revocation, user_dead_drop
from tests.support.organisation import Organisation
from tests.support.postgres import fresh_database
from tests.support.queues import Queues

OpenStore = Callable[[timedelta], SqlEdgeStore]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens a store of the engine in ``request.param`` (on the same data each time),
    with a retention; closes every one it opened at the end."""
    opened: list[SqlEdgeStore] = []
    with ExitStack() as database:
        url = database.enter_context(fresh_database()) if request.param == "postgresql" else ""

        def open_(retention: timedelta) -> SqlEdgeStore:
            store: SqlEdgeStore = (
                PostgresEdgeStore(url, retention)
                if url
                else EdgeStore(tmp_path / "edge.sqlite3", retention)
            )
            opened.append(store)
            return store

        yield open_
        for store in opened:
            store.close()


@pytest.fixture
def store(open_store: OpenStore) -> SqlEdgeStore:
    return open_store(DEFAULT_RETENTION)


def _add_provisioning(store: SqlEdgeStore, organization: Organisation) -> int:
    key = organization.covernode_provisioning.published
    return store.add_key(
        KeyRole.COVERNODE_PROVISIONING,
        None,
        organization.anchor.key,
        key,
        key.not_valid_after,
    )


def test_schema_has_no_column_about_a_caller(sqlite_store: EdgeStore, queues: Queues) -> None:
    # ``queues`` puts the submission queues in the same file, as the edge does by default.
    store = sqlite_store
    db = sqlite3.connect(store.path)
    try:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        columns = {
            column[1].lower()
            for table in tables
            for column in db.execute(f"PRAGMA table_info({table})")
        }
    finally:
        db.close()
    assert columns.isdisjoint({"ip", "address", "client", "user_agent", "agent", "request_id"})
    assert set(TABLES) <= set(tables)


def test_the_database_runs_in_wal_mode(sqlite_store: EdgeStore) -> None:
    db = sqlite3.connect(sqlite_store.path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()


def test_keys_get_increasing_epochs_and_the_same_key_keeps_its_epoch(
    store: SqlEdgeStore, organization: Organisation
) -> None:
    assert store.max_epoch() == 0
    first = _add_provisioning(store, organization)
    assert first == 1
    assert _add_provisioning(store, organization) == 1
    identity = organization.covernode_identity.published
    second = store.add_key(
        KeyRole.COVERNODE_ID,
        "covernode_001",
        organization.covernode_provisioning.published.key,
        identity,
        identity.not_valid_after,
    )
    assert second == 2
    assert store.max_epoch() == 2
    stored = store.live_keys(NOW)
    assert [k.epoch for k in stored] == [1, 2]
    assert stored[1].signed == identity
    assert stored[1].owner == "covernode_001"


def test_a_key_in_another_place_is_refused_and_nothing_changes(
    store: SqlEdgeStore, organization: Organisation
) -> None:
    _add_provisioning(store, organization)
    key = organization.covernode_provisioning.published
    with pytest.raises(KeyConflict):
        store.add_key(
            KeyRole.JOURNALIST_PROVISIONING,
            None,
            organization.anchor.key,
            key,
            key.not_valid_after,
        )
    assert [k.role for k in store.live_keys(NOW)] == [KeyRole.COVERNODE_PROVISIONING]
    assert store.max_epoch() == 1


def _statement(organization: Organisation, role: KeyRole) -> RoleStatement:
    key = organization.covernode_provisioning.published.key
    return RoleStatement.sign(organization.root.pair, role, key)


def test_a_provisioning_keys_statement_is_stored_with_it(
    store: SqlEdgeStore, organization: Organisation
) -> None:
    statement = _statement(organization, KeyRole.COVERNODE_PROVISIONING)
    key = organization.covernode_provisioning.published
    for _ in range(2):  # storing it again changes nothing
        store.add_key(
            KeyRole.COVERNODE_PROVISIONING,
            None,
            organization.anchor.key,
            key,
            key.not_valid_after,
            statement=statement,
        )
    assert store.statements().roles == (statement,)
    assert store.statements().revocations == ()


def test_a_key_refused_for_its_place_leaves_no_statement(
    store: SqlEdgeStore, organization: Organisation
) -> None:
    _add_provisioning(store, organization)
    key = organization.covernode_provisioning.published
    with pytest.raises(KeyConflict):
        store.add_key(
            KeyRole.JOURNALIST_PROVISIONING,
            None,
            organization.anchor.key,
            key,
            key.not_valid_after,
            statement=_statement(organization, KeyRole.JOURNALIST_PROVISIONING),
        )
    assert store.statements().roles == ()


def test_revocations_are_stored_once_and_read_in_time_order(
    store: SqlEdgeStore, organization: Organisation
) -> None:
    late = revocation(organization, bytes(32), NOW)
    early = revocation(organization, bytes(range(32)), NOW - timedelta(days=1))
    for item in (late, early, late):
        store.add_revocation(item)
    assert store.statements().revocations == (early, late)


def test_expired_keys_are_not_live(store: SqlEdgeStore, organization: Organisation) -> None:
    key = organization.covernode_provisioning.published
    store.add_key(
        KeyRole.COVERNODE_PROVISIONING,
        None,
        organization.anchor.key,
        key,
        NOW + timedelta(hours=1),
    )
    assert len(store.live_keys(NOW + timedelta(hours=1))) == 1
    assert store.live_keys(NOW + timedelta(hours=1, seconds=1)) == []
    assert store.max_epoch() == 1


def test_profiles_upsert_and_one_default(store: SqlEdgeStore) -> None:
    alice = JournalistProfile.create("alice", "Alice A", "", is_desk=False)
    desk = JournalistProfile.create("desk", "News Desk", "", is_desk=True)
    store.put_profile(alice, default=True)
    store.put_profile(desk, default=False)
    assert store.profiles() == ([alice, desk], "alice")
    store.put_profile(desk, default=True)
    assert store.profiles() == ([alice, desk], "desk")
    renamed = JournalistProfile.create("alice", "Alice B", "moved", is_desk=False)
    store.put_profile(renamed, default=False)
    assert store.profiles() == ([renamed, desk], "desk")


def test_a_profile_is_changed_or_removed_in_place(store: SqlEdgeStore) -> None:
    alice = JournalistProfile.create("alice", "Alice", "", is_desk=False)
    store.put_profile(alice, default=True)
    store.change_profile("alice", lambda p: replace(p, status=JournalistStatus.HIDDEN_FROM_UI))
    assert store.profiles() == ([replace(alice, status=JournalistStatus.HIDDEN_FROM_UI)], "alice")
    with pytest.raises(UnknownRecipient):
        store.change_profile("desk", lambda p: p)
    store.remove_profile("alice")
    assert store.profiles() == ([], None)
    with pytest.raises(UnknownRecipient):
        store.remove_profile("alice")


def test_dead_drops_are_stored_once_per_signature(
    store: SqlEdgeStore, organization: Organisation
) -> None:
    first = user_dead_drop(organization, NOW)
    second = user_dead_drop(organization, NOW)
    assert store.add_dead_drop(first, NOW) == 1
    assert store.add_dead_drop(first, NOW) == 1
    assert store.add_dead_drop(second, NOW) == 2
    found = store.dead_drops(UserDeadDrop, 0, 100, NOW)
    assert [(d.id, d.body) for d in found] == [(1, first), (2, second)]
    assert store.dead_drops(UserDeadDrop, 1, 100, NOW)[0].body == second
    assert store.dead_drops(JournalistDeadDrop, 0, 100, NOW) == []


def test_a_signature_stored_under_the_other_kind_is_refused(
    store: SqlEdgeStore, organization: Organisation
) -> None:
    user = user_dead_drop(organization, NOW)
    store.add_dead_drop(user, NOW)
    # Same signature bytes on a journalist dead drop: cannot verify, but the store
    # must not mix the kinds even if asked.
    journalist = journalist_dead_drop(organization, NOW)
    forged = JournalistDeadDrop(
        journalist.created_at, journalist.data, user.signature, journalist.epoch
    )
    with pytest.raises(DeadDropConflict):
        store.add_dead_drop(forged, NOW)
    assert store.dead_drop_count() == 1


def test_journalist_dead_drops_keep_their_epoch(
    store: SqlEdgeStore, organization: Organisation
) -> None:
    body = journalist_dead_drop(organization, NOW, epoch=7)
    store.add_dead_drop(body, NOW)
    (found,) = store.dead_drops(JournalistDeadDrop, 0, 100, NOW)
    assert found.body.epoch == 7
    assert found.body == body


def test_dead_drops_past_retention_are_purged_on_write_and_hidden_from_reads(
    open_store: OpenStore, organization: Organisation
) -> None:
    store = open_store(timedelta(days=14))
    old = user_dead_drop(organization, NOW)
    store.add_dead_drop(old, NOW)
    later = NOW + timedelta(days=14, seconds=1)
    assert store.dead_drop_count() == 1
    assert store.dead_drops(UserDeadDrop, 0, 100, later) == []
    assert store.dead_drops(UserDeadDrop, 0, 100, NOW + timedelta(days=14))
    fresh = user_dead_drop(organization, later)
    fresh_id = store.add_dead_drop(fresh, later)
    assert store.dead_drop_count() == 1
    assert fresh_id == 2  # ids are never reused after a purge
    assert [d.body for d in store.dead_drops(UserDeadDrop, 0, 100, later)] == [fresh]


def test_purge_removes_only_what_is_past_retention(
    store: SqlEdgeStore, organization: Organisation
) -> None:
    store.add_dead_drop(user_dead_drop(organization, NOW), NOW)
    store.add_dead_drop(
        user_dead_drop(organization, NOW + timedelta(days=2)), NOW + timedelta(days=2)
    )
    assert store.purge(NOW + timedelta(days=15)) == 1
    assert store.dead_drop_count() == 1


def test_dead_drop_reads_are_limited_and_in_id_order(
    store: SqlEdgeStore, organization: Organisation
) -> None:
    for _ in range(5):
        store.add_dead_drop(user_dead_drop(organization, NOW, entries=1), NOW)
    assert [d.id for d in store.dead_drops(UserDeadDrop, 0, 3, NOW)] == [1, 2, 3]
    assert [d.id for d in store.dead_drops(UserDeadDrop, 3, 3, NOW)] == [4, 5]


def test_a_refused_write_rolls_back_its_purge(
    store: SqlEdgeStore, organization: Organisation
) -> None:
    old = user_dead_drop(organization, NOW)
    later = NOW + timedelta(days=15)
    recent = user_dead_drop(organization, later)
    store.add_dead_drop(old, NOW)
    store.add_dead_drop(recent, NOW)  # stored before ``old`` is due for purging
    journalist = journalist_dead_drop(organization, later)
    conflicting = JournalistDeadDrop(later, journalist.data, recent.signature, journalist.epoch)
    with pytest.raises(DeadDropConflict):
        store.add_dead_drop(conflicting, later)
    assert store.dead_drop_count() == 2  # the purge of ``old`` went with the refused write


def test_the_store_survives_a_reopen(tmp_path: Path, organization: Organisation) -> None:
    path = tmp_path / "edge.sqlite3"
    store = EdgeStore(path)
    _add_provisioning(store, organization)
    store.close()
    reopened = EdgeStore(path)
    try:
        assert reopened.max_epoch() == 1
    finally:
        reopened.close()


def test_rows_an_older_edge_stored_against_the_recipient_id_rule_are_kept_but_not_served(
    sqlite_store: EdgeStore, organization: Organisation
) -> None:
    store = sqlite_store
    # An edge from before the one recipient-id rule accepted owners and profile ids like
    # these; they stay on disk (nothing stored is lost) but never reach a reader, so one
    # old row cannot make every GET of the keys fail.
    _add_provisioning(store, organization)
    identity = organization.covernode_identity.published
    store.add_key(
        KeyRole.COVERNODE_ID,
        "covernode/001",
        organization.covernode_provisioning.published.key,
        identity,
        identity.not_valid_after,
    )
    good = JournalistProfile.create("alice", "Alice", "", is_desk=False)
    store.put_profile(good, default=False)
    old = {**good.to_json(), "id": "café/desk"}
    db = sqlite3.connect(store.path)
    try:
        with db:
            db.execute(
                "INSERT INTO profiles (id, profile, is_default) VALUES (?, ?, 1)",
                ("café/desk", json.dumps(old)),
            )
    finally:
        db.close()

    assert [key.role for key in store.live_keys(NOW)] == [KeyRole.COVERNODE_PROVISIONING]
    assert store.profiles() == ([good], None)
    assert store.max_epoch() == 2


def test_dead_drops_are_read_lazily_and_a_reader_may_stop_early(
    store: SqlEdgeStore, organization: Organisation
) -> None:
    for _ in range(3):
        store.add_dead_drop(user_dead_drop(organization, NOW, entries=1), NOW)
    reader = store.dead_drops_after(UserDeadDrop, 0, 100, NOW)
    assert next(reader).id == 1
    reader.close()  # the rest is never read; the store is usable at once
    store.add_dead_drop(user_dead_drop(organization, NOW, entries=1), NOW)
    assert [d.id for d in store.dead_drops_after(UserDeadDrop, 1, 100, NOW)] == [2, 3, 4]
