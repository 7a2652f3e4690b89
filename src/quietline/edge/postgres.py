"""The edge's store on PostgreSQL: the same tables, rules and statements as the SQLite
store (quietline.edge.store.SqlEdgeStore), over a pool of psycopg 3 connections.

Several edge processes may share one database: writers of keys and of dead drops take
turns on a table lock, so epochs and dead-drop ids become visible in the order they are
handed out (a reader paging by id never skips one that commits late). Whenever the
server cannot answer (down, restarting, out of connections, a lock held too long) the
store raises StoreBusy, which the edge answers with 503 and ``Retry-After``; the pool
checks each connection before lending it, so the store recovers by itself once the
server is back.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from quietline.edge.migrations import upgrade
from quietline.edge.store import DEFAULT_RETENTION, SqlEdgeStore, StoreBusy, Transaction

CONNECTIONS = 16  # the most one edge process holds; a request beyond waits
WAIT_SECONDS = 5.0  # for a connection (or the server) before answering 503
# Per statement and per lock, on the server: a stuck query ends in a 503, not a hang.
_SESSION = "-c statement_timeout=30000 -c lock_timeout=5000"


def _placeholders(sql: str) -> str:
    """SqlEdgeStore's statements use ``?``, psycopg's ``%s`` (none holds either literally)."""
    return sql.replace("?", "%s")


class _Transaction:
    """One write transaction on one pooled connection."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        return self._connection.execute(_placeholders(sql), parameters)


class PostgresEdgeStore(SqlEdgeStore):
    """The edge's keys, statements, profiles, status and dead drops in the PostgreSQL
    database at ``url`` (``postgresql://user@host:port/database``), whose schema it
    migrates to the newest revision first (quietline.edge.migrations).

    Raises psycopg's and SQLAlchemy's errors when the database cannot be reached or
    migrated at start; after that, only StoreBusy.
    """

    def __init__(
        self,
        url: str,
        retention: timedelta = DEFAULT_RETENTION,
        *,
        connections: int = CONNECTIONS,
        wait_seconds: float = WAIT_SECONDS,
    ) -> None:
        super().__init__(retention)
        upgrade(url)
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=1,
            max_size=connections,
            timeout=wait_seconds,
            kwargs={"autocommit": True, "options": _SESSION, "connect_timeout": 5},
            check=ConnectionPool.check_connection,
            name="quietline-edge",
            open=False,
        )
        self._pool.open(wait=True, timeout=wait_seconds)

    def _read(self, sql: str, *args: object) -> list[Any]:
        try:
            with self._pool.connection() as connection:
                return connection.execute(_placeholders(sql), args).fetchall()
        except psycopg.OperationalError as error:
            raise StoreBusy("the edge's store is busy; try again") from error

    @contextmanager
    def _write(self) -> Iterator[_Transaction]:
        try:
            with self._pool.connection() as connection, connection.transaction():
                yield _Transaction(connection)
        except psycopg.OperationalError as error:
            raise StoreBusy("the edge's store is busy; try again") from error

    def _rows(self, sql: str, parameters: Sequence[object]) -> Generator[Any, None, None]:
        """In libpq's single-row mode: one row at a time from one query; closed early, the
        query is cancelled and what the server had already sent is dropped. It holds its
        connection until it is closed or read to the end."""
        try:
            with self._pool.connection() as connection:
                yield from connection.cursor().stream(_placeholders(sql), parameters)
        except psycopg.OperationalError as error:
            raise StoreBusy("the edge's store is busy; try again") from error

    def _serialize(self, db: Transaction, table: str) -> None:
        # Blocks the other writers of ``table`` (and itself), never its readers.
        db.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.close()


def database_url(server: str, name: str) -> str:
    """The URL of database ``name`` on the server that ``server`` (a URL) names."""
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


def create_database(server: str, name: str) -> str:
    """Create the empty database ``name`` on the server at ``server`` (a URL of any
    database there, as a user who may create databases); returns its URL. Raises
    psycopg's errors."""
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(server, name)


def drop_database(server: str, name: str) -> None:
    """Drop database ``name`` on the server at ``server``, cutting off whatever still
    connects to it. Raises psycopg's errors."""
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
