"""The labber backend: the whole corpus through the agent, and two big logs against the
floor of reading the same arrays with h5py and writing them with xarray.

Measured in the same run, each measurement in a fresh process (time and peak memory):

1. corpus: every Labber file of the shared corpus (copied into Labber's dated layout)
   synchronized by ``SyncEngine.run(once=True)``; total time and per-log median;
2. a 2-D log of S x S float64 points (Labber's layout, gzip like Labber) and a log of
   N traces of M complex samples:

   * floor: ``h5py`` reads the arrays the log holds (``Data/Data`` columns, or the
     trace), numpy puts them on the grid, ``xarray.Dataset.to_netcdf(engine="h5netcdf")``;
   * reader: the backend's ``read_labber_file`` + the project's NetCDF writer (what a
     sync does with the values);
   * agent: the whole sync of a folder holding only that log (state DB, NetCDF, JSON
     files, the original .hdf5 and the NetCDF into the content-addressed store).

   Peak memory = the process's high-water RSS minus its RSS after imports.

    python bench/bench_labber.py --size 1000 --traces 10000 --samples 4000
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

DAY = Path("2024") / "05" / "Data_0512"

_CHILD = r"""
import resource, sys, time, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[4])

def high_water_mb():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

mode, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
from pathlib import Path
import math, h5py, numpy as np, xarray as xr, h5netcdf
from etiket_sync_agent.netcdf import write_netcdf
from etiket_sync_agent.backends.labber.reader import read_labber_file
# xarray's first Dataset pays for lazy imports: pay it before the baseline, on both sides
xr.Dataset({"a": ("x", np.zeros(3) + 0j)}).to_netcdf(out + ".warm", engine="h5netcdf")

def floor(path, out):
    with h5py.File(path, "r") as f:
        dims = [int(d) for d in f["Data"].attrs["Step dimensions"]]
        shape = [d for d in reversed(dims) if d > 1]
        names = [bytes(r[0]).decode() for r in f["Data/Channel names"][()]]
        variables = {}
        if "Traces" in f:
            for name, t in f["Traces"].items():
                if t.ndim != 3:
                    continue
                raw = t[()]
                v = raw[:, 0, :] + 1j * raw[:, 1, :]
                del raw
                variables[name.replace("/", "_")] = ([f"d{i}" for i in range(len(shape) + 1)],
                    v.T.reshape([*shape, v.shape[0]]))
        else:
            data = f["Data/Data"][()]
            for c, name in enumerate(names):
                variables[name] = ([f"d{i}" for i in range(len(shape))],
                    np.ascontiguousarray(data[:, c, :].T).reshape(shape))
    xr.Dataset(variables).to_netcdf(out, engine="h5netcdf")

def reader(path, out):
    labber = read_labber_file(Path(path))
    for log in labber.logs:
        if log.dataset is not None:
            write_netcdf(log.dataset, Path(out))
            log.dataset = None

def agent(path, out):
    from etiket_sync_agent.engine.loop import SyncEngine
    from etiket_sync_agent.home import Home
    from etiket_sync_agent.runtime import Runtime
    from etiket_sync_agent.services import sources
    rt = Runtime(Home.resolve(Path(out)))
    rt.store.create_scope("bench")
    sources.add_source(rt, "labber", "b", scope="bench",
        settings={"labber_directory": path, "live_timeout_s": "0"})
    t0 = time.perf_counter()
    SyncEngine(rt).run(once=True)
    return time.perf_counter() - t0

base = high_water_mb()
t0 = time.perf_counter()
inner = {"floor": floor, "reader": reader, "agent": agent}[mode](path, out)
seconds = time.perf_counter() - t0
print(seconds if inner is None else inner, base, high_water_mb())
"""


def measure(mode: str, path: Path, out: Path) -> tuple[float, float]:
    """(seconds, peak MB above the after-imports RSS) of one measurement in a new process."""
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(path), str(out), str(REPO / "src")],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{res.stderr[-3000:]}")
    seconds, base, peak = (float(v) for v in res.stdout.split()[-3:])
    return seconds, peak - base


def build_2d(root: Path, size: int) -> Path:
    """A completed S x S sweep, float64, in Labber's layout."""
    import numpy as np

    from tests.backends.labber.labber_files import LogSpec, Scalar, Step, write_labber_file

    spec = LogSpec(
        name=f"sweep {size}x{size}",
        steps=[
            Step("VNA - Frequency", list(np.linspace(4e9, 5e9, size)), "Hz"),
            Step("Flux - Voltage", list(np.linspace(-1, 1, size)), "V"),
        ],
        scalars=[
            Scalar(
                "Lock-in - X",
                "V",
                lambda g: np.sin(g["VNA - Frequency"] / 1e8) * g["Flux - Voltage"],
            )
        ],
    )
    return write_labber_file(root / DAY / "sweep2d.hdf5", spec)


