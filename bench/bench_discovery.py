"""Discovery of level -1 folderbase datasets against a raw ``os.scandir`` walk.

For each size (default 10k and 100k datasets as ``root/dayDDDD/runNNNNNNN/`` with
``_QH_dataset_info.yaml`` + 2 small files) it measures, warm cache (median of --repeat):

  a  walk         os.scandir recursive walk visiting every folder (the filesystem limit)
  a' walk+lstat   the same walk plus an lstat of every file (what any fingerprint needs)
  b  scan         engine.scanner.scan(root, -1): datasets + fingerprints
  c  first        SourceRuntime.discover on a fresh home: scan + recording every item in
                  the state DB + starting the file watcher when the tree fits the inotify
                  budget (time split into its parts)
  d  restart      a new Runtime + SourceRuntime on that home (loads the manifest) and a
                  full discovery with nothing changed
  e  one poll     one more full discovery on that runtime: what each poll of a polled
                  source (is_server_folder, or a tree over the inotify budget) costs

and a level-2 variant on the biggest tree: scan(root, 2) against a walk to depth 2 and the
full walk. Target: discovery (b) within 1.5x of the walk (a).

    .venv/bin/python bench/bench_discovery.py [--sizes 10000 100000] [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from _common import (
    WORK,
    add_source,
    build_tree,
    machine_info,
    median_of,
    open_runtime,
    print_table,
    timed,
)

from etiket_sync_agent.engine import file_discovery, scanner, source_runtime
from etiket_sync_agent.engine.settings import EngineSettings
from etiket_sync_agent.engine.watcher import FolderWatcher
from etiket_sync_agent.state import repository as repo

TARGET = 1.5
POLL_S = EngineSettings().poll_interval_s


# -- baselines --------------------------------------------------------------------------------


def walk(root: str, max_depth: int = 1 << 30) -> int:
    """Visit every folder down to ``max_depth`` with os.scandir; returns folders listed."""
    n = 0
    stack = [(root, 0)]
    while stack:
        d, depth = stack.pop()
        n += 1
        with os.scandir(d) as it:
            for e in it:
                if depth < max_depth - 1 and e.is_dir(follow_symlinks=False):
                    stack.append((e.path, depth + 1))
    return n


def walk_lstat(root: str) -> int:
    """The full walk plus one lstat per file (size + mtime of everything)."""
    n = 0
    stack = [root]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    e.stat(follow_symlinks=False)
                    n += 1
    return n


# -- the engine -------------------------------------------------------------------------------


class Split:
    """Time spent in engine functions during one call (wrappers installed by name)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: object, attr: str, label: str) -> None:
        orig = getattr(owner, attr)

        def timed_call(*a, **kw):  # noqa: ANN002, ANN003, ANN202
            t0 = time.perf_counter()
            try:
                return orig(*a, **kw)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - t0

        setattr(owner, attr, timed_call)
        self._undo.append(lambda: setattr(owner, attr, orig))

    def __enter__(self) -> Split:
        self.wrap(file_discovery, "scan", "scan")  # the name file_discovery calls
        self.wrap(repo, "record_discovery", "record")
        self.wrap(repo, "known_items", "manifest")
        self.wrap(FolderWatcher, "start", "watcher")
        return self

    def __exit__(self, *exc: object) -> None:
        for undo in reversed(self._undo):
            undo()


def discover_once(home: Path, root: Path, fresh: bool) -> tuple[float, dict[str, float], str]:
    """(seconds, split, note) of building a SourceRuntime and one full discovery. When not
    ``fresh``, the split also holds ``poll``: one more full discovery on the same runtime
    (what every poll of a polled source costs)."""
    if fresh:
        shutil.rmtree(home, ignore_errors=True)
        rt = open_runtime(home)
        add_source(rt, root)
        rt.close()
    rt = open_runtime(home)
    rt.state  # noqa: B018 - open (and migrate) the DB outside the timed part
    src = repo.get_source(rt.state, "lab")
    try:
        with Split() as split:
            t0 = time.perf_counter()
            srt = source_runtime.SourceRuntime(src, rt, EngineSettings(), lambda: None)
            new, changed = srt.discover(force_full=True)
            seconds = time.perf_counter() - t0
        note = "watcher" if srt.watcher is not None else f"polling ({srt.note})"
        if fresh and new == 0:
            raise RuntimeError("first discovery found nothing")
        if not fresh and (new or changed):
            raise RuntimeError(f"re-discovery found {new} new, {changed} changed")
        if not fresh:
            split.seconds["poll"] = timed(lambda: srt.discover(force_full=True))
        srt.close()
    finally:
        rt.close()
    return seconds, split.seconds, note


