"""SyncContext helpers that do not need a backend: the scratch folders."""

from __future__ import annotations

import threading
from pathlib import Path

from etiket_sync_agent.plugins.context import SyncContext
from etiket_sync_agent.plugins.items import SyncItem
from etiket_sync_agent.plugins.record import SyncRecord
from etiket_sync_agent.runtime import Runtime


def _context(runtime: Runtime) -> SyncContext:
    item = SyncItem(id=1, source_name="src", identifier="x", dataset_uuid="u", scope="s")
    return SyncContext(item, runtime.store, SyncRecord(mode="normal"))


def test_a_scratch_folder_is_empty_private_and_emptied_afterwards(runtime: Runtime) -> None:
    ctx = _context(runtime)
    with ctx.scratch_dir() as first:
        assert first.is_dir() and not any(first.iterdir())
        (first / "file.nc").write_bytes(b"x")
        (first / "sub" / "deeper").mkdir(parents=True)
        (first / "sub" / "deeper" / "f").write_text("y")
        (first / "link").symlink_to(first / "sub")
    assert not first.exists() or not any(first.iterdir())
    # reused folders come back empty; nested uses get different folders
    with ctx.scratch_dir() as outer, ctx.scratch_dir() as inner:
        assert outer != inner
        assert not any(outer.iterdir()) and not any(inner.iterdir())


def test_scratch_folders_are_not_shared_between_threads(runtime: Runtime) -> None:
    ctx = _context(runtime)
    seen: list[Path] = []
    barrier = threading.Barrier(3)

    def use() -> None:
        with ctx.scratch_dir() as tmp:
            seen.append(tmp)
            barrier.wait(10)  # all three hold a folder at the same time

    threads = [threading.Thread(target=use) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(set(seen)) == 3
