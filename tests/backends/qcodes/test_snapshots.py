"""A database left with a ``-wal`` but no ``-shm`` is read from one private copy while its
files are unchanged (not copied whole at every read), and never touched."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from etiket_sync_agent.backends.qcodes.reader import (
    close_idle_connections,
    list_runs,
    newest_run,
    open_readonly,
    snapshots,
)
from tests.backends.qcodes.reader_support import sha256, side_files
from tests.backends.qcodes.test_readonly_open import _sqlite_db


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _left_over_wal(src_dir: Path, dst: Path, rows: int) -> None:
    """``dst`` as a crash leaves it: a WAL database whose last ``rows`` rows are only in
    its ``-wal``, and no ``-shm``."""
    src = src_dir / f"writer-{rows}.db"
    writer = _sqlite_db(src, "wal")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.executemany('INSERT INTO "results-1-1" (x) VALUES (?)', [(i,) for i in range(rows)])
    dst.parent.mkdir(exist_ok=True)
    shutil.copyfile(src, dst)
    shutil.copyfile(_wal(src), _wal(dst))
    writer.close()


@pytest.fixture(autouse=True)
def _no_kept_copies():
    close_idle_connections()
    yield
    close_idle_connections()


def test_one_private_copy_serves_every_read_while_the_files_are_unchanged(
    tmp_path: Path,
) -> None:
    path = tmp_path / "crashed" / "db.db"
    _left_over_wal(tmp_path, path, rows=7)
    before = {p.name: sha256(p) for p in path.parent.iterdir()}

    with open_readonly(path) as first:
        assert first.open_mode == "copy"
        (copy,) = snapshots.held()
        with open_readonly(path) as second:  # read at the same time: the same copy
            assert second.open_mode == "copy" and snapshots.held() == [copy]
            assert list_runs(second)[0].result_rows == 7
    for _ in range(5):  # path-based reads (discovery, live checks): still no new copy
        assert newest_run(path).result_rows == 7
        assert snapshots.held() == [copy]
    assert {p.name: sha256(p) for p in path.parent.iterdir()} == before

    # another crash left more rows in the -wal: the files changed, so a new copy
    _left_over_wal(tmp_path, tmp_path / "crashed2" / "db.db", rows=12)
    shutil.copyfile(_wal(tmp_path / "crashed2" / "db.db"), _wal(path))
    assert newest_run(path).result_rows == 12
    (fresh,) = snapshots.held()
    assert fresh != copy and not copy.exists()
    assert side_files(path) == [_wal(path)]  # no -shm was created beside it

    # nobody reads it any more: the copy goes (at shutdown, or after snapshots.KEEP_S)
    close_idle_connections()
    assert snapshots.held() == [] and not fresh.exists()


def test_a_writer_opening_the_database_ends_the_copy_and_is_not_blocked(tmp_path: Path) -> None:
    path = tmp_path / "crashed" / "db.db"
    _left_over_wal(tmp_path, path, rows=3)
    assert newest_run(path).result_rows == 3
    (copy,) = snapshots.held()
    writer = sqlite3.connect(path, isolation_level=None)  # QCoDeS opens the database again
    try:
        writer.execute('INSERT INTO "results-1-1" (x) VALUES (1)')  # not blocked by us
        assert list_runs(path)[0].result_rows == 4
        with open_readonly(path) as conn:
            assert conn.open_mode == "ro"  # the -shm exists now: read in place
            assert list_runs(conn)[0].result_rows == 4
        assert snapshots.held() == [] and not copy.exists()
    finally:
        writer.close()


@pytest.mark.skipif(os.name != "posix", reason="processes are probed on POSIX only")
def test_copies_left_by_a_killed_process_are_removed_at_the_first_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setattr(snapshots, "_swept", False)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    left = temp / f"etiket-qcodes-{int(gone.stdout)}-x1"  # an agent killed with its copy
    left.mkdir()
    (left / "db.db").write_bytes(b"\0" * 4096)
    running = temp / f"etiket-qcodes-{os.getppid()}-x2"  # another agent's copy, in use
    running.mkdir()
    other = temp / "etiket-qcodes-notes"
    other.mkdir()

    path = tmp_path / "crashed" / "db.db"
    _left_over_wal(tmp_path, path, rows=2)
    assert newest_run(path).result_rows == 2
    (copy,) = snapshots.held()
    assert copy.parent == temp and copy.name.startswith(f"etiket-qcodes-{os.getpid()}-")
    assert not left.exists() and running.exists() and other.exists()
