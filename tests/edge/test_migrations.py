"""The PostgreSQL schema's migrations (quietline.edge.migrations), run up and down on a
real server with data in place: nothing stored is lost on the way, and edges that start
together migrate once."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from alembic.util import CommandError

from quietline.edge.migrations import current, downgrade, redacted, upgrade
from quietline.edge.postgres import PostgresEdgeStore
from quietline.protocol.api import Status, SystemStatus
from quietline.protocol.certificates import KeyRole
from quietline.protocol.deaddrops import JournalistDeadDrop, UserDeadDrop
from quietline.protocol.hierarchy import JournalistProfile
from tests.edge.submissions import NOW, journalist_dead_drop, revocation, user_dead_drop
from tests.support.organisation import Organisation
from tests.support.postgres import fresh_database


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def _indexes(url: str) -> set[str]:
    with psycopg.connect(url) as db:
        return {name for (name,) in db.execute("SELECT indexname FROM pg_indexes").fetchall()}


def _fill(store: PostgresEdgeStore, organization: Organisation) -> None:
    """One of everything the store holds."""
    key = organization.covernode_provisioning.published
    store.add_key(
        KeyRole.COVERNODE_PROVISIONING, None, organization.anchor.key, key, key.not_valid_after
    )
    store.add_revocation(revocation(organization, b"r" * 32))
    store.put_profile(JournalistProfile.create("alice", "Alice", "", is_desk=False), default=True)
    store.put_status(Status(SystemStatus.AVAILABLE, "open", NOW))
    store.add_dead_drop(user_dead_drop(organization, NOW), NOW)
    store.add_dead_drop(journalist_dead_drop(organization, NOW), NOW)


def _contents(store: PostgresEdgeStore) -> tuple[object, ...]:
    return (
        store.live_keys(NOW),
        store.statements(),
        store.profiles(),
        store.latest_status(),
        store.dead_drops(UserDeadDrop, 0, 100, NOW),
        store.dead_drops(JournalistDeadDrop, 0, 100, NOW),
    )


def test_down_and_up_again_with_data_in_place(database: str, organization: Organisation) -> None:
    upgrade(database, "0001")
    assert current(database) == "0001"
    assert "dead_drops_kind_id" not in _indexes(database)
    store = PostgresEdgeStore(database)  # brings it to the newest revision
    try:
        assert current(database) == "0002"
        assert "dead_drops_kind_id" in _indexes(database)
        _fill(store, organization)
        stored = _contents(store)
    finally:
        store.close()

    downgrade(database, "0001")
    assert current(database) == "0001"
    assert "dead_drops_kind_id" not in _indexes(database)
    upgrade(database)
    store = PostgresEdgeStore(database)
    try:
        assert _contents(store) == stored
        assert store.add_dead_drop(user_dead_drop(organization, NOW), NOW) == 3
    finally:
        store.close()

    downgrade(database, "base")
    assert current(database) is None
    with psycopg.connect(database) as db:
        tables = db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    assert tables == [("alembic_version",)]


def test_edges_starting_together_migrate_once(database: str) -> None:
    failures: list[BaseException] = []

    def start() -> None:
        try:
            upgrade(database)
        except BaseException as error:  # reported below, with the thread's error
            failures.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert current(database) == "0002"


def test_a_url_is_shown_without_its_password() -> None:
    shown = redacted("postgresql://edge:s3cret@db.internal:5432/quietline")
    assert shown == "postgresql://edge:***@db.internal:5432/quietline"
    assert redacted("postgresql://edge@db/quietline") == "postgresql://edge@db/quietline"


def test_a_schema_newer_than_the_code_is_refused(database: str) -> None:
    upgrade(database)
    with psycopg.connect(database) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(CommandError, match="9999"):
        PostgresEdgeStore(database)
