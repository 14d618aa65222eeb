"""The one engine factory of the agent's databases (state DB and store catalog).

SQLite, as every database of the agent uses it:

* WAL journal, so readers never block the writer and the writer never blocks readers.
  The switch to WAL is made once, when the file is created, by :func:`enable_wal` under
  the migration lock (see :mod:`.migrate`): ``PRAGMA journal_mode = WAL`` needs an
  exclusive lock for which SQLite does not call the busy handler, so two processes
  opening a new file at once must not both issue it. WAL is persistent in the file, so
  connections never set it.
* ``synchronous = NORMAL`` (durable against a killed process; a power cut may lose the
  last transactions, never consistency), foreign keys on, a 30 s busy timeout.
* Reads begin with a plain ``BEGIN`` and take no lock; write transactions — connections
  carrying the :data:`WRITE` execution options — begin with ``BEGIN IMMEDIATE`` so that
  writers queue on the lock at their start (within the busy timeout) instead of failing
  when a read transaction upgrades itself to a write.
* A lock held by another process beyond the busy timeout raises
  :class:`~etiket_sync_agent.errors.DatabaseBusyError`; a damaged or truncated file raises
  :class:`~etiket_sync_agent.errors.StateDBError` naming the file and what to do.

Other URLs (PostgreSQL) get a pre-pinging pool and nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext

from etiket_sync_agent.errors import DatabaseBusyError, StateDBError

BUSY_TIMEOUT_S = 30.0

WRITE = {"etiket_write": True}
"""Execution options of write transactions (``BEGIN IMMEDIATE`` on SQLite)."""

#: what sqlite3 says for a file that is not (or no longer) an SQLite database
_DAMAGED = (
    "file is not a database",
    "database disk image is malformed",
    "file is encrypted or is not a database",
    "malformed database schema",
)
_LOCKED = ("database is locked", "database table is locked")


@dataclass(frozen=True)
class DatabaseRole:
    """What a database is to the user: names it in errors and says what to do if damaged."""

    #: e.g. "the state database"
    what: str
    #: what to do with a damaged file (the hint of the StateDBError)
    if_damaged: str


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` (a DBAPI/SQLAlchemy error) is SQLite's "database is locked"."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(s in text for s in _LOCKED)


def is_damaged(exc: BaseException) -> bool:
    """Whether ``exc`` says the SQLite file is damaged or not a database at all."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(s in text for s in _DAMAGED)


def damaged_error(role: DatabaseRole, path: str, exc: BaseException) -> StateDBError:
    detail = str(getattr(exc, "orig", None) or exc)
    return StateDBError(f"{role.what} {path} is damaged ({detail})", hint=role.if_damaged)


def make_engine(url: str, role: DatabaseRole) -> Engine:
    """An engine for the database at ``url``, configured as the module docstring says."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
    where = engine.url.database or url

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see _on_begin
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA synchronous = NORMAL")
            # a truncated or foreign file is found here, before any query of ours
            cursor.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except Exception as exc:
            if is_damaged(exc):
                raise damaged_error(role, where, exc) from exc
            raise
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("etiket_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    @event.listens_for(engine, "handle_error")
    def _on_error(ctx: ExceptionContext) -> None:
        exc = ctx.original_exception
        if is_locked(exc):
            raise DatabaseBusyError(
                f"{role.what} {where} stayed locked by another process for more than "
                f"{BUSY_TIMEOUT_S:.0f} s",
                hint="retried automatically; if it persists, look for a hung etiket-sync process",
            ) from exc
        if is_damaged(exc):
            raise damaged_error(role, where, exc) from exc

    return engine


def enable_wal(engine: Engine, timeout: float = BUSY_TIMEOUT_S) -> None:
    """Put an SQLite database in WAL mode (a no-op if it is already).

    Call it under the database's migration lock: the switch needs an exclusive lock and
    SQLite does not wait for it (no busy handler), so it is retried here while another
    process briefly reads the file.
    """
    if engine.dialect.name != "sqlite":
        return
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        while True:
            try:
                mode = raw.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    raw.execute("PRAGMA journal_mode = WAL")
                return
            except Exception as exc:
                if not is_locked(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)
