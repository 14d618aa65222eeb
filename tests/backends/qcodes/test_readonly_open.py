"""open_readonly: no side effects on the user's database, clear errors, busy detection."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest
import xarray as xr

from etiket_sync_agent.backends.qcodes.reader import (
    QCoDeSDatabaseBusy,
    QCoDeSFormatError,
    list_runs,
    open_readonly,
    read_run_metadata,
    read_run_xarray,
    validate_database,
)
from etiket_sync_agent.backends.qcodes.reader.connections import read_with_retry
from tests.backends.qcodes.reader_support import sha256, side_files


def _sqlite_db(path: Path, journal_mode: str) -> sqlite3.Connection:
    """A small QCoDeS-looking database made with plain sqlite3 (for lock/WAL mechanics)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA journal_mode={journal_mode}")
    conn.execute(
        "CREATE TABLE experiments (exp_id INTEGER PRIMARY KEY, name TEXT, sample_name TEXT)"
    )
    conn.execute(
        "CREATE TABLE runs (run_id INTEGER PRIMARY KEY, exp_id INTEGER, name TEXT,"
        " result_table_name TEXT, result_counter INTEGER, run_timestamp INTEGER,"
        " completed_timestamp INTEGER, is_completed BOOL, parameters TEXT)"
    )
    conn.execute("INSERT INTO experiments VALUES (1, 'e', 's')")
    conn.execute("INSERT INTO runs VALUES (1, 1, 'r', 'results-1-1', 1, 1.5e9, NULL, 0, 'x')")
    conn.execute('CREATE TABLE "results-1-1" (id INTEGER PRIMARY KEY, x numeric)')
    return conn


