"""The edge's PostgreSQL schema, as Alembic migrations of plain SQL (``versions/``).

``PostgresEdgeStore`` applies them when it opens, as the SQLite store creates its
tables: every edge process that starts brings the schema to the newest revision its code
knows, taking turns on a PostgreSQL advisory lock, so several edges starting at once
migrate it once. :func:`downgrade` takes it back (docs/deploy.md says when).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

_HERE = Path(__file__).resolve().parent
# Any constant names the lock; this one spells "qlmigrat" in ASCII.
_MIGRATION_LOCK = 0x716C6D6967726174
POSTGRES_SCHEMES = ("postgresql", "postgres")


def redacted(url: str) -> str:
    """``url`` without its password, to show in messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _sqlalchemy_url(url: str) -> str:
    """``url`` (``postgresql://...``) for SQLAlchemy's psycopg 3 dialect."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def _run(url: str, step: str, revision: str) -> None:
    engine = create_engine(_sqlalchemy_url(url), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config = Config()
            config.set_main_option("script_location", str(_HERE))
            config.attributes["connection"] = connection
            if step == "upgrade":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema at ``url`` up to ``revision`` (the newest by default), in one
    transaction. Raises SQLAlchemy's and Alembic's errors (an unknown revision in the
    database: a newer edge migrated it)."""
    _run(url, "upgrade", revision)


def downgrade(url: str, revision: str) -> None:
    """Take the schema at ``url`` back to ``revision`` (``base``: no tables at all), in
    one transaction."""
    _run(url, "downgrade", revision)


def current(url: str) -> str | None:
    """The revision the schema at ``url`` is at, None before the first migration."""
    engine = create_engine(_sqlalchemy_url(url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