def build_traces(root: Path, n_traces: int, n_samples: int) -> Path:
    """``n_traces`` complex traces of ``n_samples`` (a 100 x n/100 step grid), written
    in blocks; Labber's Traces layout (samples x [re, im] x entries)."""
    import h5py
    import numpy as np

    from tests.backends.labber.labber_files import LogSpec, Step, write_labber_file

    outer = n_traces // 100
    spec = LogSpec(
        name="single shots",
        steps=[
            Step("Drive - Frequency", list(np.linspace(5e9, 6e9, 100)), "Hz"),
            Step("Drive - Power", list(np.linspace(-30, 0, outer)), "dBm"),
        ],
    )
    path = write_labber_file(root / DAY / "traces.hdf5", spec)
    rng = np.random.default_rng(1)
    with h5py.File(path, "a") as f:
        traces = f.create_group("Traces")
        dset = traces.create_dataset(
            "Digitizer - Signal",
            shape=(n_samples, 2, n_traces),
            maxshape=(None, 2, n_traces),
            chunks=(n_samples, 2, 8),
            dtype="f8",
        )
        dset.attrs["complex"] = True
        dset.attrs["x, name"] = "Time"
        dset.attrs["x, unit"] = "s"
        for e0 in range(0, n_traces, 500):
            e1 = min(n_traces, e0 + 500)
            dset[:, :, e0:e1] = rng.standard_normal((n_samples, 2, e1 - e0))
        traces.create_dataset("Digitizer - Signal_N", data=np.array([n_samples], dtype=np.int32))
        traces.create_dataset("Digitizer - Signal_t0dt", data=np.array([[0.0, 1e-9]]))
        traces.create_dataset("Time stamp", data=np.arange(n_traces, dtype=float))
    return path


def log_data_mb(path: Path) -> float:
    """MB of the values a log holds (``Data/Data`` and every trace), uncompressed."""
    import h5py

    with h5py.File(path, "r") as f:
        arrays = [f["Data/Data"]] + [t for t in f.get("Traces", {}).values() if t.ndim == 3]
        return sum(a.size * a.dtype.itemsize for a in arrays) / 2**20


def bench_corpus(work: Path) -> None:
    from etiket_sync_agent.engine.events import ItemFinished
    from etiket_sync_agent.engine.loop import SyncEngine
    from etiket_sync_agent.home import Home
    from etiket_sync_agent.runtime import Runtime
    from etiket_sync_agent.services import sources

    corpus = REPO.parent / "shared" / "corpus" / "labber"
    if not corpus.is_dir():
        print(f"corpus not found at {corpus}: skipped")
        return
    totals, medians = [], []
    for rep in range(3):
        root = work / f"corpus{rep}" / "Labber"
        for p in corpus.rglob("*"):
            if p.is_file():
                (root / DAY).mkdir(parents=True, exist_ok=True)
                shutil.copy2(p, root / DAY / p.name)
        rt = Runtime(Home.resolve(work / f"corpus{rep}" / "home"))
        rt.store.create_scope("bench")
        sources.add_source(
            rt,
            "labber",
            "c",
            scope="bench",
            settings={"labber_directory": str(root), "live_timeout_s": "0"},
        )
        per_item: list[float] = []

        def report(event: object, per_item: list[float] = per_item) -> None:
            if isinstance(event, ItemFinished) and event.status == "synchronized":
                per_item.append(event.seconds)

        t0 = time.perf_counter()
        SyncEngine(rt, reporter=report).run(once=True)
        totals.append(time.perf_counter() - t0)
        medians.append(statistics.median(per_item))
        rt.close()
        print(f"  corpus run {rep + 1}: {totals[-1]:.2f} s, {len(per_item)} logs synchronized")
    print(
        f"corpus (16 files, {len(per_item)} synchronized): whole sync median "
        f"{statistics.median(totals):.2f} s, per-log median "
        f"{statistics.median(medians) * 1000:.0f} ms"
    )


def bench_log(label: str, root: Path, path: Path, work: Path, data_mb: float, repeat: int) -> None:
    rows = {}
    for mode in ("floor", "reader", "agent"):
        times, peaks = [], []
        for rep in range(repeat):
            out = work / f"{label}-{mode}-{rep}"
            out.mkdir(parents=True, exist_ok=True)
            target = out / "out.nc" if mode != "agent" else out / "home"
            source = path if mode != "agent" else root
            seconds, peak = measure(mode, source, target)
            times.append(seconds)
            peaks.append(peak)
            shutil.rmtree(out, ignore_errors=True)
        rows[mode] = (statistics.median(times), max(peaks))
    floor_s = rows["floor"][0]
    print(f"{label} ({data_mb:.0f} MB of values in the log):")
    print("| | seconds (median) | x floor | peak MB above imports | x log's data |")
    print("|---|---|---|---|---|")
    for mode, (s, peak) in rows.items():
        print(f"| {mode} | {s:.2f} | {s / floor_s:.2f} | {peak:.0f} | {peak / data_mb:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1000, help="the 2-D log is SIZE x SIZE")
    ap.add_argument("--traces", type=int, default=10000, help="traces of the trace log")
    ap.add_argument("--samples", type=int, default=4000, help="complex samples per trace")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: temp)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-labber-"))
    try:
        bench_corpus(work / "corpus")
        root2d = work / "log2d" / "Labber"
        path = build_2d(root2d, args.size)
        label = f"2-D log {args.size}x{args.size} float64"
        bench_log(label, root2d, path, work, log_data_mb(path), args.repeat)
        roott = work / "logt" / "Labber"
        path = build_traces(roott, args.traces, args.samples)
        label = f"{args.traces} traces x {args.samples} complex"
        bench_log(label, roott, path, work, log_data_mb(path), args.repeat)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
