"""Shared helpers of the engine benchmarks (discovery, latency, idle CPU).

Trees are written directly (no agent involved) so that building 100k datasets takes
seconds, not minutes. Timings are reported as medians of a few runs and as ratios against
a baseline measured in the same run: the machine is shared and noisy.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from etiket_sync_agent.plugins.base import DATASET_INFO_FILE  # noqa: E402

#: default work folder (gitignored)
WORK = REPO / "bench" / "_work"
ETIKET_SYNC = str(Path(sys.executable).with_name("etiket-sync"))
PER_DAY = 1000  # datasets per day folder: root/<day>/<run>/
INFO = "dataset_name: {name}\ncollected: '2026-01-01T12:00:00+00:00'\n"


# -- trees ------------------------------------------------------------------------------


def dataset_path(root: Path, i: int, per_day: int = PER_DAY) -> Path:
    return root / f"day{i // per_day:04d}" / f"run{i:07d}"


def write_dataset(folder: Path, name: str, marker: bool = True) -> None:
    """One small dataset: two data files, then (last) the info file."""
    os.mkdir(folder)
    with open(folder / "data.csv", "w") as fh:
        fh.write(f"t,v\n0,{name}\n")
    with open(folder / "notes.txt", "w") as fh:
        fh.write("bench\n")
    if marker:
        with open(folder / DATASET_INFO_FILE, "w") as fh:
            fh.write(INFO.format(name=name))


def build_tree(root: Path, n: int, per_day: int = PER_DAY, marker: bool = True) -> Path:
    """``n`` datasets as ``root/dayDDDD/runNNNNNNN/`` (3 files each); reused when complete."""
    done = root / ".complete"
    if done.exists() and done.read_text() == f"{n} {per_day} {marker}":
        return root
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for i in range(n):
        if i % per_day == 0:
            os.mkdir(root / f"day{i // per_day:04d}")
        write_dataset(dataset_path(root, i, per_day), f"run{i:07d}", marker)
    done.write_text(f"{n} {per_day} {marker}")  # hidden: the agent skips it
    return root


# -- the agent in-process -------------------------------------------------------------------


def open_runtime(home: Path):  # noqa: ANN201 - etiket_sync_agent.runtime.Runtime
    from etiket_sync_agent.home import Home
    from etiket_sync_agent.runtime import Runtime

    return Runtime(Home.resolve(home))


def add_source(rt, root: Path, name: str = "lab", network: bool = False) -> None:  # noqa: ANN001
    """A folderbase source on ``root`` (scope ``bench``), through the real service."""
    from etiket_sync_agent.services import sources

    if rt.store.get_scope("bench") is None:
        rt.store.create_scope("bench")
    sources.add_source(
        rt,
        "folderbase",
        name,
        scope="bench",
        settings={"root_directory": str(root), "is_server_folder": str(network)},
    )


def set_network_folder(rt, name: str, network: bool) -> None:  # noqa: ANN001
    """Flip ``is_server_folder`` of a source in place (its items stay as they are)."""
    from etiket_sync_agent.state import repository as repo

    src = repo.get_source(rt.state, name)
    config = dict(src.config or {})
    config["is_server_folder"] = network
    repo.set_source_fields(rt.state, src.id, config=config)


def cli(home: Path, *args: str, **kw) -> subprocess.CompletedProcess[str]:  # noqa: ANN003
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [ETIKET_SYNC, *args], env=env, capture_output=True, text=True, check=True, **kw
    )


def prepare_synced_home(work: Path, n: int) -> tuple[Path, Path, float]:
    """A tree of ``n`` datasets and a home where all of them are synchronized (through
    ``etiket-sync run --once``). Cached under ``work``; returns (root, home, seconds)."""
    root, home = work / f"tree-{n}", work / f"home-{n}"
    done = home / ".bench-synced"
    if done.exists() and (root / ".complete").exists():
        return root, home, float(done.read_text())
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    build_tree(root, n)
    rt = open_runtime(home)
    try:
        add_source(rt, root)
    finally:
        rt.close()
    t0 = time.perf_counter()
    cli(home, "run", "--once")
    seconds = time.perf_counter() - t0
    rt = open_runtime(home)
    try:
        from etiket_sync_agent.services import sources

        counts = sources.show_source(rt, "lab")["items"]
    finally:
        rt.close()
    if counts["synchronized"] != n:
        raise RuntimeError(f"preparing {home}: expected {n} synchronized items, got {counts}")
    done.write_text(f"{seconds:.1f}")
    return root, home, seconds


# -- processes ------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process (all its threads) from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    # after "pid (comm)": state is field 3, utime 14, stime 15 (1-based in proc(5))
    return (int(fields[11]) + int(fields[12])) / _TICK


def cpu_share(pid: int, seconds: float) -> float:
    """Share of one core the process used over the next ``seconds``."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


# -- figures --------------------------------------------------------------------------------


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_of(fn: Callable[[], object], repeat: int) -> tuple[float, list[float]]:
    runs = [timed(fn) for _ in range(repeat)]
    return statistics.median(runs), runs


def percentile(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, round(q * (len(s) - 1))))
    return s[k]


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain aligned table (also valid as a Markdown table)."""
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells[1:]:
        print(line(r))


def _fmt(c: object) -> str:
    if isinstance(c, float):
        return f"{c:.3f}" if abs(c) < 100 else f"{c:.0f}"
    return str(c)


def machine_info() -> str:
    import watchdog.version

    df = (
        subprocess.run(
            ["df", "-T", str(WORK if WORK.exists() else REPO)], capture_output=True, text=True
        )
        .stdout.splitlines()[-1]
        .split()
    )
    try:
        watches = Path("/proc/sys/fs/inotify/max_user_watches").read_text().strip()
    except OSError:
        watches = "n/a"
    return (
        f"nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"watchdog {watchdog.version.VERSION_STRING}, filesystem {df[1]} ({df[0]}), "
        f"inotify max_user_watches {watches}"
    )


@contextmanager
def workdir(base: Path | None, name: str, keep: bool) -> Iterator[Path]:
    """``base/name`` (created); removed afterwards unless ``keep``."""
    path = (base or WORK) / name
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)
