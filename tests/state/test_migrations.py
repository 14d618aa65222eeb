"""The state DB is built by the migrations, equals the models, and refuses newer DBs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from etiket_sync_agent.errors import StateDBError
from etiket_sync_agent.state.db import StateDB, head_revision
from etiket_sync_agent.state.models import Base


def test_new_database_is_built_by_migrations_and_matches_models(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert ctx.get_current_revision() == head_revision()
        diff = compare_metadata(ctx, Base.metadata)
    db.close()
    assert diff == [], f"migrated schema differs from the models: {diff}"


def test_reopening_is_idempotent_and_keeps_data(tmp_path: Path) -> None:
    from etiket_sync_agent.state import repository as repo

    db = StateDB(tmp_path / "state.db")
    repo.set_loop_status(db, state="stopped", iteration=7)
    db.close()
    db = StateDB(tmp_path / "state.db")
    assert repo.loop_status(db).iteration == 7
    db.close()


def test_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateDB(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff_from_the_future'")
    with pytest.raises(StateDBError, match="newer version"):
        StateDB(path)


def test_concurrent_first_opens_do_not_conflict(tmp_path: Path) -> None:
    """Two processes creating the same new state DB at once: both succeed."""
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from etiket_sync_agent.state.db import StateDB;"
        "StateDB(Path(sys.argv[1])).close()"
    )
    path = tmp_path / "state.db"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)]) for _ in range(3)]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (head_revision(),)
        ]
