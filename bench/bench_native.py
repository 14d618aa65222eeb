"""The native API: append cost against raw h5py, and live latency through the agent.

Measured in the same run:

1. append rate: single-point appends of a 1-D sweep (N points) and of a 2-D grid
   (sqrt(N) x sqrt(N)), two float variables, through ``native`` (default flush interval
   0.2 s, and flushing after every point) vs the floor: the same points written one by
   one into plain h5py datasets of the same chunking (``I[i] = v``, no SWMR, no flush);
   best of ``--repeats`` runs each, alternating;
2. live latency: a writer process appends the points of a 2-D measurement every
   ``--delay`` s while the agent runs in watch mode (its own process); for every point,
   the time from its ``append`` until the store's live version holds it. Run with the
   engine's default settings and with ``live_interval_s`` = 0.2.

    python bench/bench_native.py --points 10000 --live-points 600
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from etiket_sync_agent import native  # noqa: E402


def raw_h5py(path: Path, shape: tuple[int, ...]) -> float:
    """Seconds to write every point one by one into plain h5py datasets (the floor)."""
    import h5py

    n = int(np.prod(shape))
    chunks = (min(shape[0], 1024),) if len(shape) == 1 else (shape[0], shape[1])
    t0 = time.perf_counter()
    with h5py.File(path, "w", libver="latest") as f:
        di = f.create_dataset("I", shape=shape, dtype="f8", chunks=chunks, fillvalue=np.nan)
        dq = f.create_dataset("Q", shape=shape, dtype="f8", chunks=chunks, fillvalue=np.nan)
        if len(shape) == 1:
            for i in range(n):
                di[i] = float(i)
                dq[i] = -float(i)
        else:
            for i in range(shape[0]):
                for j in range(shape[1]):
                    di[i, j] = float(i)
                    dq[i, j] = -float(j)
    return time.perf_counter() - t0


def with_api(folder: Path, shape: tuple[int, ...], flush: float) -> float:
    """Seconds to append every point through the native API (dataset included)."""
    coords = {"x": ("V", np.arange(float(shape[0])))}
    if len(shape) == 2:
        coords["y"] = ("V", np.arange(float(shape[1])))
    t0 = time.perf_counter()
    with (
        native.dataset("bench", scope="bench", directory=folder) as ds,
        ds.measurement("m", coords, {"I": "V", "Q": "V"}, flush_interval_s=flush) as m,
    ):
        if len(shape) == 1:
            for i in range(shape[0]):
                m.append(I=float(i), Q=-float(i))
        else:
            for i in range(shape[0]):
                for j in range(shape[1]):
                    m.append(I=float(i), Q=-float(j))
    return time.perf_counter() - t0


def append_rates(work: Path, n: int, repeats: int) -> list[tuple[str, float, float, float]]:
    side = int(round(n**0.5))
    rows = []
    for label, shape in (("1-D", (n,)), ("2-D", (side, side))):
        points = int(np.prod(shape))
        raw, api, api0 = [], [], []
        for r in range(repeats):
            raw.append(raw_h5py(work / f"raw-{label}-{r}.h5", shape))
            api.append(with_api(work / f"api-{label}-{r}", shape, 0.2))
            api0.append(with_api(work / f"api0-{label}-{r}", shape, 0.0))
        rows.append(
            (
                f"{label} {'x'.join(map(str, shape))}",
                points / min(raw),
                points / min(api),
                points / min(api0),
            )
        )
    return rows


_WRITER = """
import sys, time
import numpy as np
from etiket_sync_agent import native
folder, nx, ny, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
with native.dataset("live bench", scope="bench", directory=folder) as ds, ds.measurement(
    "grid", {"x": ("V", np.arange(float(nx))), "y": ("V", np.arange(float(ny)))},
    {"I": "V"}) as m:
    print("started", ds.path.name, flush=True)
    for k in range(nx * ny):
        m.append(I=float(k))
        print("appended", time.time(), k + 1, flush=True)
        time.sleep(delay)
"""


_AGENT = """
import sys
from dataclasses import replace
from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.engine.settings import EngineSettings
from etiket_sync_agent.home import Home
from etiket_sync_agent.runtime import Runtime
settings = EngineSettings()
if float(sys.argv[2]):
    settings = replace(settings, live_interval_s=float(sys.argv[2]))
