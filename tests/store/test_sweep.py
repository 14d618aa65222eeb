"""Leftovers of killed agents are swept at start-up: unreferenced blobs, store temp
files of dead processes, scratch folders of dead processes in the temp dir."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from etiket_sync_agent.home import Home
from etiket_sync_agent.maintenance import sweep_at_start, sweep_scratch
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.store.interface import DatasetSpec, FileStatus

SRC = Path(__file__).resolve().parents[2] / "src"


def _run(code: str, **env: str) -> str:
    """Run ``code`` in a new Python process (it may die without cleaning up)."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "PYTHONPATH": str(SRC), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _dead_pid() -> int:
    return int(_run("import os; print(os.getpid())"))


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private system temp folder for this test (and the processes it starts)."""
    import tempfile

    folder = tmp_path / "systmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_killed_uploads_leave_nothing_after_the_sweep(home: Home, temp_dir: Path) -> None:
    rt = Runtime(home)
    store = rt.store
    store.create_scope("lab")
    uuid = store.upsert_dataset(DatasetSpec(uuid="d" * 8, scope="lab", name="ds")).uuid
    store.upload_file(uuid, "kept.txt", io.BytesIO(b"kept content"))
    store.upload_file(uuid, "live.txt", io.BytesIO(b"live now"), status=FileStatus.LIVE)
    # what a kill leaves, made by a real process that dies without cleaning up:
    # a blob placed whose catalog row was never committed, the old content of a live
    # version replaced just before the kill, a half-written upload temp file
    _run(
        f"""
        import io, os
        from pathlib import Path
        from etiket_sync_agent.store.blobs import BlobStore
        blobs = BlobStore(Path({str(store.root)!r}))
        blobs.put(io.BytesIO(b"placed, never committed"))
        blobs.put(io.BytesIO(b"live before the kill"))
        fd = os.open(blobs.tmp_dir / f"{{os.getpid()}}-cafe.tmp", os.O_WRONLY | os.O_CREAT)
        os.write(fd, b"half an upload")
        os._exit(0)
        """
    )
    # a temp file of a live upload in this very process is not touched
    mine = store.blobs.tmp_dir / f"{os.getpid()}-beef.tmp"
    mine.write_bytes(b"uploading")
    assert len(list(store.blobs.iter_blobs())) == 4

    summary = sweep_at_start(rt)

    assert (summary.blobs_removed, summary.tmp_removed, summary.errors) == (2, 1, [])
    assert mine.exists()
    referenced = {v.sha256 for f in store.get_dataset(uuid).files for v in f.versions}
    assert set(store.blobs.iter_blobs()) == referenced
    with store.open_file(uuid, "kept.txt") as fh:
        assert fh.read() == b"kept content"
    assert sweep_at_start(rt).removed == 0  # nothing left the second time
    rt.close()


def test_scratch_folders_of_dead_processes_are_removed(temp_dir: Path) -> None:
    # a real agent process that took scratch folders and was killed (no atexit)
    leaked = _run(
        """
        import os
        from etiket_sync_agent.plugins.context import _SCRATCH
        a, b = _SCRATCH.take(), _SCRATCH.take()
        (a / ".measured_data.hdf5.123.tmp").write_bytes(b"partial")
        print(a.name, flush=True)
        os._exit(0)  # killed: no atexit, the pool's folders stay
        """
    )
    assert (temp_dir / leaked).is_dir() and len(list(temp_dir.iterdir())) == 2
    from etiket_sync_agent.plugins.context import _ScratchPool

    # a new pool: the process-wide one may hand out a folder made (in the real temp
    # folder) by an earlier test of this process
    pool = _ScratchPool()
    ours = pool.take()  # this process is alive: its folder stays
    old_style = temp_dir / "etiket-sync-quantify-abc123"
    old_style.mkdir()
    unrelated = temp_dir / "something-else"
    unrelated.mkdir()
    other_dead = temp_dir / f"etiket-sync-{_dead_pid()}-zz"
    (other_dead / "sub").mkdir(parents=True)

    assert sweep_scratch() == 3
    assert sorted(p.name for p in temp_dir.iterdir()) == sorted(
        [ours.name, old_style.name, unrelated.name]
    )
    # a folder without a pid goes once nothing in it changed for a day
    day_ago = time.time() - 2 * 24 * 3600
    os.utime(old_style, (day_ago, day_ago))
    assert sweep_scratch() == 1
    assert sorted(p.name for p in temp_dir.iterdir()) == sorted([ours.name, unrelated.name])
    pool.give_back(ours)
    pool.clear()


def test_a_damaged_catalog_stops_the_start_other_failures_do_not(
    home: Home, temp_dir: Path
) -> None:
    from etiket_sync_agent.errors import StateDBError

    home.ensure()
    home.store_dir.mkdir(parents=True, exist_ok=True)
    (home.store_dir / "catalog.db").write_bytes(b"not a database" * 100)
    rt = Runtime(home)
    with pytest.raises(StateDBError, match="catalog"):
        sweep_at_start(rt)
    rt.close()
    # once the catalog is fine: the sweep runs, a live process's scratch folder stays
    (home.store_dir / "catalog.db").unlink()
    rt = Runtime(home)
    locked = temp_dir / "etiket-sync-1-x"  # pid 1 lives: never removed
    locked.mkdir()
    summary = sweep_at_start(rt)
    assert summary.errors == [] and locked.exists()
    rt.close()
