"""The edge's tables, as the SQLite store has them (the queues excepted): keys, role
statements, revocations, profiles, dead drops and the operator's status.

Identifiers and roles compare byte by byte (``COLLATE "C"``), as SQLite compares them,
so every listing comes in the same order on both engines.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE keys (
            key BYTEA PRIMARY KEY,
            role TEXT COLLATE "C" NOT NULL,
            owner TEXT COLLATE "C",
            parent_key BYTEA NOT NULL,
            certificate BYTEA NOT NULL,
            not_valid_after BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            epoch BIGINT NOT NULL UNIQUE
        );
        CREATE TABLE roles (
            key BYTEA NOT NULL,
            role TEXT COLLATE "C" NOT NULL,
            signature BYTEA NOT NULL,
            PRIMARY KEY (key, role)
        );
        CREATE TABLE revocations (
            key BYTEA NOT NULL,
            revoked_at BIGINT NOT NULL,
            signature BYTEA NOT NULL,
            PRIMARY KEY (key, revoked_at)
        );
        CREATE TABLE profiles (
            id TEXT COLLATE "C" PRIMARY KEY,
            profile TEXT NOT NULL,
            is_default INTEGER NOT NULL
        );
        CREATE TABLE dead_drops (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            data BYTEA NOT NULL,
            signature BYTEA NOT NULL UNIQUE,
            epoch BIGINT,
            stored_at BIGINT NOT NULL
        );
        CREATE INDEX dead_drops_created_at ON dead_drops (created_at);
        CREATE TABLE status_events (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            status TEXT NOT NULL,
            description TEXT NOT NULL,
            timestamp BIGINT NOT NULL
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE status_events, dead_drops, profiles, revocations, roles, keys")
