"""The store catalog's Alembic migrations, run in-process by the shared runner.

:func:`ensure_schema` runs when a :class:`~etiket_sync_agent.store.local.LocalStore` opens
its catalog (see :func:`etiket_sync_agent.db.migrate.migrate`: a catalog already at
:data:`HEAD` costs one query and never imports Alembic).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from etiket_sync_agent.db.engine import DatabaseRole
from etiket_sync_agent.db.migrate import Migrations, migrate
from etiket_sync_agent.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Engine

VERSION_TABLE = "store_alembic_version"
HEAD = "0002"
"""The newest revision in ``versions/`` (a test keeps the two in step)."""

SCRIPT_LOCATION = Path(__file__).parent

MIGRATIONS = Migrations(
    script_location=SCRIPT_LOCATION,
    head=HEAD,
    version_table=VERSION_TABLE,
    what="the store catalog",
    error=StoreError,
)

#: a damaged catalog file raises StateDBError (exit code 5), like a damaged state DB
ROLE = DatabaseRole(
    what="the store catalog",
    if_damaged="stop the agent; restore catalog.db from a backup, or move it aside (add "
    ".broken to its name) together with the home's state.db and add the sources again: "
    "every dataset is then synchronized anew (content already in store/blobs is reused)",
)


def ensure_schema(engine: Engine, lock_path: Path | None = None) -> None:
    """Bring the catalog behind ``engine`` to :data:`HEAD` (StoreError if it is newer)."""
    migrate(engine, MIGRATIONS, lock_path)


def alembic_config() -> Config:
    """A programmatic Alembic config pointing at this package (no alembic.ini)."""
    return MIGRATIONS.config()
