"""In-process Alembic migrations of the store catalog.

:func:`ensure_schema` runs when a :class:`~etiket_sync_agent.store.local.LocalStore` opens
its catalog: a new catalog is built by ``upgrade head`` and an old one is upgraded, under
a lock so that several agents opening the same catalog at once migrate it once (a file
lock next to an SQLite catalog, ``pg_advisory_xact_lock`` on PostgreSQL). A catalog
already at :data:`HEAD` costs one query and never imports Alembic.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from etiket_sync_agent.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "store_alembic_version"
HEAD = "0001"
"""The newest revision in ``versions/`` (a test keeps the two in step)."""

SCRIPT_LOCATION = Path(__file__).parent
_PG_LOCK_KEY = 0x45544B5354  # "ETKST": one key for every agent migrating this catalog


def current_revision(conn: Connection) -> str | None:
    """The catalog's revision, or None for a catalog that was never migrated."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def ensure_schema(engine: Engine, lock_path: Path | None = None) -> None:
    """Bring the catalog behind ``engine`` to :data:`HEAD`.

    ``lock_path`` is the file lock serialising SQLite migrations (required for SQLite).
    Raises StoreError for a catalog at a revision this code does not know (newer code
    wrote it).
    """
    with engine.connect() as conn:
        current = current_revision(conn)
    if current == HEAD:
        return
    if engine.dialect.name == "sqlite":
        from etiket_sync_agent.locking import FileLock

        if lock_path is None:
            raise ValueError("an SQLite catalog needs a lock path to migrate")
        with FileLock(lock_path):
            _upgrade(engine)
    else:
        _upgrade(engine)


def alembic_config() -> Config:
    """A programmatic Alembic config pointing at this package (no alembic.ini)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return config


def _upgrade(engine: Engine) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    from etiket_sync_agent.store.catalog import WRITE

    config = alembic_config()
    known = {rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()}
    with engine.execution_options(**WRITE).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        # read again under the lock: another process may have migrated meanwhile
        current = current_revision(conn)
        if current is not None and current not in known:
            where = engine.url.render_as_string(hide_password=True)
            raise StoreError(
                f"the store catalog {where} is at revision {current!r}, which this version "
                "of etiket_sync_agent does not know (it was written by a newer version)",
                hint="upgrade etiket_sync_agent (pip install -U etiket_sync_agent)",
            )
        if current == HEAD:
            return
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
