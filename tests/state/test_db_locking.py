"""Readers never take the write lock; a lock held too long is a typed, transient error;
a new file is switched to WAL without racing another opener."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from etiket_sync_agent.db import engine as db_engine
from etiket_sync_agent.errors import DatabaseBusyError
from etiket_sync_agent.state import repository as repo
from etiket_sync_agent.state.db import StateDB
from etiket_sync_agent.state.models import Source
from etiket_sync_agent.store.local import LocalStore


def _add_source(db: StateDB, name: str = "src") -> int:
    with db.session() as s, s.begin():
        src = Source(name=name, backend="folderbase", config={})
        s.add(src)
        s.flush()
        return src.id


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another connection (as the engine would be) in the middle of a write transaction."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE sources SET last_error = 'writing' WHERE 1")
    return conn


def test_reads_go_on_while_another_connection_writes(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    sid = _add_source(db)
    repo.record_discovery(db, sid, [repo.Discovered("a"), repo.Discovered("b")], {})
    writer = _hold_write_lock(db.path)
    try:
        # with BEGIN IMMEDIATE for reads each of these waited for the writer (30 s) and
        # then failed; WAL readers see the last committed state at once
        assert [s.name for s in repo.list_sources(db)] == ["src"]
        assert repo.list_sources(db)[0].last_error is None  # not the uncommitted write
        due = repo.due_items(db, sid, datetime.now(UTC))
        assert sorted(i.identifier for i in due) == ["a", "b"]
        assert repo.item_counts(db)[sid]["total"] == 2
        assert [i.identifier for i in repo.list_items(db, sid)] == ["b", "a"]
        assert repo.loop_status(db) is None
    finally:
        writer.rollback()
        writer.close()
        db.close()


def test_a_write_blocked_beyond_the_busy_timeout_is_a_database_busy_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_engine, "BUSY_TIMEOUT_S", 0.3)
    db = StateDB(tmp_path / "state.db")
    sid = _add_source(db)
    writer = _hold_write_lock(db.path)
    try:
        with pytest.raises(DatabaseBusyError, match="stayed locked") as err:
            repo.set_source_fields(db, sid, last_error="x")
        assert str(db.path) in err.value.message
        assert err.value.retryable
    finally:
        writer.rollback()
        writer.close()
    repo.set_source_fields(db, sid, last_error="x")  # free again: the same call works
    assert repo.get_source(db, "src").last_error == "x"
    db.close()


def test_a_write_waits_for_a_short_lock_instead_of_failing(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    sid = _add_source(db)
    writer = _hold_write_lock(db.path)
    release = threading.Timer(0.5, writer.commit)
    release.start()
    try:
        repo.set_source_fields(db, sid, status="paused")  # queues on the lock, then writes
    finally:
        release.join()
        writer.close()
    src = repo.get_source(db, "src")
    assert (src.status, src.last_error) == ("paused", "writing")
    db.close()


@pytest.mark.parametrize("kind", ["state", "store"])
def test_a_new_file_is_switched_to_wal_while_another_opener_holds_it(
    tmp_path: Path, kind: str
) -> None:
    """While another opener holds a lock on the still-new file, ``journal_mode = WAL``
    fails at once (SQLite does not wait for that lock; two processes opening a new store
    at once failed so): the switch must wait for it and retry."""
    path = tmp_path / "state.db" if kind == "state" else tmp_path / "store" / "catalog.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # the other opener, mid-way
    release = threading.Timer(0.5, other.rollback)
    release.start()
    try:
        opened = StateDB(path) if kind == "state" else LocalStore(path.parent)
        opened.close()
    finally:
        release.join()
        other.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_state_db_and_store_catalog_get_the_same_engine_setup(tmp_path: Path) -> None:
    from sqlalchemy import text

    state = StateDB(tmp_path / "state.db")
    store = LocalStore(tmp_path / "store")
    seen = []
    for engine in (state.engine, store._engine):  # noqa: SLF001
        with engine.connect() as conn:
            seen.append(
                {
                    p: conn.execute(text(f"PRAGMA {p}")).scalar()
                    for p in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
                }
            )
    state.close()
    store.close()
    assert (
        seen[0]
        == seen[1]
        == {
            "journal_mode": "wal",
            "synchronous": 1,  # NORMAL
            "foreign_keys": 1,
            "busy_timeout": int(db_engine.BUSY_TIMEOUT_S * 1000),
        }
    )


def test_store_reads_go_on_while_another_connection_writes(tmp_path: Path) -> None:
    from etiket_sync_agent.store.interface import DatasetSpec

    store = LocalStore(tmp_path / "store")
    store.create_scope("lab")
    store.upsert_dataset(DatasetSpec(uuid="u1", scope="lab", name="one"))
    writer = sqlite3.connect(tmp_path / "store" / "catalog.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE datasets SET name = 'renamed'")
    try:
        assert [d.name for d in store.list_datasets()] == ["one"]
        assert store.get_dataset("u1").name == "one" and store.stats()["datasets"] == 1
    finally:
        writer.rollback()
        writer.close()
        store.close()


def test_a_database_restored_without_wal_is_switched_back(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateDB(path).close()
    with sqlite3.connect(path) as conn:  # e.g. a copy made by `sqlite3 .backup`
        conn.execute("PRAGMA journal_mode = DELETE")
    StateDB(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
