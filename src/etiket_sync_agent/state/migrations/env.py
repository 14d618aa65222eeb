"""Alembic environment of the state database; run in-process by ``state/db.py``."""

from __future__ import annotations

from alembic import context

from etiket_sync_agent.state.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable when misused from the alembic CLI
    raise RuntimeError("the state migrations run in-process: use etiket_sync_agent.state.db")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
