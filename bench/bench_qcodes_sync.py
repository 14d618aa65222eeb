"""The qcodes backend through the whole agent, against QCoDeS' own export loop.

Measured in the same run, on the same databases (built here with qcodes):

1. initial sync of N small runs (1D, 100 points, 2 dependents): QCoDeS'
   ``load_by_id(i).to_xarray_dataset().to_netcdf(...)`` loop vs ``SyncEngine.run(once=True)``
   (discovery, state DB, reading, NetCDF, content-addressed store, all included);
2. the same for M large runs (S x S grid, 1 dependent);
3. latency from a run's completion (the writer process leaves ``meas.run()``) to the
   complete version in the store, with the agent running in watch mode.

    python bench/bench_qcodes_sync.py --small-runs 1000 --large-runs 2 --large-size 1000
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


from etiket_sync_agent.engine.events import ItemFinished  # noqa: E402
from etiket_sync_agent.engine.loop import SyncEngine  # noqa: E402
from etiket_sync_agent.home import Home  # noqa: E402
from etiket_sync_agent.runtime import Runtime  # noqa: E402
from etiket_sync_agent.services import sources  # noqa: E402

# the same databases as the reader benchmark (one builder for both)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_qcodes_reader import build_large, build_small  # noqa: E402

WRITER = REPO / "tests" / "backends" / "qcodes" / "_qcodes_writer.py"


def qcodes_loop(db: Path, out: Path) -> float:
    """Seconds for QCoDeS' own export of every run of ``db`` (on a copy: qcodes may upgrade)."""
    import sqlite3

    from qcodes.dataset import initialise_or_create_database_at, load_by_id

    copy = out / "qcodes-copy.db"
    # the backup API reads through the write-ahead log qcodes may still hold open
    with sqlite3.connect(db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with sqlite3.connect(copy) as conn:
        ids = [r[0] for r in conn.execute("SELECT run_id FROM runs ORDER BY run_id")]
    initialise_or_create_database_at(copy)
    t0 = time.perf_counter()
    for i in ids:
        load_by_id(i).to_xarray_dataset().to_netcdf(out / f"run{i}.nc", engine="h5netcdf")
    return time.perf_counter() - t0


def agent_sync(db: Path, home: Path) -> tuple[float, int]:
    rt = Runtime(Home.resolve(home))
    rt.store.create_scope("bench")
    sources.add_source(rt, "qcodes", "bench", scope="bench", settings={"database_path": str(db)})
    t0 = time.perf_counter()
    summary = SyncEngine(rt).run(once=True)
    dt = time.perf_counter() - t0
    rt.close()
    return dt, summary.attempted


def latency(db_dir: Path, home: Path, repeats: int) -> list[float]:
    """Seconds from a run's completion to its complete version in the store."""
    db = db_dir / "live.db"
    build_small(db, 1)
    rt = Runtime(Home.resolve(home))
    rt.store.create_scope("bench")
    sources.add_source(rt, "qcodes", "live", scope="bench", settings={"database_path": str(db)})
    done: dict[str, float] = {}
    lock = threading.Lock()

    def reporter(event: object) -> None:
        if isinstance(event, ItemFinished) and event.status == "synchronized":
            with lock:
                done.setdefault(event.identifier, time.time())

    engine = SyncEngine(rt, reporter=reporter)
    loop = threading.Thread(target=engine.run, daemon=True)
    loop.start()
    out = []
    try:
        for _ in range(repeats):
            proc = subprocess.run(
                [sys.executable, str(WRITER), str(db), "20", "0.02"],
                capture_output=True,
                text=True,
                check=True,
            )
            lines = [ln.split() for ln in proc.stdout.splitlines()]
            guid = next(ln[1] for ln in lines if ln and ln[0] == "started")
            finished = float(next(ln[1] for ln in lines if ln and ln[0] == "done"))
            deadline = time.monotonic() + 30
            while guid not in done and time.monotonic() < deadline:
                time.sleep(0.005)
            out.append(done.get(guid, float("nan")) - finished)
    finally:
        engine.stop()
        loop.join(30)
        rt.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--small-runs", type=int, default=1000)
    ap.add_argument("--large-runs", type=int, default=2)
    ap.add_argument("--large-size", type=int, default=1000)
    ap.add_argument("--latency-repeats", type=int, default=10)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-qcodes-"))
    try:
        rows = []
        for label, build, n in (
            ("small", lambda db: build_small(db, args.small_runs), args.small_runs),
            (
                "large",
                lambda db: build_large(db, args.large_runs, args.large_size, shapes=True),
                args.large_runs,
            ),
        ):
            if n == 0:
                continue
            db = work / f"{label}.db"
            t = time.perf_counter()
            build(db)
            print(f"built {label}: {n} run(s) in {time.perf_counter() - t:.1f} s", flush=True)
            (work / f"{label}-qc").mkdir()
            # the agent first: after QCoDeS' loop any agent runs ~2x slower in the same
            # process (the state QCoDeS leaves; see bench/RESULTS.md), and the agent never
            # shares a process with QCoDeS' export in production
            t_agent, attempted = agent_sync(db, work / f"{label}-home")
            t_qc = qcodes_loop(db, work / f"{label}-qc")
            assert attempted == n, attempted
            rows.append((label, n, t_qc / n, t_agent / n))
        print("\n| runs | n | QCoDeS loop per run | agent per run | speed-up |")
        print("|---|---|---|---|---|")
        for label, n, qc_s, agent_s in rows:
            print(
                f"| {label} | {n} | {qc_s * 1000:.1f} ms | {agent_s * 1000:.1f} ms |"
                f" {qc_s / agent_s:.1f}x |"
            )
        if args.latency_repeats:
            lat = latency(work, work / "latency-home", args.latency_repeats)
            print(
                f"\ncompletion -> complete version in store (watch mode, {len(lat)} runs): "
                f"median {statistics.median(lat):.2f} s, max {max(lat):.2f} s"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
