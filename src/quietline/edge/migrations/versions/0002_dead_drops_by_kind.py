"""An index for the dead-drop reads, which take one kind in id order (a reader's page
after ``ids_greater_than``, the newest for a window or a summary).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute("CREATE INDEX dead_drops_kind_id ON dead_drops (kind, id)")


def downgrade() -> None:
    op.execute("DROP INDEX dead_drops_kind_id")
