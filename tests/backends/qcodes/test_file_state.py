"""Whether a database changed is read from the stat of its file and ``-wal``: a re-owned
``-wal`` (SQLite running as root does that at every open, even read-only) is no change;
a commit is."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from etiket_sync_agent.backends.qcodes.reader.file_state import settled_state


def _age(*paths: Path, seconds: float = 60.0) -> None:
    past = time.time() - seconds
    for p in paths:
        os.utime(p, (past, past))


def test_a_reowned_wal_is_no_change_but_a_commit_is(tmp_path: Path) -> None:
    db = tmp_path / "experiments.db"
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE runs (run_id INTEGER PRIMARY KEY, name TEXT)")
    writer.execute("INSERT INTO runs (name) VALUES ('first')")
    writer.commit()
    wal = db.with_name(db.name + "-wal")
    assert wal.stat().st_size > 0
    _age(db, wal)
    before = settled_state(db)
    assert before is not None

    st = wal.stat()
    time.sleep(0.05)  # a later ctime tick
    os.chown(wal, st.st_uid, st.st_gid)  # changes the ctime only, as SQLite's fchown does
    assert wal.stat().st_ctime_ns != st.st_ctime_ns or os.name == "nt"
    assert settled_state(db) == before

    writer.execute("INSERT INTO runs (name) VALUES ('second')")
    writer.commit()
    _age(db, wal)
    assert settled_state(db) != before
    writer.close()