def test_wal_database_without_side_files_is_opened_immutable(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    _sqlite_db(path, "wal").close()
    assert not side_files(path)
    before = sha256(path)
    conn = open_readonly(path)
    assert conn.open_mode == "immutable"
    assert len(list_runs(conn)) == 1
    conn.close()
    assert sha256(path) == before and not side_files(path)


def test_live_wal_database_is_read_through_its_wal(tmp_path: Path) -> None:
    """A writer holds the database open: -wal/-shm exist; we read committed rows from the
    -wal, never write it, and the writer goes on."""
    path = tmp_path / "live.db"
    writer = _sqlite_db(path, "wal")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.executemany('INSERT INTO "results-1-1" (x) VALUES (?)', [(i,) for i in range(50)])
    wal = path.with_name(path.name + "-wal")
    assert wal.exists()
    db_before, wal_before = sha256(path), sha256(wal)
    conn = open_readonly(path)
    assert conn.open_mode == "ro"
    assert list_runs(conn)[0].result_rows == 50
    conn.close()
    assert (sha256(path), sha256(wal)) == (db_before, wal_before)
    writer.execute('INSERT INTO "results-1-1" (x) VALUES (99)')  # not blocked
    writer.close()


def test_left_over_wal_without_shm_is_read_from_a_private_copy(tmp_path: Path) -> None:
    src = tmp_path / "src.db"
    writer = _sqlite_db(src, "wal")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.executemany('INSERT INTO "results-1-1" (x) VALUES (?)', [(i,) for i in range(7)])
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    path = crashed / "db.db"
    shutil.copyfile(src, path)  # as a crash (or a copy) leaves it: db + -wal, no -shm
    shutil.copyfile(src.with_name(src.name + "-wal"), path.with_name(path.name + "-wal"))
    writer.close()
    before = {p.name: sha256(p) for p in crashed.iterdir()}
    conn = open_readonly(path)
    assert conn.open_mode == "copy"
    assert list_runs(conn)[0].result_rows == 7  # the rows only the -wal holds
    conn.close()
    assert {p.name: sha256(p) for p in crashed.iterdir()} == before


def test_immutable_snapshot_invalidated_by_a_writer_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    _sqlite_db(path, "wal").close()
    calls: list[str] = []
    writers: list[sqlite3.Connection] = []

    def read(conn):
        calls.append(conn.open_mode)
        if not writers:  # a writer opens the database while we read; it stays open
            writers.append(sqlite3.connect(path, isolation_level=None))
            writers[0].execute('INSERT INTO "results-1-1" (x) VALUES (1)')
        return list_runs(conn)[0].result_rows

    try:
        assert read_with_retry(path, read) == 1
    finally:
        writers[0].close()
    assert calls == ["immutable", "ro"]


def test_rollback_database_locked_by_a_writer_is_busy(tmp_path: Path) -> None:
    path = tmp_path / "rollback.db"
    writer = _sqlite_db(path, "delete")
    conn = open_readonly(path, busy_timeout=0.1)
    assert conn.open_mode == "ro"
    writer.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(QCoDeSDatabaseBusy) as err:
            list_runs(conn)
        assert err.value.retryable and "locked" in str(err.value)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert len(list_runs(conn)) == 1
    conn.close()


def test_not_sqlite_and_not_qcodes_are_format_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("just some text, not a database\n")
    empty = tmp_path / "empty.db"
    empty.touch()
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE test_cal (a INTEGER)").connection.close()
    cases = {
        text: "not an SQLite file",
        empty: "is empty",
        other: "not a QCoDeS database",
        tmp_path / "missing.db": "does not exist",
        tmp_path: "is not a file",
    }
    for path, message in cases.items():
        for call in (validate_database, list_runs, lambda p: read_run_xarray(p, 1)):
            with pytest.raises(QCoDeSFormatError, match=message) as err:
                call(path)
            assert not err.value.retryable
    assert not side_files(other)


def test_validate_database_reports_the_schema(reference_db) -> None:
    path, _ = reference_db
    info = validate_database(path)
    assert info.user_version == 9 and "inspectr_tag" in info.metadata_columns


def test_one_connection_serves_many_reads(reference_db) -> None:
    path, runs = reference_db
    with open_readonly(path) as conn:
        for run_id in runs.values():
            xr.testing.assert_identical(
                read_run_xarray(conn, run_id), read_run_xarray(path, run_id)
            )
        assert read_run_metadata(conn, runs["mixed"]).run_id == runs["mixed"]
    with pytest.raises(sqlite3.ProgrammingError):  # the with-block closed it
        conn.execute("SELECT 1")


def test_stale_immutable_connection_is_reported_busy(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    _sqlite_db(path, "wal").close()
    with open_readonly(path) as conn:
        assert conn.open_mode == "immutable"
        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute('INSERT INTO "results-1-1" (x) VALUES (1)')
        try:
            with pytest.raises(QCoDeSDatabaseBusy, match="open a new connection"):
                list_runs(conn)
        finally:
            writer.close()


def test_idle_connections_are_reused_only_while_they_hold_nothing(
    tmp_path: Path, monkeypatch
) -> None:
    from etiket_sync_agent.backends.qcodes.reader import close_idle_connections, connections

    monkeypatch.setattr(connections, "MAX_IDLE_S", 0.3)
    quiet, rollback, live = tmp_path / "quiet.db", tmp_path / "rollback.db", tmp_path / "live.db"
    _sqlite_db(quiet, "wal").close()
    _sqlite_db(rollback, "delete").close()
    writer = _sqlite_db(live, "wal")
    try:
        kept = {}
        for path in (quiet, rollback, live):
            conn = connections.borrow(path, 1.0)
            connections.give_back(conn, 1.0)
            again = connections.borrow(path, 1.0)
            kept[path.name] = again is conn
            connections.give_back(again, 1.0)
        # a WAL database a writer has open is never held idle (its clean-up is not delayed)
        assert kept == {"quiet.db": True, "rollback.db": True, "live.db": False}

        idle = connections.borrow(quiet, 1.0)
        connections.give_back(idle, 1.0)
        stale = sqlite3.connect(quiet, isolation_level=None)  # a writer appears
        stale.execute('INSERT INTO "results-1-1" (x) VALUES (1)')
        fresh = connections.borrow(quiet, 1.0)
        assert fresh is not idle and fresh.open_mode == "ro"
        assert list_runs(quiet)[0].result_rows == 1
        connections.give_back(fresh, 1.0)
        stale.close()

        idle = connections.borrow(rollback, 1.0)
        connections.give_back(idle, 1.0)
        # the sweeper closes what stayed idle too long (watched through the flag: using
        # a connection after giving it back races with the sweeper closing it)
        deadline = time.monotonic() + 5
        while not idle.closed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert idle.closed, "an idle connection was not closed"
        with pytest.raises(sqlite3.ProgrammingError):
            idle.execute("SELECT 1")
    finally:
        writer.close()
        close_idle_connections()


def test_a_replaced_file_is_not_read_through_a_kept_connection(tmp_path: Path) -> None:
    from etiket_sync_agent.backends.qcodes.reader import close_idle_connections

    path = tmp_path / "db.db"
    _sqlite_db(path, "delete").close()
    try:
        assert list_runs(path)[0].result_rows == 0  # its connection is now kept idle
        other = tmp_path / "other.db"
        writer = _sqlite_db(other, "delete")
        writer.execute('INSERT INTO "results-1-1" (x) VALUES (1)')
        writer.close()
        other.replace(path)  # e.g. a backup restored over the file
        assert list_runs(path)[0].result_rows == 1
    finally:
        close_idle_connections()
