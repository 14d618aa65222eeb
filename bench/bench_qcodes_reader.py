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
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
