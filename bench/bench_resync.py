"""Resync of a big folder dataset after one small file changed, vs its first sync.

A dataset of N big files plus one small one is synchronized (the baseline, measured in
the same run); then the small file changes and the dataset is synchronized again. Before
the per-file manifest (``SyncContext.save_state``) the resync read and hashed every file
again; now it reads only the changed one.

    python bench/bench_resync.py --files 8 --mib 128
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from _common import REPO  # noqa: F401 - puts src/ on sys.path

from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.engine.settings import EngineSettings
from etiket_sync_agent.home import Home
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--mib", type=int, default=128, help="size of each big file")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-resync-"))
    try:
        folder = work / "data" / "run1"
        folder.mkdir(parents=True)
        (folder / "_QH_dataset_info.yaml").write_text("dataset_name: big\n")
        for i in range(args.files):
            with open(folder / f"part{i}.bin", "wb") as fh:
                fh.write(os.urandom(args.mib << 20))
        note = folder / "notes.txt"
        note.write_text("v0\n")
        rt = Runtime(Home.resolve(work / "home"))
        rt.store.create_scope("bench")
        root = {"root_directory": str(work / "data")}
        sources.add_source(rt, "folderbase", "lab", scope="bench", settings=root)
        t0 = time.perf_counter()
        SyncEngine(rt, EngineSettings()).run(once=True)
        first = time.perf_counter() - t0
        resyncs = []
        for k in range(args.repeat):
            note.write_text(f"v{k + 1}\n")
            t0 = time.perf_counter()
            summary = SyncEngine(rt, EngineSettings()).run(once=True)
            resyncs.append(time.perf_counter() - t0)
            assert summary.attempted == 1, summary
        rt.close()
        best = min(resyncs)
        size = args.files * args.mib
        print(f"dataset: {args.files} x {args.mib} MiB + 1 small file ({size} MiB)")
        print(f"first sync      {first:8.3f} s")
        print(f"resync (1 small file changed), best of {args.repeat}: {best:8.3f} s")
        print(f"resync / first sync: {best / first:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