try:
    SyncEngine(Runtime(Home.resolve(sys.argv[1])), settings).run()
except KeyboardInterrupt:
    pass
"""


def live_latency(work: Path, points: int, delay: float, live_interval: float | None):
    """(latencies of every point appended once the dataset was live, seconds from the
    writer's start to the first live version)."""
    import xarray as xr

    from etiket_sync_agent.home import Home
    from etiket_sync_agent.runtime import Runtime
    from etiket_sync_agent.services import sources

    tag = "default" if live_interval is None else f"live{live_interval}"
    area, home = work / f"area-{tag}", work / f"home-{tag}"
    area.mkdir()
    rt = Runtime(Home.resolve(home))
    rt.store.create_scope("bench")
    sources.add_source(rt, "native", "scripts", settings={"native_directory": str(area)})
    # warm-up: one dataset synchronized first (readers imported, as in a running agent)
    with (
        native.dataset("warm-up", scope="bench", directory=area) as ds,
        ds.measurement("m", {"x": ("V", [0.0])}, {"I": "V"}) as m,
    ):
        m.append(I=1.0)
    # the agent in its own process, as in a lab (the polling here does not slow it)
    agent = subprocess.Popen(
        [sys.executable, "-c", _AGENT, str(home), str(live_interval or 0)],
        stdout=subprocess.DEVNULL,
    )
    warm = native.read_manifest(ds.path)["uuid"]
    while rt.store.find_dataset(scope="bench", alt_uid=warm) is None:
        if agent.poll() is not None:
            raise SystemExit(f"the agent exited ({agent.returncode})")
        time.sleep(0.05)
    side = int(round(points**0.5))
    lines: list[str] = []
    seen: list[tuple[float, int]] = []
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", _WRITER, str(area), str(side), str(side), str(delay)],
        stdout=subprocess.PIPE,
        text=True,
    )
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        uuid, last = None, None
        while proc.poll() is None or reader.is_alive():
            if uuid is None and lines:
                uuid = native.read_manifest(area / lines[0].split()[1])["uuid"]
            info = rt.store.find_dataset(scope="bench", alt_uid=uuid) if uuid else None
            files = {f.name: f for f in rt.store.get_dataset(info.uuid).files} if info else {}
            f = files.get("grid.hdf5")
            if f is not None and f.latest.status.value == "live" and f.latest.sha256 != last:
                now = time.time()
                last = f.latest.sha256
                with rt.store.open_file(info.uuid, "grid.hdf5") as fh:
                    got = xr.load_dataset(fh, engine="h5netcdf")
                seen.append((now, int(np.isfinite(got["I"].values).sum())))
            time.sleep(0.01)
    finally:
        agent.send_signal(signal.SIGINT)
        agent.wait(60)
        rt.close()
    appended = [(float(a), int(k)) for _, a, k in (ln.split() for ln in lines[1:])]
    if not seen:
        return [], float("nan")
    first_live = seen[0][0]
    out = []
    for at, k in appended:
        if at < first_live:
            continue  # before the dataset was live: discovery, not live latency
        hit = next((s for s, n in seen if n >= k and s >= at), None)
        if hit is not None:
            out.append(hit - at)
    return out, first_live - started


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--live-points", type=int, default=600)
    ap.add_argument("--delay", type=float, default=0.01, help="seconds between live points")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-native-") as tmp:
        work = Path(tmp)
        print(f"append rate, {args.points} points, best of {args.repeats} (points/s):")
        print("shape | raw h5py | native (flush 0.2 s) | x raw | native (flush every point)")
        for label, raw, api, api0 in append_rates(work, args.points, args.repeats):
            print(f"{label} | {raw:,.0f} | {api:,.0f} | {api / raw:.2f} | {api0:,.0f}")
        if args.live_points:
            for live_interval in (None, 0.2):
                lat, first = live_latency(work, args.live_points, args.delay, live_interval)
                what = (
                    "default settings"
                    if live_interval is None
                    else f"live_interval_s={live_interval}"
                )
                if not lat:
                    print(f"live ({what}): no live version seen")
                    continue
                print(
                    f"live ({what}): {len(lat)} points, p50 {pct(lat, 50):.3f} s,"
                    f" p95 {pct(lat, 95):.3f} s, max {max(lat):.3f} s;"
                    f" first live version {first:.2f} s after the writer started"
                )


if __name__ == "__main__":
    main()
