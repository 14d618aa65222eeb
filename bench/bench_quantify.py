"""The quantify backend through the whole agent, against a plain xarray loop.

Measured in the same run, on datadirs written here the way MeasurementControl writes
them (xarray + h5netcdf, ``invalid_netcdf=True``, the ``x0../y0..`` layout on ``dim_0``):

1. the whole shared corpus datadir (``../shared/corpus/quantify``): total time and the
   median time per dataset (from the engine's per-item events);
2. N small measurements (1-D, 100 points, 2 gettables) and M big ones (2-D 1000x1000,
   1 gettable): ``xarray.load_dataset(engine="h5netcdf")`` + gridding (xarray's
   ``swap_dims`` / ``set_index().unstack()``) + ``to_netcdf(engine="h5netcdf")`` per
   measurement vs ``SyncEngine.run(once=True)`` (discovery, state DB, private copies,
   gridding, NetCDF, content-addressed store, all included);
3. peak memory of the agent syncing one big measurement (a child process: ``ru_maxrss``
   growth during the sync) against the dataset's in-memory size;
4. live latency: a writer process fills a 2-D measurement, rewriting the file every
   0.5 s like MeasurementControl; for every write, the time until the store's live
   version holds its points (agent in watch mode, default settings);
5. discovery: the engine's level-2 scan of one day folder holding K measurements, with
   the backend's TUID filter vs the default filter (baseline).

    python bench/bench_quantify.py --small 1000 --big 10 --big-size 1000
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from etiket_sync_agent.engine.events import ItemFinished  # noqa: E402
from etiket_sync_agent.engine.loop import SyncEngine  # noqa: E402
from etiket_sync_agent.home import Home  # noqa: E402
from etiket_sync_agent.runtime import Runtime  # noqa: E402
from etiket_sync_agent.services import sources  # noqa: E402
from tests.backends.quantify.mc_files import (  # noqa: E402
    fill,
    flat_dataset,
    grid_dataset,
    measurement_folder,
    reference_grid,
    tuid_at,
    write_mc,
)

# the baseline writes Quantify's numpy-bool attributes as quantify does (invalid_netcdf)
warnings.filterwarnings("ignore", message="You are writing invalid netcdf")

CORPUS = REPO.parent / "shared" / "corpus" / "quantify"
WRITER = REPO / "tests" / "backends" / "quantify" / "mc_writer.py"


def build(datadir: Path, n_small: int, n_big: int, big_size: int) -> list[Path]:
    base = datetime(2025, 1, 6, 8, 0, 0)
    paths = []
    for i in range(n_small):
        tuid = tuid_at(base, i)
        folder = measurement_folder(datadir, tuid, f"small {i}")
        ds = fill(flat_dataset(tuid, f"small {i}", [np.linspace(0, 1, 100)], 2), seed=i)
        write_mc(ds, folder / "dataset.hdf5")
        paths.append(folder / "dataset.hdf5")
    for j in range(n_big):
        tuid = tuid_at(base, n_small + j)
        folder = measurement_folder(datadir, tuid, f"big {j}")
        axes = [np.linspace(0, 1, big_size), np.linspace(-1, 1, big_size)]
        ds = fill(grid_dataset(tuid, f"big {j}", axes, 1, flag=True), seed=j)
        write_mc(ds, folder / "dataset.hdf5")
        paths.append(folder / "dataset.hdf5")
        del ds
    return paths


def discovery(work: Path, k: int, repeats: int = 5) -> tuple[float, float]:
    """Median seconds of a level-2 scan of one day with ``k`` measurements: (default
    accept rule, the quantify backend's ``accepts``)."""
    from etiket_sync_agent.backends.quantify import QuantifyBackend, QuantifyConfig
    from etiket_sync_agent.engine.scanner import scan

    root = work / "discovery"
    base = datetime(2025, 2, 3, 9, 0, 0)
    for i in range(k):
        folder = measurement_folder(root, tuid_at(base, i * 0.5), f"m{i}")
        (folder / "snapshot.json").write_text("{}")
    backend = QuantifyBackend(QuantifyConfig(quantify_directory=root))
    times: dict[str, list[float]] = {"default": [], "quantify": []}
    for _ in range(repeats):
        for label, accept in (("default", None), ("quantify", backend.accepts)):
            t0 = time.perf_counter()
            hits = scan(root, 2, accept=accept).hits
            times[label].append(time.perf_counter() - t0)
            assert len(hits) == k, (label, len(hits))
    shutil.rmtree(root)
    return statistics.median(times["default"]), statistics.median(times["quantify"])


def xarray_loop(paths: list[Path], out: Path) -> float:
    import xarray as xr

    t0 = time.perf_counter()
    for i, p in enumerate(paths):
        ds = xr.load_dataset(p, engine="h5netcdf")
        # invalid_netcdf: Quantify's numpy-bool attributes, as quantify itself writes
        reference_grid(ds).to_netcdf(out / f"{i}.nc", engine="h5netcdf", invalid_netcdf=True)
        (out / f"{i}.nc").unlink()
    return time.perf_counter() - t0


def agent_sync(datadir: Path, home: Path) -> tuple[float, list[float]]:
    rt = Runtime(Home.resolve(home))
    rt.store.create_scope("bench")
    sources.add_source(
        rt, "quantify", "bench", scope="bench", settings={"quantify_directory": str(datadir)}
    )
    per_item: list[float] = []

    def reporter(event: object) -> None:
        if isinstance(event, ItemFinished):
            assert event.status == "synchronized", event
            per_item.append(event.seconds)

    t0 = time.perf_counter()
    SyncEngine(rt, reporter=reporter).run(once=True)
    dt = time.perf_counter() - t0
    rt.close()
    return dt, per_item


_MEMORY_CHILD = """
import json, resource, sys, tracemalloc
sys.path.insert(0, {src!r})
from etiket_sync_agent.home import Home
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources
from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.backends.quantify.reader import warm_up
warm_up()  # imports are not the dataset's memory
rt = Runtime(Home.resolve({home!r}))
rt.store.create_scope("bench")
sources.add_source(rt, "quantify", "m", scope="bench",
                   settings={{"quantify_directory": {datadir!r}}})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()  # numpy reports its buffers to tracemalloc
SyncEngine(rt).run(once=True)
_, peak = tracemalloc.get_traced_memory()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
status = [i["status"] for i in sources.list_items(rt, "m")]
print(json.dumps({{"before_kb": before, "after_kb": after, "traced": peak, "status": status}}))
"""


def peak_memory(big_folder: Path, work: Path) -> tuple[float, float, float]:
    """Syncing one big measurement in a fresh process: (peak of the memory Python and
    numpy allocate, MiB; growth of the peak RSS, MiB; the dataset's size, MiB)."""
    import xarray as xr

    datadir = work / "mem-data"
    target = datadir / big_folder.parent.name / big_folder.name
    target.parent.mkdir(parents=True)
    shutil.copytree(big_folder, target)
    size = xr.load_dataset(target / "dataset.hdf5", engine="h5netcdf").nbytes / 2**20
    code = _MEMORY_CHILD.format(
        src=str(REPO / "src"), home=str(work / "mem-home"), datadir=str(datadir)
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["status"] == ["synchronized"], res
    return res["traced"] / 2**20, (res["after_kb"] - res["before_kb"]) / 1024, size


def live_latency(work: Path, nx: int, ny: int, delay: float) -> list[float]:
    """Per write of the writer: seconds until the store's live version shows its points."""
    import xarray as xr

    datadir = work / "live-data"
    datadir.mkdir()
    rt = Runtime(Home.resolve(work / "live-home"))
    rt.store.create_scope("bench")
    sources.add_source(
        rt, "quantify", "live", scope="bench", settings={"quantify_directory": str(datadir)}
    )
    engine = SyncEngine(rt)
    loop = threading.Thread(target=engine.run, daemon=True)
    loop.start()
    seen: list[tuple[float, int]] = []  # (time, measured points) of each live version
    writes: list[tuple[float, int]] = []
    try:
        proc = subprocess.Popen(
            [sys.executable, "-u", "-c", _TIMED_WRITER, str(WRITER), str(datadir)]
            + [str(nx), str(ny), str(delay), "0.5"],
            stdout=subprocess.PIPE,
            text=True,
        )
        tuid = None
        reader_lines: list[str] = []

        def read_stdout() -> None:
            for line in proc.stdout:
                reader_lines.append(line)

        t = threading.Thread(target=read_stdout, daemon=True)
        t.start()
        last_version = None
        while proc.poll() is None or t.is_alive():
            if tuid is None:
                for line in reader_lines:
                    if line.startswith("started"):
                        tuid = line.rstrip("\n").split("\t")[2]
            if tuid is not None:
                ds = rt.store.find_dataset(scope="bench", alt_uid=tuid)
                info = rt.store.get_dataset(ds.uuid) if ds else None
                files = {f.name: f for f in info.files} if info else {}
                f = files.get("dataset.hdf5")
                # the store replaces a live version in place: watch its content
                if f is not None and f.latest.sha256 != last_version:
                    last_version = f.latest.sha256
                    now = time.time()
                    with rt.store.open_file(ds.uuid, "dataset.hdf5") as fh:
                        live = xr.load_dataset(fh, engine="h5netcdf")
                    seen.append((now, int(np.isfinite(live["y0"].values).sum())))
            time.sleep(0.02)
        for line in reader_lines:
            if line.startswith("wrote"):
                _, at, points = line.split()
                writes.append((float(at), int(points)))
    finally:
        engine.stop()
        loop.join(30)
        rt.close()
    out = []
    for at, points in writes:
        first = next((s for s, n in seen if n >= points and s >= at - 0.05), None)
        if first is not None:
            out.append(max(0.0, first - at))
    return out


# the test writer, reporting the wall time and point count of every write it makes
_TIMED_WRITER = """
import runpy, sys, time
import numpy as np
path, sys.argv = sys.argv[1], [sys.argv[1]] + sys.argv[2:]
sys.path.insert(0, str(__import__("pathlib").Path(path).resolve().parents[3]))
import tests.backends.quantify.mc_files as mc
original = mc.write_mc
def timed(ds, p):
    original(ds, p)
    print("wrote", time.time(), int(np.isfinite(ds["y0"].values).sum()), flush=True)
mc.write_mc = timed
runpy.run_path(path, run_name="__main__")
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--big", type=int, default=10)
    ap.add_argument("--big-size", type=int, default=1000)
    ap.add_argument("--live-points", type=int, default=600, help="points of the live 2-D run")
    ap.add_argument("--skip-corpus", action="store_true")
    ap.add_argument("--discovery", type=int, default=10000, help="measurements in one day")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-quantify-"))
    try:
        if not args.skip_corpus and CORPUS.is_dir():
            datadir = next(CORPUS.glob("*/tests/test_data"))
            dt, per_item = agent_sync(datadir, work / "corpus-home")
            print(
                f"corpus: {len(per_item)} datasets in {dt:.2f} s; per dataset median"
                f" {statistics.median(per_item) * 1000:.1f} ms, max {max(per_item) * 1000:.0f} ms",
                flush=True,
            )
        if args.discovery:
            plain, ours = discovery(work, args.discovery)
            print(
                f"discovery of {args.discovery} measurements in one day folder: level-2 scan"
                f" {plain:.3f} s, with the TUID filter {ours:.3f} s ({ours / plain:.2f}x)",
                flush=True,
            )
        rows = []
        for label, n_small, n_big in (("small", args.small, 0), ("big", 0, args.big)):
            n = n_small + n_big
            if n == 0:
                continue
            datadir = work / f"{label}-data"
            t = time.perf_counter()
            paths = build(datadir, n_small, n_big, args.big_size)
            print(f"built {label}: {n} in {time.perf_counter() - t:.1f} s", flush=True)
            out = work / f"{label}-xr"
            out.mkdir()
            t_xr = xarray_loop(paths, out)
            t_agent, per_item = agent_sync(datadir, work / f"{label}-home")
            assert len(per_item) == n, (len(per_item), n)
            rows.append((label, n, t_xr / n, t_agent / n))
            print(rows[-1], flush=True)
            if label == "big":
                traced, grow, size = peak_memory(paths[0].parent, work)
                print(
                    f"peak memory syncing one {args.big_size}x{args.big_size} measurement"
                    f" ({size:.0f} MiB in memory): {traced:.0f} MiB allocated at the peak"
                    f" ({traced / size:.2f}x); peak RSS +{grow:.0f} MiB",
                    flush=True,
                )
            shutil.rmtree(datadir, ignore_errors=True)
        print(
            "\n| measurements | n | xarray loop per measurement | agent per measurement"
            " | speed-up |"
        )
        print("|---|---|---|---|---|")
        for label, n, xr_s, agent_s in rows:
            print(
                f"| {label} | {n} | {xr_s * 1000:.1f} ms | {agent_s * 1000:.1f} ms |"
                f" {xr_s / agent_s:.1f}x |"
            )
        if args.live_points:
            ny = 10
            lat = live_latency(work, max(1, args.live_points // ny), ny, 0.01)
            if lat:
                lat.sort()
                p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
                print(
                    f"\nlive: point written -> visible in the store's live version"
                    f" ({len(lat)} writes): median {statistics.median(lat):.2f} s,"
                    f" p95 {p95:.2f} s, max {lat[-1]:.2f} s"
                )
            else:
                print("\nlive: no live version seen")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
