"""The core_tools backend through the whole agent, against a plain psycopg + xarray floor.

Measured in the same run, on the same real PostgreSQL databases (written here the way
core-tools writes them, see ``tests/backends/core_tools/ct_writer.py``):

1. initial sync of N small measurements (1-D, 100 points): the floor is a plain loop -
   read the parameter rows, ``lo_get`` every large object whole, build an xarray Dataset,
   ``to_netcdf(engine="h5netcdf")`` - against ``SyncEngine.run(once=True)`` (discovery,
   state DB, reading, NetCDF, content-addressed store, all included);
2. the same for M large measurements (S x S grid, one output);
3. the reader's peak traced memory (tracemalloc) writing one large measurement;
4. live latency: a writer process appends a point every 0.25 s; for each point, the time
   from its commit to the first live version in the store that holds it.

    python bench/bench_core_tools.py --small 1000 --large 10 --size 1000 --live-points 60
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from etiket_sync_agent.engine.loop import SyncEngine  # noqa: E402
from etiket_sync_agent.engine.settings import EngineSettings  # noqa: E402
from etiket_sync_agent.home import Home  # noqa: E402
from etiket_sync_agent.runtime import Runtime  # noqa: E402
from etiket_sync_agent.services import sources  # noqa: E402
from tests.backends.core_tools import ct_writer as ctw  # noqa: E402

LIVE_WRITER = """
import sys, time
sys.path.insert(0, {repo!r})
from tests.backends.core_tools import ct_writer as ctw
w = ctw.Writer({db!r})
h = w.register("live", ctw.one_d("x", {n}), project="live")
print(h.uuid, flush=True)
for k in range({n}):
    w.write(h, 1)
    print(k + 1, time.time(), flush=True)
    time.sleep(0.25)
w.finish(h)
print("done", flush=True)
"""


def floor(dbname: str, out_dir: Path) -> float:
    """Plain psycopg + xarray: every measurement's arrays read whole, then to_netcdf."""
    import psycopg
    import xarray as xr

    t0 = time.perf_counter()
    with psycopg.connect(dbname=dbname, **ctw.PG) as conn:
        uuids = [r[0] for r in conn.execute("SELECT uuid FROM global_measurement_overview")]
        for uuid in uuids:
            rows = conn.execute(
                "SELECT name, setpoint, shape, write_cursor, oid FROM measurement_parameters"
                " WHERE exp_uuid = %s ORDER BY param_index",
                (uuid,),
            ).fetchall()
            arrays = {}
            for name, setpoint, shape, cursor, oid in rows:
                data = conn.execute(
                    "SELECT lo_get(%s::oid, 0, %s)", (oid, cursor * 8), binary=True
                ).fetchone()[0]
                arrays[(name, setpoint)] = np.frombuffer(data, "<f8").reshape(shape)
            coords, data_vars = {}, {}
            for (name, setpoint), values in arrays.items():
                if setpoint:
                    continue
                dims = []
                for (sname, sp), sv in arrays.items():
                    if sp and sv.shape == values.shape:
                        d = len(dims)
                        index = tuple(slice(None) if i == d else 0 for i in range(sv.ndim))
                        coords[sname] = (sname, sv[index])
                        dims.append(sname)
                data_vars[name] = (tuple(dims), values)
            xr.Dataset(data_vars, coords=coords).to_netcdf(
                out_dir / f"{uuid}.nc", engine="h5netcdf"
            )
            conn.rollback()
    return time.perf_counter() - t0


def _runtime_with_source(dbname: str, home: Path) -> Runtime:
    """A fresh home with a core_tools source on ``dbname`` (a store scope per project)."""
    rt = Runtime(Home.resolve(home))
    settings = {"dbname": dbname, "user": "postgres", "host": "127.0.0.1"}
    sources.add_source(
        rt, "core_tools", "ct", settings={**settings, "auto_scope_per_project": True}
    )
    return rt


def agent(dbname: str, home: Path) -> float:
    rt = _runtime_with_source(dbname, home)
    try:
        t0 = time.perf_counter()
        summary = SyncEngine(rt).run(once=True)
        dt = time.perf_counter() - t0
        assert summary.failed == 0, summary
        return dt
    finally:
        rt.close()


def compare(label: str, dbname: str, repeats: int) -> dict:
    floors, agents = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            floors.append(floor(dbname, Path(tmp)))
        with tempfile.TemporaryDirectory() as tmp:
            agents.append(agent(dbname, Path(tmp) / "home"))
    f, a = statistics.median(floors), statistics.median(agents)
    print(
        f"{label}: floor {f:.2f} s ({min(floors):.2f}-{max(floors):.2f}), agent {a:.2f} s "
        f"({min(agents):.2f}-{max(agents):.2f}), ratio {a / f:.2f}x",
        flush=True,
    )
    return {"floor_s": floors, "agent_s": agents, "ratio": a / f}


