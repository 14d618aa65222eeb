"""Watch mode: time from a new dataset's info file appearing to "synchronized".

The engine runs in-process (``SyncEngine(runtime, EngineSettings()).run()`` in a thread,
default settings) on a folderbase source with N datasets already synchronized (default
N = 0 and 10k). The bench then creates new datasets one by one and timestamps the
engine's ``ItemFinished`` event for each (reported right after the item's status is
committed as "synchronized" in the state DB). Three ways to write a dataset:

  at-once     mkdir + 2 data files + info file (generate_dataset_info) in an existing folder
  info-later  mkdir + data files, the info file --info-delay seconds later (a measurement
              that runs a while, then annotates its folder)
  new-parent  a new parent folder and the dataset inside it at once (watches must be added
              on the fly to see what happens inside)

and the same with the source marked ``is_server_folder`` (polling every
ETIKET_SYNC_POLL_S, default 10 s; --poll-count datasets at random moments).

Latency is measured from the moment the info file exists. The baseline printed next to it
is the time the engine spent syncing the item itself (ItemFinished.seconds): latency minus
that is the time spent noticing the dataset. Target: synchronized within 2 s.

    .venv/bin/python bench/bench_latency.py [--sizes 0 10000] [--count 20] [--quick]

``--live-pacing``: instead, the share of the time a slow live dataset's passes take
(the test backend of ``tests/engine/_live_backend.py``, each pass ``--pass-seconds``
long, ``live_interval_s`` 0.02 s) with the engine's pacing (each pass followed by a
pause of ``LIVE_BUSY_FACTOR`` times its duration: target ~1/(1 + factor)) against the
same run unpaced (factor 0) as the baseline.

    .venv/bin/python bench/bench_latency.py --live-pacing [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import threading
import time
from pathlib import Path

from _common import (
    WORK,
    add_source,
    machine_info,
    open_runtime,
    percentile,
    prepare_synced_home,
    print_table,
    set_network_folder,
)

from etiket_sync_agent.backends.folderbase import generate_dataset_info
from etiket_sync_agent.engine.events import Event, ItemFinished, IterationFinished
from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.engine.settings import EngineSettings

TARGET_S = 2.0
MODES = ["at-once", "info-later", "new-parent", "poll at-once"]


class Timestamps:
    """Reporter: when each item finished, and when the first iteration ended."""

    def __init__(self) -> None:
        self.finished: dict[str, tuple[float, ItemFinished]] = {}
        self.ready = threading.Event()
        self._cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        now = time.monotonic()
        if isinstance(event, ItemFinished):
            with self._cond:
                self.finished[event.identifier] = (now, event)
                self._cond.notify_all()
        elif isinstance(event, IterationFinished):
            self.ready.set()

    def wait_for(self, identifier: str, timeout: float) -> tuple[float, ItemFinished] | None:
        with self._cond:
            self._cond.wait_for(lambda: identifier in self.finished, timeout)
            return self.finished.get(identifier)


def write_data(folder: Path, k: int) -> None:
    folder.mkdir(parents=True)
    (folder / "data.csv").write_text(f"t,v\n0,{k}\n1,{k + 1}\n")
    (folder / "notes.txt").write_text("latency bench\n")


def run_series(
    root: Path, home: Path, mode: str, count: int, info_delay: float, timeout: float
) -> dict[str, object]:
    """Start an engine on ``home``, create ``count`` datasets, stop it; the figures."""
    base = root / f"latency-{os.getpid()}-{mode}"
    base.mkdir()
    rt = open_runtime(home)
    stamps = Timestamps()
    engine = SyncEngine(rt, EngineSettings(), stamps)
    thread = threading.Thread(target=engine.run, name="engine", daemon=True)
    t_start = time.monotonic()
    thread.start()
    latencies, sync_s, missed = [], [], 0
    try:
        if not stamps.ready.wait(600):
            raise RuntimeError("the engine did not finish its first iteration in 10 min")
        startup = time.monotonic() - t_start
        watching = any(s.watcher is not None for s in engine._sources.values())
        polling = mode.startswith("poll")
        if polling == watching:
            raise RuntimeError(f"{mode}: expected watcher={not polling}, got {watching}")
        for k in range(count):
            if polling:  # a random moment within the poll period: no phase-lock with its timer
                time.sleep(random.uniform(0.0, EngineSettings().poll_interval_s))
            else:
                time.sleep(0.3)
            parent = base / f"p{k:03d}" if mode == "new-parent" else base
            folder = parent / f"new{k:03d}"
            write_data(folder, k)
            if mode == "info-later":
                time.sleep(info_delay)
            generate_dataset_info(folder, f"latency {k}")
            t0 = time.monotonic()
            ident = folder.relative_to(root).as_posix()
            got = stamps.wait_for(ident, timeout)
            if got is None:
                missed += 1
                continue
            t_done, ev = got
            if ev.status != "synchronized":
                raise RuntimeError(f"{ident}: {ev.status} ({ev.error})")
            latencies.append(t_done - t0)
            sync_s.append(ev.seconds)
    finally:
        engine.stop()
        thread.join(60)
        rt.close()
        shutil.rmtree(base, ignore_errors=True)
    return {
        "startup": startup,
        "lat": latencies,
        "sync": sync_s,
        "missed": missed,
    }


def row(n: int, mode: str, res: dict[str, object]) -> list[object]:
    lat: list[float] = res["lat"]  # type: ignore[assignment]
    sync: list[float] = res["sync"]  # type: ignore[assignment]
    med = statistics.median(lat) if lat else float("nan")
    worst = max(lat) if lat else float("nan")
    sync_med = statistics.median(sync) if sync else float("nan")
    ok = bool(lat) and not res["missed"] and worst <= TARGET_S
    verdict = "met" if ok else "NOT met"
    if mode.startswith("poll"):  # bounded by the poll interval by design
        verdict += f" (poll {EngineSettings().poll_interval_s:g} s)"
    return [
        n,
        mode,
        len(lat) + res["missed"],  # type: ignore[operator]
        res["missed"],
        med,
        percentile(lat, 0.9),
        worst,
        sync_med,
        med / sync_med,
        res["startup"],
        verdict,
    ]


def live_share(work: Path, factor: float, seconds: float, pass_s: float) -> float:
    """Share of the wall time the live passes of one slow live dataset take."""
    import json
    import sys
    from dataclasses import replace
    from importlib.metadata import EntryPoint

    from etiket_sync_agent.engine import source_runtime
    from etiket_sync_agent.home import Home
    from etiket_sync_agent.plugins.registry import BACKEND_GROUP, Registry
    from etiket_sync_agent.runtime import Runtime
    from etiket_sync_agent.services import sources

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.engine._live_backend
    live = EntryPoint("livetest", "tests.engine._live_backend:LiveBackend", BACKEND_GROUP)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rt = Runtime(Home.resolve(work / "home"), registry=Registry([live]))
    state = work / "state.json"
    state.write_text(json.dumps({"datasets": ["run1"], "live": "run1", "pass_seconds": pass_s}))
    passes = Path(f"{state}.passes")
    rt.store.create_scope("lab")
    sources.add_source(rt, "livetest", "fridge", scope="lab", settings={"index_file": str(state)})
    engine = SyncEngine(rt, replace(EngineSettings(), live_interval_s=0.02))
    saved, source_runtime.LIVE_BUSY_FACTOR = source_runtime.LIVE_BUSY_FACTOR, factor
    loop = threading.Thread(target=engine.run, daemon=True)
    loop.start()
    try:
        time.sleep(seconds)
    finally:
        engine.stop()
        loop.join(60)
        source_runtime.LIVE_BUSY_FACTOR = saved
        rt.close()
    times = [float(t) for t in passes.read_text().split()]
    if len(times) < 2:
        raise RuntimeError(f"only {len(times)} live pass(es) in {seconds} s")
    return (len(times) - 1) * pass_s / (times[-1] - times[0])


def live_pacing(work: Path, seconds: float, pass_s: float) -> int:
    from etiket_sync_agent.engine.source_runtime import LIVE_BUSY_FACTOR

    unpaced = live_share(work / "live-unpaced", 0.0, seconds, pass_s)
    paced = live_share(work / "live-paced", LIVE_BUSY_FACTOR, seconds, pass_s)
    target = 1 / (1 + LIVE_BUSY_FACTOR)
    print_table(
        ["pass s", "factor", "unpaced share (baseline)", "paced share", "target ~", "verdict"],
        [
            [
                pass_s,
                LIVE_BUSY_FACTOR,
                f"{unpaced:.0%}",
                f"{paced:.0%}",
                f"{target:.0%}",
                "met" if paced <= 1.5 * target else "NOT met",
            ]
        ],
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 10_000])
    parser.add_argument("--count", type=int, default=20, help="new datasets per watch series")
    parser.add_argument("--poll-count", type=int, default=6, help="per polling series")
    parser.add_argument("--info-delay", type=float, default=0.5)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=MODES, help="series to run")
    parser.add_argument("--dir", type=Path, default=WORK, help="work folder (default bench/_work)")
    parser.add_argument("--quick", action="store_true", help="smoke run: N=0 and 500, 3 each")
    parser.add_argument("--live-pacing", action="store_true", help="measure live pacing only")
    parser.add_argument("--seconds", type=float, default=10.0, help="live pacing: per run")
    parser.add_argument("--pass-seconds", type=float, default=0.3, help="live pacing: per pass")
    args = parser.parse_args()
    if args.live_pacing:
        print(machine_info())
        return live_pacing(args.dir, args.seconds, args.pass_seconds)
    if args.quick:
        args.sizes, args.count, args.poll_count = [0, 500], 3, 2
    poll_s = EngineSettings().poll_interval_s
    timeout = max(30.0, 3 * poll_s)
    print(machine_info())
    print(f"default EngineSettings (debounce {EngineSettings().debounce_s} s, poll {poll_s} s)")
    rows = []
    for n in args.sizes:
        if n == 0:
            work = args.dir / "latency-empty"
            shutil.rmtree(work, ignore_errors=True)
            root, home = work / "tree", work / "home"
            root.mkdir(parents=True)
            rt = open_runtime(home)
            add_source(rt, root)
            rt.close()
        else:
            t0 = time.perf_counter()
            root, home, prep = prepare_synced_home(args.dir, n)
            print(
                f"{n} synchronized datasets ready in {time.perf_counter() - t0:.0f} s "
                f"(first sync took {prep:.0f} s)"
            )
        series = [(m, args.poll_count if m.startswith("poll") else args.count) for m in args.modes]
        try:
            for mode, count in series:
                rt = open_runtime(home)
                set_network_folder(rt, "lab", mode.startswith("poll"))
                rt.close()
                res = run_series(root, home, mode, count, args.info_delay, timeout)
                rows.append(row(n, mode, res))
                print_table(HEADER, rows[-1:])
        finally:
            rt = open_runtime(home)
            set_network_folder(rt, "lab", False)
            rt.close()
            if n == 0:
                shutil.rmtree(args.dir / "latency-empty", ignore_errors=True)
    print()
    print_table(HEADER, rows)
    return 0


HEADER = [
    "existing",
    "mode",
    "new",
    "missed",
    "median s",
    "p90 s",
    "max s",
    "sync s (baseline)",
    "median/sync",
    "startup s",
    "<= 2 s",
]

if __name__ == "__main__":
    raise SystemExit(main())
