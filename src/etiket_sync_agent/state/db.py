"""Open the state database, upgrading it in-process under a file lock.

A new database is built by ``alembic upgrade head`` (never ``create_all``). A database
whose revision this code does not know (written by a newer agent) is refused.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from etiket_sync_agent.errors import StateDBError
from etiket_sync_agent.locking import FileLock

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"


@lru_cache(maxsize=1)
def _script():  # noqa: ANN202 - alembic ScriptDirectory, imported lazily
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg, ScriptDirectory.from_config(cfg)


def head_revision() -> str:
    return _script()[1].get_current_head()


def _sqlite_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # noqa: ANN001
        # take the write lock up front: no deadlock between two upgrading readers
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def current_revision(engine: Engine) -> str | None:
    from sqlalchemy import inspect, text

    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def upgrade(engine: Engine, lock_path: Path) -> None:
    """Bring the database to head, unless it is there already (cheap check first)."""
    cfg, script = _script()
    head = script.get_current_head()
    rev = current_revision(engine)
    if rev == head:
        return
    if rev is not None and rev not in {s.revision for s in script.walk_revisions()}:
        raise StateDBError(
            f"the state database is at revision {rev}, which this version of "
            "etiket_sync_agent does not know (it was written by a newer version)",
            hint="upgrade etiket_sync_agent (pip install -U etiket_sync_agent)",
        )
    from alembic import command

    with FileLock(lock_path), engine.begin() as conn:
        cfg.attributes["connection"] = conn
        try:
            command.upgrade(cfg, "head")
        finally:
            cfg.attributes.pop("connection", None)
    logger.info("state database upgraded from %s to %s", rev, head)


class StateDB:
    """The engine and session factory of one home's state database."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.engine = _sqlite_engine(path)
        upgrade(self.engine, path.with_name(path.name + ".lock"))
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self.sessions()

    def close(self) -> None:
        self.engine.dispose()
