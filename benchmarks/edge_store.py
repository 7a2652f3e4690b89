"""The edge store's operations on SQLite and on PostgreSQL, against each engine's raw rate.

Run: ``.venv/bin/python benchmarks/edge_store.py [--seconds S] [--rounds R] [--postgres URL]``

For each engine, in one run and one thread, the best of R rounds (3) of S seconds (1)
each: the store's dead-drop write (purge, look-up and insert in one transaction, as
``POST /v1/user/dead-drops`` does), a read of a page of 100 dead drops, and the read of
the hierarchy's version that every signed form makes. The limits, measured in the same
rounds on the same database: making one such dead drop and a bare insert of its data in
a transaction of its own (for the write), a bare read of 100 such rows (for the page)
and a bare ``SELECT 1`` (for the version), through the same driver with the same
settings. SQLite is a file in a temporary folder (WAL, synchronous FULL, as the store
runs it); PostgreSQL is a new database on the server at ``--postgres`` (by default
127.0.0.1:5432), dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from open_messages import rate

from quietline.edge.postgres import PostgresEdgeStore, create_database, drop_database
from quietline.edge.store import EdgeStore, SqlEdgeStore
from quietline.protocol.constants import J2U_ENCRYPTED_LEN
from quietline.protocol.deaddrops import UserDeadDrop
from quietline.protocol.keys import SigningKeyPair

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _dead_drop(pair: SigningKeyPair) -> UserDeadDrop:
    """A new signed user dead drop of 5 entries (the store checks no signature)."""
    data = os.urandom(5 * J2U_ENCRYPTED_LEN)
    return UserDeadDrop(NOW, data, pair.sign(data))


def measure(store: SqlEdgeStore, seconds: float) -> dict[str, float]:
    pair = SigningKeyPair.generate()
    for _ in range(100):
        store.add_dead_drop(_dead_drop(pair), NOW)
    return {
        "write": rate(lambda: store.add_dead_drop(_dead_drop(pair), NOW), seconds),
        "page": rate(lambda: store.dead_drops(UserDeadDrop, 0, 100, NOW), seconds),
        "version": rate(store.hierarchy_version, seconds),
    }


def raw_sqlite(path: Path, seconds: float) -> dict[str, float]:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS raw (data BLOB NOT NULL)")
    pair = SigningKeyPair.generate()

    def insert() -> None:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO raw (data) VALUES (?)", (_dead_drop(pair).data,))
        db.execute("COMMIT")

    try:
        write = rate(insert, seconds)
        page = "SELECT data FROM raw LIMIT 100"
        return {
            "write": write,
            "page": rate(lambda: db.execute(page).fetchall(), seconds),
            "read": rate(lambda: db.execute("SELECT 1").fetchall(), seconds),
        }
    finally:
        db.close()


def raw_postgres(url: str, seconds: float) -> dict[str, float]:
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE IF NOT EXISTS raw (data BYTEA NOT NULL)")
        pair = SigningKeyPair.generate()

        def insert() -> None:
            db.execute("INSERT INTO raw (data) VALUES (%s)", (_dead_drop(pair).data,))

        write = rate(insert, seconds)
        page = "SELECT data FROM raw LIMIT 100"
        return {
            "write": write,
            "page": rate(lambda: db.execute(page).fetchall(), seconds),
            "read": rate(lambda: db.execute("SELECT 1").fetchall(), seconds),
        }


def best_of_rounds(
    store: Callable[[], dict[str, float]], raw: Callable[[], dict[str, float]], rounds: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Each rate's best over ``rounds`` rounds, the store and the raw loop taking turns
    (a shared disk's fsyncs vary from one second to the next)."""
    best: tuple[dict[str, float], dict[str, float]] = ({}, {})
    for _ in range(rounds):
        for kept, measured in zip(best, (store(), raw()), strict=True):
            for key, value in measured.items():
                kept[key] = max(value, kept.get(key, 0.0))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    results: dict[str, tuple[dict[str, float], dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        sqlite_store = EdgeStore(Path(folder) / "edge.sqlite3")
        try:
            results["SQLite"] = best_of_rounds(
                lambda: measure(sqlite_store, args.seconds),
                lambda: raw_sqlite(Path(folder) / "raw.sqlite3", args.seconds),
                args.rounds,
            )
        finally:
            sqlite_store.close()
    name = f"quietline_bench_{uuid.uuid4().hex[:8]}"
    url = create_database(args.postgres, name)
    try:
        postgres_store = PostgresEdgeStore(url)
        try:
            results["PostgreSQL"] = best_of_rounds(
                lambda: measure(postgres_store, args.seconds),
                lambda: raw_postgres(url, args.seconds),
                args.rounds,
            )
        finally:
            postgres_store.close()
    finally:
        drop_database(args.postgres, name)

    print(f"best of {args.rounds} rounds of {args.seconds:g} s; the limit is the raw rate")
    print(f"{'engine':<11} {'operation':<38} {'per second':>11} {'limit':>9} {'vs limit':>9}")
    for engine, (store, raw) in results.items():
        for operation, value, limit in (
            ("add a dead drop (1 transaction)", store["write"], raw["write"]),
            ("read a page of 100 dead drops", store["page"], raw["page"]),
            ("read the hierarchy's version", store["version"], raw["read"]),
        ):
            print(
                f"{engine:<11} {operation:<38} {value:>11,.0f} {limit:>9,.0f} {value / limit:>9.2f}"
            )


if __name__ == "__main__":
    main()
