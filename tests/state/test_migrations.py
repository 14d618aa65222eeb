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


def test_head_constant_matches_the_migration_scripts() -> None:
    from alembic.script import ScriptDirectory

    from etiket_sync_agent.state.db import MIGRATIONS

    assert ScriptDirectory.from_config(MIGRATIONS.config()).get_heads() == [head_revision()]


def _database_at(path: Path, revision: str) -> None:
    """A state DB built by the migrations up to ``revision`` (what an older agent left)."""
    from alembic import command

    from etiket_sync_agent.db.engine import make_engine, sqlite_url
    from etiket_sync_agent.state.db import MIGRATIONS, ROLE

    engine = make_engine(sqlite_url(path), ROLE)
    with engine.begin() as conn:
        cfg = MIGRATIONS.config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


_RECORD = (
    '{"started": "2026-11-01T10:00:00+00:00", "mode": "normal", "outcome": "failed",'
    ' "error": "OSError: boom", "warnings": ["odd file"], "traceback": null,'
    ' "tasks": [{"name": "upload", "started": "2026-11-01T10:00:00+00:00", "duration_s": 1.0,'
    ' "ok": false, "error": "OSError: boom", "logs": [%s]}]}'
)


@pytest.mark.parametrize("revision", ["0001", "0002", "0003", "0004"])
def test_an_older_database_holding_rows_is_upgraded_keeping_them(
    tmp_path: Path, revision: str
) -> None:
    from etiket_sync_agent.state import repository as repo
    from etiket_sync_agent.state.records import MAX_LINES

    path = tmp_path / "state.db"
    _database_at(path, revision)
    lines = ", ".join(f'"uploaded f{i}"' for i in range(500))
    records = "[" + ", ".join([_RECORD % lines] * 7) + "]"
    now = "2026-11-01 10:00:00.000000"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(
            "INSERT INTO sources (id, name, backend, config, status, created, updated) "
            "VALUES (1, 'lab', 'folderbase', '{\"root_directory\": \"/data\"}', 'active', ?, ?)",
            (now, now),
        )
        conn.execute(
            "INSERT INTO scope_mappings (source_id, identifier, scope) VALUES (1, 'a', 'lab-a')"
        )
        for i in (1, 2):
            conn.execute(
                "INSERT INTO items (id, source_id, identifier, dataset_uuid, priority, status, "
                "attempts, fingerprint, synced_fingerprint, records, sync_count, created, "
                "updated) VALUES (?, 1, ?, ?, ?, ?, 2, 'fp', 'fp', ?, 1, ?, ?)",
                (
                    i,
                    f"ds{i}",
                    f"uuid-{i}",
                    float(i),
                    "failed" if i == 1 else "synchronized",
                    records if i == 1 else "[]",
                    now,
                    now,
                ),
            )
        conn.execute(
            "INSERT INTO errors (source_id, item_id, \"when\", message) VALUES (1, 1, ?, 'boom')",
            (now,),
        )
        conn.execute("INSERT INTO loop_status (id, state, iteration) VALUES (1, 'stopped', 42)")

    db = StateDB(path)  # upgrades to head
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert ctx.get_current_revision() == head_revision()
        assert compare_metadata(ctx, Base.metadata) == []
    src = repo.get_source(db, "lab")
    assert src.config == {"root_directory": "/data"}
    assert repo.scope_mappings(db, src.id) == {"a": "lab-a"}
    failed = repo.get_item(db, src.id, "ds1")
    assert (failed.dataset_uuid, failed.status, failed.attempts) == ("uuid-1", "failed", 2)
    assert (failed.label, failed.name, failed.last_warnings) == (None, None, ["odd file"])
    kept = repo.item_records(db, failed.id)
    assert len(kept) == repo.MAX_RECORDS  # the last few of the 7
    assert all(len(r["tasks"][0]["logs"]) == MAX_LINES for r in kept)  # bounded
    assert kept[-1]["tasks"][0]["logs"][0] == "uploaded f0"
    assert repo.item_records(db, repo.get_item(db, src.id, "ds2").id) == []
    assert [e.message for e in repo.recent_errors(db)] == ["boom"]  # not cascaded away
    assert repo.loop_status(db).iteration == 42
    db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