def engine_runs(home: Path, root: Path, repeat: int) -> dict[str, object]:
    firsts, restarts = [], []
    for _ in range(repeat):
        firsts.append(discover_once(home, root, fresh=True))
        restarts.append(discover_once(home, root, fresh=False))
    shutil.rmtree(home, ignore_errors=True)

    def med(runs: list[tuple[float, dict[str, float], str]]) -> tuple[float, dict[str, float]]:
        parts = {k: statistics.median(r[1].get(k, 0.0) for r in runs) for k in runs[0][1]}
        return statistics.median(r[0] for r in runs), parts

    return {"first": med(firsts), "restart": med(restarts), "note": firsts[0][2]}


def split_text(parts: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in parts.items() if v >= 0.005)


def bench_size(work: Path, n: int, repeat: int) -> list[list[object]]:
    t0 = time.perf_counter()
    root = build_tree(work / f"tree-{n}", n)
    print(f"\n== {n} level -1 datasets ({root}, built in {time.perf_counter() - t0:.1f} s)")
    root_s = str(root)
    folders = walk(root_s)  # warm the cache
    scan_result = scanner.scan(root, -1)
    assert len(scan_result.hits) == n, len(scan_result.hits)
    a, _ = median_of(lambda: walk(root_s), repeat)
    a2, _ = median_of(lambda: walk_lstat(root_s), repeat)
    b, _ = median_of(lambda: scanner.scan(root, -1), repeat)
    eng = engine_runs(work / f"home-{n}", root, repeat)
    c, c_parts = eng["first"]  # type: ignore[misc]
    d, d_parts = eng["restart"]  # type: ignore[misc]
    print(f"{folders} folders; engine mode: {eng['note']}")
    poll = d_parts.pop("poll")
    rows = [
        [n, "a  walk (baseline)", a, 1.0, 1 / (a2 / a), ""],
        [n, "a' walk + lstat files", a2, a2 / a, 1.0, ""],
        [n, "b  scan(root, -1)", b, b / a, b / a2, "met" if b / a <= TARGET else "NOT met"],
        [n, "c  first discovery", c, c / a, c / a2, split_text(c_parts)],
        [n, "d  restart re-discovery", d, d / a, d / a2, split_text(d_parts)],
        [
            n,
            "e  one poll (rediscover)",
            poll,
            poll / a,
            poll / a2,
            f"{poll / POLL_S:.1%} CPU at {POLL_S:g} s polls",
        ],
    ]
    header = ["datasets", "measure", "seconds", "x walk", "x walk+lstat", "target <=1.5x / split"]
    print_table(header, rows)
    return rows


def bench_level2(work: Path, n: int, repeat: int) -> list[list[object]]:
    root = build_tree(work / f"tree-{n}", n)
    root_s = str(root)
    walk(root_s)
    assert len(scanner.scan(root, 2).hits) == n
    full, _ = median_of(lambda: walk(root_s), repeat)
    d2, _ = median_of(lambda: walk(root_s, max_depth=2), repeat)
    s2, _ = median_of(lambda: scanner.scan(root, 2), repeat)
    print(f"\n== level 2: {n} datasets (the same tree, each run folder is a dataset)")
    rows = [
        [n, "walk to depth 2", d2, d2 / full, 1.0],
        [n, "full walk (baseline)", full, 1.0, full / d2],
        [n, "scan(root, 2)", s2, s2 / full, s2 / d2],
    ]
    print_table(["datasets", "measure", "seconds", "x full walk", "x depth-2 walk"], rows)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median kept)")
    parser.add_argument("--dir", type=Path, default=WORK, help="work folder (default bench/_work)")
    parser.add_argument("--keep", action="store_true", help="keep the trees for the next run")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2000 datasets, 1 run")
    args = parser.parse_args()
    sizes, repeat = ([2000], 1) if args.quick else (args.sizes, args.repeat)
    work = args.dir / "discovery"
    work.mkdir(parents=True, exist_ok=True)
    print(machine_info())
    worst = 0.0
    try:
        for n in sizes:
            rows = bench_size(work, n, repeat)
            worst = max(worst, rows[2][3])  # type: ignore[type-var]
        bench_level2(work, max(sizes), repeat)
        print(
            f"\n target scan <= {TARGET}x walk: {'met' if worst <= TARGET else 'NOT met'}"
            f" (worst {worst:.2f}x)"
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
