"""Two processes creating the same new store and state DB at once, many times over.

Both must succeed every time: switching a new SQLite file to WAL needs an exclusive lock
for which SQLite does not wait (the busy timeout does not cover it), so the switch is made
once, under the migration lock (``etiket_sync_agent.db``).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
WORKER = Path(__file__).with_name("_open_worker.py")
ROUNDS = 20


def test_two_processes_opening_new_databases_at_once_never_fail(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(tmp_path), str(w), str(ROUNDS)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0 and out.strip() == "ok", err[-3000:]
    for i in range(ROUNDS):
        for path in (tmp_path / f"store-{i}" / "catalog.db", tmp_path / f"state-{i}.db"):
            with sqlite3.connect(path) as conn:
                assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",), path
