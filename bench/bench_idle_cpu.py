"""Idle CPU of the agent (``etiket-sync run`` as a real process) with N synced datasets.

A home with a folderbase source of N datasets (default 10k), all synchronized first with
``etiket-sync run --once``. Then ``etiket-sync run`` starts as a subprocess; once its first
iteration is recorded in the state DB (plus --settle seconds), its CPU time (user + sys of
all threads, /proc/<pid>/stat) is measured over --seconds. Baseline, measured over the
same window: an idle ``python -c "import time; time.sleep(...)"``.

Two variants: watch mode (inotify via watchdog; the default) and the same source marked
``is_server_folder`` (a full scan every ETIKET_SYNC_POLL_S, default 10 s).
Target: below 1 % of one core in watch mode.

    .venv/bin/python bench/bench_idle_cpu.py [--datasets 10000] [--seconds 60] [--quick]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    ETIKET_SYNC,
    WORK,
    cpu_seconds,
    machine_info,
    open_runtime,
    prepare_synced_home,
    print_table,
    set_network_folder,
)

from etiket_sync_agent.state import repository as repo

TARGET = 0.01


def wait_first_iteration(home: Path, proc: subprocess.Popen[bytes], timeout: float) -> float:
    """Seconds until the agent has recorded iteration >= 1 (it is then done starting)."""
    t0 = time.monotonic()
    rt = open_runtime(home)
    try:
        while time.monotonic() - t0 < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"the agent exited with {proc.returncode}")
            st = repo.loop_status(rt.state)
            if st is not None and st.state == "running" and st.pid == proc.pid and st.iteration:
                return time.monotonic() - t0
            time.sleep(0.2)
    finally:
        rt.close()
    raise RuntimeError("the agent did not finish its first iteration in time")


def measure(home: Path, network: bool, seconds: float, settle: float) -> dict[str, float]:
    rt = open_runtime(home)
    set_network_folder(rt, "lab", network)
    rt.close()
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home)}
    agent = subprocess.Popen(
        [ETIKET_SYNC, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    sleeper = None
    try:
        startup = wait_first_iteration(home, agent, timeout=600)
        startup_cpu = cpu_seconds(agent.pid)
        time.sleep(settle)
        sleeper = subprocess.Popen(
            [sys.executable, "-c", f"import time; time.sleep({seconds + 30})"]
        )
        time.sleep(1.0)  # let the sleeper finish starting up
        a0, s0, t0 = cpu_seconds(agent.pid), cpu_seconds(sleeper.pid), time.monotonic()
        time.sleep(seconds)
        a1, s1, t1 = cpu_seconds(agent.pid), cpu_seconds(sleeper.pid), time.monotonic()
        if agent.poll() is not None:
            raise RuntimeError(f"the agent exited with {agent.returncode} while measured")
    finally:
        if sleeper is not None:
            sleeper.kill()
            sleeper.wait()
        agent.send_signal(signal.SIGINT)  # a graceful stop, as Ctrl-C
        try:
            agent.wait(60)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
    return {
        "startup": startup,
        "startup_cpu": startup_cpu,
        "agent": (a1 - a0) / (t1 - t0),
        "baseline": (s1 - s0) / (t1 - t0),
        "window": t1 - t0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window")
    parser.add_argument("--settle", type=float, default=10.0, help="wait after startup")
    parser.add_argument("--repeat", type=int, default=1, help="windows per variant (median)")
    parser.add_argument("--no-poll", action="store_true", help="skip the is_server_folder run")
    parser.add_argument("--dir", type=Path, default=WORK, help="work folder (default bench/_work)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 500 datasets, 10 s")
    args = parser.parse_args()
    if args.quick:
        args.datasets, args.seconds, args.settle = 500, 10.0, 2.0
    print(machine_info())
    t0 = time.perf_counter()
    _root, home, prep = prepare_synced_home(args.dir, args.datasets)
    print(
        f"{args.datasets} synchronized datasets ready in {time.perf_counter() - t0:.0f} s "
        f"(`etiket-sync run --once` took {prep:.0f} s)"
    )
    variants = [("watch", False)] + ([] if args.no_poll else [("is_server_folder", True)])
    rows = []
    try:
        for label, network in variants:
            runs = [measure(home, network, args.seconds, args.settle) for _ in range(args.repeat)]
            runs.sort(key=lambda r: r["agent"])
            r = runs[len(runs) // 2]
            verdict = ("met" if r["agent"] < TARGET else "NOT met") if not network else "-"
            rows.append(
                [
                    args.datasets,
                    label,
                    r["window"],
                    f"{r['agent']:.2%}",
                    " ".join(f"{x['agent']:.2%}" for x in runs),
                    f"{r['baseline']:.2%}",
                    f"{r['agent'] - r['baseline']:+.2%}",
                    r["startup"],
                    r["startup_cpu"],
                    verdict,
                ]
            )
            print_table(HEADER, rows[-1:])
    finally:
        rt = open_runtime(home)
        set_network_folder(rt, "lab", False)
        rt.close()
    print()
    print_table(HEADER, rows)
    return 0


HEADER = [
    "datasets",
    "mode",
    "window s",
    "agent CPU (median)",
    "runs",
    "sleep baseline",
    "agent - baseline",
    "startup s",
    "startup CPU s",
    "< 1 %",
]

if __name__ == "__main__":
    raise SystemExit(main())
