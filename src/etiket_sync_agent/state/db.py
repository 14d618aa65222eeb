"""Open the state database, upgrading it in-process under a file lock.

A new database is built by ``alembic upgrade head`` (never ``create_all``); the engine
and the migration runner are the ones shared with the store catalog
(:mod:`etiket_sync_agent.db`). A database whose revision this code does not know (written
by a newer agent), or a damaged file, raises :class:`StateDBError` (exit code 5).

Transactions: reading (a session used without ``begin()``) takes no lock — the WAL lets
``status --watch`` and ``items`` read while the engine writes. An explicit
``session.begin()`` is a write transaction: it begins with ``BEGIN IMMEDIATE`` and waits
up to the busy timeout for the write lock, then raises
:class:`~etiket_sync_agent.errors.DatabaseBusyError`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from etiket_sync_agent.db.engine import WRITE, DatabaseRole, make_engine, sqlite_url
from etiket_sync_agent.db.migrate import Migrations, migrate
from etiket_sync_agent.errors import StateDBError
from etiket_sync_agent.state.migrations import HEAD, SCRIPT_LOCATION, VERSION_TABLE

logger = logging.getLogger(__name__)

MIGRATIONS = Migrations(
    script_location=SCRIPT_LOCATION,
    head=HEAD,
    version_table=VERSION_TABLE,
    what="the state database",
    error=StateDBError,
)

ROLE = DatabaseRole(
    what="the state database",
    if_damaged="stop the agent and move the file aside (e.g. add .broken to its name): "
    "the next command starts a new one and the sources must be added again; the store "
    "keeps every dataset already synchronized",
)


def head_revision() -> str:
    return HEAD


class StateSession(Session):
    """A session whose explicit transactions are write transactions (``BEGIN IMMEDIATE``)."""

    def begin(self, nested: bool = False) -> SessionTransaction:
        tx = super().begin(nested=nested)
        if not nested:
            # acquire the connection now, carrying the write option its BEGIN looks at
            self.connection(execution_options=WRITE)
        return tx


class StateDB:
    """The engine and session factory of one home's state database."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.engine = make_engine(sqlite_url(path), ROLE)
        try:
            if migrate(self.engine, MIGRATIONS, path.with_name(path.name + ".lock")):
                logger.info("state database %s upgraded to %s", path, HEAD)
        except TimeoutError as exc:
            self.engine.dispose()
            raise StateDBError(
                f"timed out waiting for another process to upgrade {path}",
                hint="retry; if it persists, look for a hung etiket-sync process",
            ) from exc
        except BaseException:
            self.engine.dispose()
            raise
        self.sessions = sessionmaker(self.engine, class_=StateSession, expire_on_commit=False)

    def session(self) -> Session:
        """A session: read with it as is, or write inside ``with session.begin():``."""
        return self.sessions()

    def close(self) -> None:
        self.engine.dispose()