def reader_peak(dbname: str) -> dict:
    from etiket_sync_agent.backends.core_tools import CoreToolsBackend, CoreToolsConfig
    from etiket_sync_agent.backends.core_tools.reader import read_measurement, write_measurement

    b = CoreToolsBackend(CoreToolsConfig(dbname=dbname, user="postgres", host="127.0.0.1"))
    with b.db.transaction() as cur:
        cur.execute("SELECT uuid FROM global_measurement_overview ORDER BY id LIMIT 1")
        uuid = cur.fetchone()[0]
        meas = read_measurement(cur, b.schema(cur), uuid)
        cur.execute(
            "SELECT max(total_size) FROM measurement_parameters WHERE exp_uuid = %s", (uuid,)
        )
        largest = cur.fetchone()[0] * 8
        with tempfile.TemporaryDirectory() as tmp:
            write_measurement(cur, meas, Path(tmp) / "warm.hdf5")
            tracemalloc.start()
            write_measurement(cur, meas, Path(tmp) / "m.hdf5")
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    b.close()
    print(
        f"reader peak traced memory {peak / 2**20:.1f} MiB, largest array "
        f"{largest / 2**20:.1f} MiB ({peak / largest:.2f}x)",
        flush=True,
    )
    return {"peak_mib": peak / 2**20, "largest_mib": largest / 2**20}


def live_latency(dbname: str, n: int) -> dict:
    import xarray as xr

    with tempfile.TemporaryDirectory() as tmp:
        rt = _runtime_with_source(dbname, Path(tmp) / "home")
        engine = SyncEngine(rt, EngineSettings())  # the default timings of a lab PC
        thread = threading.Thread(target=engine.run, daemon=True)
        thread.start()
        proc = subprocess.Popen(
            [sys.executable, "-c", LIVE_WRITER.format(repo=str(REPO), db=dbname, n=n)],
            stdout=subprocess.PIPE,
            text=True,
        )
        uuid = proc.stdout.readline().strip()
        commits: dict[int, float] = {}
        seen: dict[int, float] = {}

        def read_writer() -> None:
            for line in proc.stdout:
                parts = line.split()
                if len(parts) == 2:
                    commits[int(parts[0])] = float(parts[1])

        reader = threading.Thread(target=read_writer, daemon=True)
        reader.start()
        last_sha = None
        while proc.poll() is None:
            ds = rt.store.find_dataset(scope="CT_PROJECT_live", alt_uid=uuid)
            if ds is not None:
                files = {f.name: f for f in rt.store.get_dataset(ds.uuid).files}
                f = files.get("measured_data.hdf5")
                if f is not None and f.latest.sha256 != last_sha:
                    last_sha = f.latest.sha256
                    now = time.time()
                    with rt.store.open_file(ds.uuid, "measured_data.hdf5") as fh:
                        count = int(
                            np.isfinite(
                                xr.load_dataset(fh, engine="h5netcdf")["current"].values
                            ).sum()
                        )
                    for k in range(1, count + 1):
                        seen.setdefault(k, now)
            time.sleep(0.02)
        reader.join(5)
        engine.stop()
        thread.join(30)
        rt.close()
    lat = sorted(seen[k] - commits[k] for k in commits if k in seen)
    p50, p95 = lat[len(lat) // 2], lat[int(0.95 * (len(lat) - 1))]
    print(
        f"live latency over {len(lat)} points: median {p50:.2f} s, p95 {p95:.2f} s, "
        f"max {lat[-1]:.2f} s",
        flush=True,
    )
    return {"points": len(lat), "p50_s": p50, "p95_s": p95, "max_s": lat[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=10)
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--live-points", type=int, default=60)
    args = ap.parse_args()
    results: dict = {}
    for label, build in (
        (
            f"{args.small} small (1-D, 100 points)",
            lambda w: [w.complete(f"small {i}", ctw.one_d("x", 100)) for i in range(args.small)],
        ),
        (
            f"{args.large} large ({args.size}x{args.size})",
            lambda w: [
                w.complete(f"large {i}", ctw.two_d(args.size, args.size)) for i in range(args.large)
            ],
        ),
    ):
        db = ctw.create_database("ct_bench")
        try:
            ctw.apply_schema(db)
            w = ctw.Writer(db)
            t0 = time.perf_counter()
            build(w)
            w.close()
            print(f"{label}: written in {time.perf_counter() - t0:.1f} s", flush=True)
            results[label] = compare(label, db, args.repeats)
            if "large" in label:
                results["reader memory"] = reader_peak(db)
        finally:
            ctw.drop_database(db)
    db = ctw.create_database("ct_bench")
    try:
        ctw.apply_schema(db)
        results["live"] = live_latency(db, args.live_points)
    finally:
        ctw.drop_database(db)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
