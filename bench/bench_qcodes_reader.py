"""Benchmark: our QCoDeS reader vs QCoDeS itself, exporting runs to NetCDF.

Builds databases with QCoDeS, then times, in the same process and on the same runs,

  (a) QCoDeS:  load_by_id(i).to_xarray_dataset().to_netcdf(path)
  (b) ours:    write_run_netcdf(db, i, path)

for many small runs (1D sweep, 100 points, 2 dependents) and a few large ones (an N x N
grid written like doNd does it, with ``set_shapes``; ``--unshaped`` adds the same grid
without shapes, which takes the general path). The peak memory of exporting one large
run is measured in a fresh subprocess per implementation (``ru_maxrss``).

    python bench/bench_qcodes_reader.py --small-runs 1000 --large-runs 3 --large-size 1000

Reads of a database that a writer holds open (a live QCoDeS session) cannot reuse idle
connections, so the small-run case is also timed with one connection for all runs.

Defaults are smaller (300 small runs, 2 large runs of 500 x 500) so a plain run takes
about a minute; the numbers quoted in bench/RESULTS.md use the command above.

Two more cases, measured against the previous behaviour in the same run:

* ``--wal-copy-mb N``: a database of ~N MB left with a ``-wal`` but no ``-shm`` (a
  crash), read the way the agent polls it (newest run, runs after the last one). Baseline:
  a fresh private copy per read (what every read did before); ours: one copy shared
  while the files are unchanged.
* ``--idle-polls N``: N discovery polls + live checks of an unchanged database of
  ``--small-runs`` runs through the qcodes backend; baseline: the same queries on the
  database at every poll (what the backend did before).

    python bench/bench_qcodes_reader.py --small-runs 300 --large-runs 0 \
        --wal-copy-mb 1000 --idle-polls 2000
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def build_small(db: Path, n_runs: int) -> list[int]:
    from qcodes.dataset import (
        Measurement,
        initialise_or_create_database_at,
        load_or_create_experiment,
    )
    from qcodes.parameters import ManualParameter

    initialise_or_create_database_at(db)
    exp = load_or_create_experiment("bench small", sample_name="sample")
    x = ManualParameter("x", unit="V", label="Gate")
    a = ManualParameter("a", unit="A", label="Current")
    b = ManualParameter("b", unit="Ohm", label="Resistance")
    xs = np.linspace(0, 1, 100)
    ids = []
    for i in range(n_runs):
        meas = Measurement(exp=exp, name=f"small {i}")
        meas.register_parameter(x)
        meas.register_parameter(a, setpoints=(x,))
        meas.register_parameter(b, setpoints=(x,))
        with meas.run() as ds:
            ds.add_result((x, xs), (a, np.sin(xs + i)), (b, np.cos(xs + i)))
        ids.append(ds.run_id)
    return ids


def build_large(db: Path, n_runs: int, size: int, shapes: bool) -> list[int]:
    from qcodes.dataset import (
        Measurement,
        initialise_or_create_database_at,
        load_or_create_experiment,
    )
    from qcodes.parameters import ManualParameter

    initialise_or_create_database_at(db)
    exp = load_or_create_experiment("bench large", sample_name="sample")
    x = ManualParameter("x", unit="V", label="Gate x")
    y = ManualParameter("y", unit="V", label="Gate y")
    z = ManualParameter("z", unit="A", label="Current")
    ys = np.linspace(-1, 1, size)
    ids = []
    for k in range(n_runs):
        meas = Measurement(exp=exp, name=f"large {k}")
        meas.register_parameter(x)
        meas.register_parameter(y)
        meas.register_parameter(z, setpoints=(x, y))
        if shapes:
            meas.set_shapes({"z": (size, size)})
        with meas.run() as ds:
            for xv in np.linspace(0, 1, size):
                ds.add_result((x, np.full(size, xv)), (y, ys), (z, np.sin(xv * ys + k)))
        ids.append(ds.run_id)
    return ids


def time_qcodes(db: Path, ids: list[int], out: Path) -> list[float]:
    from qcodes.dataset import initialise_or_create_database_at, load_by_id

    initialise_or_create_database_at(db)
    times = []
    for i in ids:
        t0 = time.perf_counter()
        load_by_id(i).to_xarray_dataset().to_netcdf(out)
        times.append(time.perf_counter() - t0)
    # QCoDeS' DataSets sit in reference cycles holding their connections, which keeps the
    # database "in use" (-wal/-shm present) until collected; close them as a session ends.
    gc.collect()
    return times


def time_ours(db: Path, ids: list[int], out: Path, *, one_connection: bool = False) -> list[float]:
    """write_run_netcdf per run: opening the database per call (like the QCoDeS loop), or
    with one connection for all runs (what a sync iteration over many runs can do)."""
    from etiket_sync_agent.backends.qcodes.reader import open_readonly, write_run_netcdf

    conn = open_readonly(db) if one_connection else None
    times = []
    try:
        for i in ids:
            t0 = time.perf_counter()
            write_run_netcdf(conn or db, i, out)
            times.append(time.perf_counter() - t0)
    finally:
        if conn is not None:
            conn.close()
    return times


_MEMORY_CHILD = """
import resource, sys, warnings
warnings.simplefilter("ignore")

