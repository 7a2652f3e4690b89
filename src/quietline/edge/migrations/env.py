"""Alembic's entry point: run the migrations on the connection ``upgrade`` or
``downgrade`` (quietline.edge.migrations) opened, inside its transaction."""

from __future__ import annotations

from alembic import context

context.configure(connection=context.config.attributes["connection"], transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
