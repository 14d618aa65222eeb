"""Several real processes writing into one store at once (SQLite and PostgreSQL catalogs)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from etiket_sync_agent.store.interface import FileStatus
from etiket_sync_agent.store.local import LocalStore

BACKENDS = ["sqlite", "postgres"]

SRC = Path(__file__).resolve().parents[2] / "src"
WORKER = Path(__file__).with_name("_worker.py")
N = 25


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_processes_writing_at_once_stay_consistent(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    root = tmp_path / "store"
    url = ""
    if backend == "postgres":
        make_db: Callable[[], str] = request.getfixturevalue("make_pg_database")
        url = make_db()
    go = tmp_path / "go"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(root), url, str(w), str(go), str(N)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(2)
    ]
    go.touch()  # both start the fresh store at the same moment
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert "database is locked" not in err
        assert proc.returncode == 0, err

    store = LocalStore(root, catalog_url=url or None)
    try:
        datasets = store.list_datasets()
        assert len(datasets) == N + 1  # alt_uid matched across processes: no duplicates
        for info in datasets:
            if info.uuid == "counter":
                continue
            files = {f.name: f for f in store.get_dataset(info.uuid).files}
            assert sorted(files) == ["own-0.txt", "own-1.txt", "shared.txt"]
            assert len(files["shared.txt"].versions) == 1  # same content: stored once
        counter = {f.name: f for f in store.get_dataset("counter").files}
        assert [v.version for v in counter["counter.txt"].versions] == list(range(1, 2 * N + 1))
        (live,) = counter["live.txt"].versions
        assert live.status == FileStatus.LIVE
        with store.open_file("counter", "live.txt") as fh:
            assert fh.read().decode() in {f"live w{w}-{N - 1}" for w in range(2)}
        # every version's content is on disk, and replaced live content was removed
        referenced = {
            v.sha256 for d in datasets for f in store.get_dataset(d.uuid).files for v in f.versions
        }
        assert set(store.blobs.iter_blobs()) == referenced
        assert list((root / "tmp").iterdir()) == []
    finally:
        store.close()
