"""Alembic environment of the store catalog. Runs in-process only (see ``__init__.py``)."""

from __future__ import annotations

from alembic import context

from etiket_sync_agent.store.catalog import Base
from etiket_sync_agent.store.migrations import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "the store catalog is migrated in-process when a LocalStore opens it; "
        "do not run `alembic` on it from the command line"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
