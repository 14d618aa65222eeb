"""The one in-process Alembic runner of the state database and the store catalog.

:func:`migrate` brings a database to its head revision:

1. the cheap check — two queries, Alembic not imported — returns at once for a database
   already at head (and in WAL mode, for SQLite): every start of every command;
2. otherwise, under the database's lock (a file lock next to an SQLite file,
   ``pg_advisory_xact_lock`` on PostgreSQL): a new SQLite file is switched to WAL
   (:func:`~etiket_sync_agent.db.engine.enable_wal`), the revision is read again (another
   process may have migrated meanwhile), a revision this code does not know (a newer
   agent wrote it) is refused with the role's error class, and ``alembic upgrade head``
   runs in one write transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from etiket_sync_agent.db.engine import WRITE, enable_wal
from etiket_sync_agent.errors import EtiketSyncError

if TYPE_CHECKING:
    from alembic.config import Config

_PG_LOCK_NAMESPACE = 0x45544B4D  # "ETKM": with the version table's hash, one lock per schema


@dataclass(frozen=True)
class Migrations:
    """One database's migration scripts and how to report on them."""

    #: the folder holding env.py and versions/
    script_location: Path
    #: the newest revision in versions/ (a test keeps the two in step)
    head: str
    #: Alembic's version table of this database
    version_table: str
    #: e.g. "the state database" (used in errors)
    what: str
    #: raised for a database written by a newer version
    error: type[EtiketSyncError]

    def config(self) -> Config:
        """A programmatic Alembic config (no alembic.ini)."""
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(self.script_location))
        return config

    def known_revisions(self) -> set[str]:
        from alembic.script import ScriptDirectory

        return {rev.revision for rev in ScriptDirectory.from_config(self.config()).walk_revisions()}


def current_revision(conn: Connection, version_table: str) -> str | None:
    """The database's revision, or None for a database that was never migrated."""
    if not inspect(conn).has_table(version_table):
        return None
    return conn.execute(text(f"SELECT version_num FROM {version_table}")).scalar()


def migrate(engine: Engine, migrations: Migrations, lock_path: Path | None = None) -> bool:
    """Bring the database behind ``engine`` to ``migrations.head``; True if it upgraded.

    ``lock_path`` is the file lock serialising SQLite migrations (required for SQLite).
    Raises ``migrations.error`` for a database at a revision this code does not know.
    """
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        at_head = current_revision(conn, migrations.version_table) == migrations.head
        # a file restored from a backup may have lost WAL: switched back below
        wal = not sqlite or conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    if at_head and wal:
        return False
    if not sqlite:
        return _upgrade(engine, migrations)
    from etiket_sync_agent.locking import FileLock

    if lock_path is None:
        raise ValueError("an SQLite database needs a lock path to migrate")
    with FileLock(lock_path):
        enable_wal(engine)
        return _upgrade(engine, migrations)


def _upgrade(engine: Engine, migrations: Migrations) -> bool:
    with engine.execution_options(**WRITE).connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # batch mode rebuilds a table by copy + DROP TABLE, and a DROP with foreign keys
            # on deletes (ON DELETE CASCADE) every row referring to it; the pragma is a
            # no-op inside a transaction, so it is set before BEGIN and checked at the end
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
        try:
            with conn.begin():
                upgraded = _upgrade_in(conn, engine, migrations)
                if upgraded and sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise migrations.error(
                            f"upgrading {migrations.what} left rows pointing at nothing "
                            f"({broken[:3]}); nothing was changed",
                            hint="report this as a bug of etiket_sync_agent",
                        )
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys = ON")
    return upgraded


def _upgrade_in(conn: Connection, engine: Engine, migrations: Migrations) -> bool:
    """The upgrade inside the write transaction (and, on PostgreSQL, its lock)."""
    from alembic import command

    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:ns, :key)"),
            {"ns": _PG_LOCK_NAMESPACE, "key": hash_key(migrations.version_table)},
        )
    # read again under the lock: another process may have migrated meanwhile
    current = current_revision(conn, migrations.version_table)
    if current is not None and current not in migrations.known_revisions():
        where = engine.url.render_as_string(hide_password=True)
        raise migrations.error(
            f"{migrations.what} {where} is at revision {current!r}, which this version "
            "of etiket_sync_agent does not know (it was written by a newer version)",
            hint="upgrade etiket_sync_agent (pip install -U etiket_sync_agent)",
        )
    if current == migrations.head:
        return False
    config = migrations.config()
    config.attributes["connection"] = conn
    try:
        command.upgrade(config, "head")
    finally:
        config.attributes.pop("connection", None)
    return True


def hash_key(name: str) -> int:
    """A stable signed 32-bit key for ``name`` (Python's hash() is salted per process)."""
    import zlib

    return zlib.crc32(name.encode()) - (1 << 31)