def high_water_mb():
    # VmHWM: this process's peak RSS. (ru_maxrss would include the parent's RSS at fork
    # time on Linux, which survives exec.)
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

impl, db, run_id, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
import numpy, xarray, h5netcdf  # imports both sides need, before the baseline
if impl == "qcodes":
    from qcodes.dataset import initialise_or_create_database_at, load_by_id
    initialise_or_create_database_at(db)
else:
    from etiket_sync_agent.backends.qcodes.reader import write_run_netcdf
base = high_water_mb()
if impl == "qcodes":
    load_by_id(run_id).to_xarray_dataset().to_netcdf(out)
else:
    write_run_netcdf(db, run_id, out)
print(base, high_water_mb())
"""


def peak_memory_mb(impl: str, db: Path, run_id: int, out: Path) -> tuple[float, float]:
    """(RSS after imports, peak RSS) in MB of exporting one run in a fresh process."""
    res = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, impl, str(db), str(run_id), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    base, peak = (float(v) for v in res.stdout.split()[-2:])
    return base, peak


def _summary(label: str, qcodes: list[float], ours: list[float]) -> dict[str, float]:
    q, o = statistics.median(qcodes), statistics.median(ours)
    print(
        f"{label:<34} qcodes {q * 1e3:9.1f} ms/run   ours {o * 1e3:9.1f} ms/run   "
        f"ratio {q / o:5.1f}x   (totals {sum(qcodes):.2f} s vs {sum(ours):.2f} s)"
    )
    return {"qcodes_ms": q * 1e3, "ours_ms": o * 1e3, "ratio": q / o}


def _left_over_wal(db: Path, out: Path) -> None:
    """``out``: ``db`` plus a ``-wal`` holding one more committed row, no ``-shm`` (as a
    crash or a copy of a live database leaves it)."""
    import shutil
    import sqlite3

    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")
        table = writer.execute("SELECT result_table_name FROM runs ORDER BY run_id DESC").fetchone()
        writer.execute(f'INSERT INTO "{table[0]}" DEFAULT VALUES')
        shutil.copyfile(db, out)
        shutil.copyfile(f"{db}-wal", f"{out}-wal")
    finally:
        writer.close()


def bench_wal_copy(work: Path, size_mb: int, reads: int) -> dict[str, float]:
    """Polling reads of a database in the -wal-without--shm state: copy per read vs shared."""
    import sqlite3

    from etiket_sync_agent.backends.qcodes.reader import (
        close_idle_connections,
        newest_run,
        runs_since,
        snapshots,
    )

    db = work / "walcopy-src.db"
    db.unlink(missing_ok=True)
    build_small(db, 20)
    gc.collect()
    with sqlite3.connect(db) as conn:  # pad it to the size of a long-used database
        conn.execute("CREATE TABLE padding (blob BLOB)")
        chunk = np.random.default_rng(0).bytes(2**20)
        conn.executemany("INSERT INTO padding VALUES (?)", ((chunk,) for _ in range(size_mb)))
    conn.close()
    crashed = work / "walcopy" / "crashed.db"
    crashed.parent.mkdir(exist_ok=True)
    for side in ("", "-wal", "-shm"):
        Path(f"{crashed}{side}").unlink(missing_ok=True)
    _left_over_wal(db, crashed)
    mb = crashed.stat().st_size / 2**20

    def poll() -> None:  # what the agent reads each second: the live check and discovery
        newest_run(crashed)
        runs_since(crashed, 10**9)

    def timed(fresh_copy: bool) -> list[float]:
        close_idle_connections()
        poll()  # warm up (page cache; ours: the first copy)
        times = []
        for _ in range(reads):
            if fresh_copy:  # the old behaviour: every open copied the files
                close_idle_connections()
            t0 = time.perf_counter()
            poll()
            times.append(time.perf_counter() - t0)
        return times

    base, ours = timed(True), timed(False)
    close_idle_connections()
    assert not snapshots.held()
    b, o = statistics.median(base), statistics.median(ours)
    print(
        f"-wal without -shm, {mb:.0f} MB database, {reads} polls (live check + discovery):"
        f" copy per read {b * 1e3:.1f} ms/poll, shared copy {o * 1e3:.2f} ms/poll"
        f" ({b / o:.0f}x); data copied per poll: {2 * mb:.0f} MB -> 0 MB"
    )
    return {"db_mb": mb, "copy_per_read_ms": b * 1e3, "shared_ms": o * 1e3, "ratio": b / o}


def bench_idle_polls(db: Path, polls: int) -> dict[str, float]:
    """Discovery poll + live check of an unchanged database: queries each time (before)
    vs the backend answering from the files' stat."""
    from etiket_sync_agent.backends.qcodes.backend import QCoDeSBackend, QCoDeSConfig
    from etiket_sync_agent.backends.qcodes.reader import newest_run, runs_since, settled_state
    from etiket_sync_agent.plugins.items import SyncItem

    backend = QCoDeSBackend(QCoDeSConfig(db), "bench")
    found = backend.get_new_datasets(None)
    last = SyncItem(
        id=1,
        source_name="bench",
        identifier=found[-1].identifier,
        dataset_uuid="u",
        scope="s",
        priority=found[-1].priority,
        label=found[-1].label,
    )
    deadline = time.monotonic() + 10
    while settled_state(db) is None and time.monotonic() < deadline:
        time.sleep(0.1)  # files written a moment ago are not trusted to be unchanged
    run_id = int(last.priority)

    def before() -> None:
        runs_since(db, run_id)
        newest_run(db, with_row_counts=True)

    def ours() -> None:
        assert backend.get_new_datasets(last) == []
        backend.check_live_dataset(last)

    results = {}
    for label, poll in (("before", before), ("ours", ours)):
        poll()
        times = []
        for _ in range(polls):
            t0 = time.perf_counter()
            poll()
            times.append(time.perf_counter() - t0)
        results[label] = statistics.median(times)
    b, o = results["before"], results["ours"]
    print(
        f"idle poll of {len(found)} runs (discovery + live check): queries {b * 1e6:.0f} us,"
        f" stat {o * 1e6:.0f} us ({b / o:.0f}x); at one poll a second"
        f" {b * 100:.3f} % -> {o * 100:.4f} % of a core per database"
    )
    return {"runs": len(found), "query_us": b * 1e6, "stat_us": o * 1e6, "ratio": b / o}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small-runs", type=int, default=300)
    parser.add_argument("--large-runs", type=int, default=2)
    parser.add_argument("--large-size", type=int, default=500)
    parser.add_argument("--unshaped", action="store_true", help="also time grids without shapes")
    parser.add_argument(
        "--memory-size",
        type=int,
        default=0,
        help="also build one N x N shaped run and measure peak memory on it (e.g. 4000)",
    )
    parser.add_argument(
        "--memory-unshaped",
        action="store_true",
        help="build the --memory-size run without shapes (ours only: over the memory limit"
        " it is streamed as flat columns)",
    )
    parser.add_argument(
        "--wal-copy-mb", type=int, default=0, help="also time reads of an N MB -wal-only database"
    )
    parser.add_argument("--wal-copy-reads", type=int, default=20)
    parser.add_argument(
        "--idle-polls", type=int, default=0, help="also time N idle discovery polls"
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-qcodes-reader-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {"args": {k: str(v) for k, v in vars(args).items()}}
    cases = [("small", args.small_runs, None)] if args.small_runs else []
    if args.large_runs:
        cases.append(("large (set_shapes)", args.large_runs, True))
        if args.unshaped:
            cases.append(("large (no shapes)", args.large_runs, False))

    for label, n, shapes in cases:
        db = work / f"{label.split()[0]}-{'shapes' if shapes else 'plain'}.db"
        db.unlink(missing_ok=True)
        t0 = time.perf_counter()
        small = shapes is None
        ids = build_small(db, n) if small else build_large(db, n, args.large_size, shapes)
        size = f"{args.large_size}x{args.large_size}" if shapes is not None else "100 pts"
        print(f"built {n} {label} runs ({size}) in {time.perf_counter() - t0:.1f} s: {db}")
        # warm up both sides (imports, page cache) on the first run
        time_qcodes(db, ids[:1], work / "warm-qcodes.nc")
        time_ours(db, ids[:1], work / "warm-ours.nc")
        q = time_qcodes(db, ids, work / "qcodes.nc")
        o = time_ours(db, ids, work / "ours.nc")
        if shapes is not None:
            print("  per run qcodes [s]:", " ".join(f"{t:.3f}" for t in q))
            print("  per run ours   [s]:", " ".join(f"{t:.3f}" for t in o))
        results[label] = _summary(f"{label}, {n} runs of {size}", q, o)
        if small:
            shared = time_ours(db, ids, work / "ours.nc", one_connection=True)
            results["small, one connection"] = _summary("  ... ours with one connection", q, shared)
        if shapes is not None:
            mem = {
                impl: peak_memory_mb(impl, db, ids[0], work / f"mem-{impl}.nc")
                for impl in ("qcodes", "ours")
            }
            for impl, (base, peak) in mem.items():
                print(
                    f"  peak memory {impl:<6} {peak:7.0f} MB "
                    f"({peak - base:+.0f} MB over {base:.0f} MB after imports)"
                )
            results[label]["peak_mb"] = {k: {"base": b, "peak": p} for k, (b, p) in mem.items()}
    if args.memory_size:
        db = work / "memory.db"
        db.unlink(missing_ok=True)
        shaped = not args.memory_unshaped
        (run_id,) = build_large(db, 1, args.memory_size, shapes=shaped)
        columns = 1 if shaped else 3  # an unshaped run's setpoints are read too
        mb = args.memory_size**2 * 8 * columns / 2**20
        print(
            f"memory run: {args.memory_size}x{args.memory_size}"
            f" {'with' if shaped else 'without'} shapes ({mb:.0f} MB of values)"
        )
        for impl in ("qcodes", "ours") if shaped else ("ours",):
            t0 = time.perf_counter()
            base, peak = peak_memory_mb(impl, db, run_id, work / f"mem-{impl}.nc")
            print(
                f"  {impl:<6} peak {peak:7.0f} MB ({peak - base:+.0f} MB over {base:.0f} MB"
                f" after imports), {time.perf_counter() - t0:.1f} s incl. start-up"
            )
            results.setdefault("memory", {})[impl] = {"base": base, "peak": peak}
    if args.wal_copy_mb:
        results["wal_copy"] = bench_wal_copy(work, args.wal_copy_mb, args.wal_copy_reads)
    if args.idle_polls:
        db = work / "idle.db"
        db.unlink(missing_ok=True)
        build_small(db, args.small_runs or 300)
        gc.collect()
        results["idle_polls"] = bench_idle_polls(db, args.idle_polls)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
