"""End to end on real folders, a real SQLite state DB and the real local store."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.errors import AlreadyRunningError
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import datasets, sources
from tests.conftest import FAST
from tests.helpers import (
    add_folder_source,
    item_status,
    items_by_id,
    make_dataset,
    run_once,
    running_engine,
    wait_for,
)


def test_every_dataset_lands_in_the_store_with_metadata_and_files(
    runtime: Runtime, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    make_dataset(
        root,
        "2026/a",
        {"x.csv": "t,v\n0,1\n1,2\n", "sub/deep.bin": b"\x00\x01", "arr.zarr/0.0": b"zz"},
        name="Sweep A",
        description="first",
        tags=["t1", "t2"],
        attributes={"sample": "S1", "n": 3, "power": -30.5},
        converters=["csv_to_netcdf"],
        thumbnails=["sub/*.bin"],
    )
    make_dataset(root, "2026/b")
    add_folder_source(runtime, root)
    summary = run_once(runtime, FAST)
    assert summary.attempted == 2 and summary.failed == 0
    rows = datasets.list_datasets(runtime, scope="proj")
    assert {r["name"] for r in rows} == {"Sweep A", "b"}
    a = next(r for r in rows if r["name"] == "Sweep A")
    d = datasets.show_dataset(runtime, a["uuid"])
    assert d["description"] == "first" and d["tags"] == ["t1", "t2"]
    assert d["attributes"] == {"sample": "S1", "n": 3, "power": -30.5}
    assert d["source"] == "lab"
    files = {f["name"]: f for f in d["files"]}
    assert set(files) == {"x.csv", "x.nc", "sub/deep.bin", "arr.zarr.zip"}
    assert files["sub/deep.bin"]["type"] == "THUMBNAIL"
    assert files["x.nc"]["generator"] == "csv_to_netcdf"
    out = tmp_path / "export"
    datasets.export_dataset(runtime, a["uuid"], out)
    assert (out / "sub" / "deep.bin").read_bytes() == b"\x00\x01"
    import xarray as xr

    with xr.open_dataset(out / "x.nc", engine="h5netcdf") as ds:
        assert list(ds["v"].values) == [1.0, 2.0]


def test_restart_does_not_resync_unchanged_but_resyncs_changed(
    runtime: Runtime, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    a = make_dataset(root, "a", {"f.txt": "one"})
    make_dataset(root, "b")
    add_folder_source(runtime, root)
    run_once(runtime, FAST)
    before = items_by_id(runtime)
    # a new engine (a restart) with nothing changed: nothing is attempted
    assert run_once(runtime, FAST).attempted == 0
    (a / "f.txt").write_text("two, longer")
    summary = run_once(runtime, FAST)
    assert summary.attempted == 1
    after = items_by_id(runtime)
    assert after["a"]["sync_count"] == 2 and after["b"]["sync_count"] == 1
    assert after["a"]["dataset_uuid"] == before["a"]["dataset_uuid"]
    d = datasets.show_dataset(runtime, after["a"]["dataset_uuid"])
    f = next(f for f in d["files"] if f["name"] == "f.txt")
    assert f["version"] == 2 and f["versions"] == 2
    assert len(datasets.list_datasets(runtime)) == 2


def test_readding_a_source_does_not_duplicate_datasets(runtime: Runtime, tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_dataset(root, "a")
    add_folder_source(runtime, root)
    run_once(runtime, FAST)
    uuid = datasets.list_datasets(runtime)[0]["uuid"]
    sources.remove_source(runtime, "lab")
    sources.add_source(
        runtime, "folderbase", "lab2", scope="proj", settings={"root_directory": str(root)}
    )
    run_once(runtime, FAST)
    rows = datasets.list_datasets(runtime)
    assert [r["uuid"] for r in rows] == [uuid]
    assert items_by_id(runtime, "lab2")["a"]["dataset_uuid"] == uuid


def test_second_engine_on_the_same_home_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_dataset(root, "a")
    add_folder_source(runtime, root)
    first = SyncEngine(runtime, FAST)
    t = threading.Thread(target=first.run, kwargs={"iterations": 0})
    t.start()
    try:
        assert wait_for(runtime.home.lock_file.exists)
        time.sleep(0.3)
        with pytest.raises(AlreadyRunningError, match="already running"):
            SyncEngine(Runtime(runtime.home), FAST).run(once=True)
    finally:
        first.stop()
        t.join(30)
    assert not t.is_alive()


@pytest.mark.parametrize("network_folder", [False, True], ids=["watchdog", "polling"])
def test_watch_mode_picks_up_new_and_changed_datasets(
    runtime: Runtime, tmp_path: Path, network_folder: bool
) -> None:
    root = tmp_path / "data"
    make_dataset(root, "first")
    runtime.store.create_scope("proj")
    sources.add_source(
        runtime,
        "folderbase",
        "lab",
        scope="proj",
        settings={"root_directory": str(root), "is_server_folder": str(network_folder)},
    )
    # polls find new datasets by folder mtimes; a file rewritten in place (below) is
    # found by the full rescan, made frequent here
    with running_engine(runtime, replace(FAST, rescan_interval_s=1.0)) as engine:
        assert wait_for(lambda: item_status(runtime, "first") == "synchronized")
        (source_runtime,) = engine._sources.values()
        assert (source_runtime.watcher is None) == network_folder
        make_dataset(root, "later/second", {"v.txt": "1"})
        assert wait_for(lambda: item_status(runtime, "later/second") == "synchronized")
        (root / "later" / "second" / "v.txt").write_text("22")
        assert wait_for(lambda: items_by_id(runtime)["later/second"]["sync_count"] == 2)
    from etiket_sync_agent.services.status import loop_state

    assert loop_state(runtime)["state"] == "stopped"


def test_source_runtime_survives_discoveries(runtime: Runtime, tmp_path: Path) -> None:
    """Bookkeeping writes on the source must not restart its watcher every iteration."""
    root = tmp_path / "data"
    make_dataset(root, "a")
    add_folder_source(runtime, root)
    with running_engine(runtime, FAST) as engine:
        assert wait_for(lambda: item_status(runtime, "a") == "synchronized")
        (first,) = engine._sources.values()
        make_dataset(root, "b")
        assert wait_for(lambda: item_status(runtime, "b") == "synchronized")
        (second,) = engine._sources.values()
        assert second is first and first.watcher is not None and first.watcher.alive


def test_cheap_polls_find_new_datasets_between_full_scans(runtime: Runtime, tmp_path: Path) -> None:
    """A polled source (network folder) with full scans an hour apart: the folder-mtime
    poll alone must find new datasets, in new and in existing parent folders."""
    root = tmp_path / "data"
    make_dataset(root, "2026/first")
    gone = make_dataset(root, "2026/gone")
    runtime.store.create_scope("proj")
    sources.add_source(
        runtime,
        "folderbase",
        "lab",
        scope="proj",
        settings={"root_directory": str(root), "is_server_folder": "true"},
    )
    with running_engine(runtime, replace(FAST, rescan_interval_s=3600.0)) as engine:
        assert wait_for(lambda: item_status(runtime, "2026/first") == "synchronized")
        shutil.rmtree(gone)  # a vanished folder must not disturb the polls
        make_dataset(root, "2026/second")
        make_dataset(root, "2027/01/third")
        assert wait_for(lambda: item_status(runtime, "2026/second") == "synchronized")
        assert wait_for(lambda: item_status(runtime, "2027/01/third") == "synchronized")
        (source_runtime,) = engine._sources.values()
        assert source_runtime.watcher is None


def test_a_resync_reads_only_the_files_that_changed(runtime: Runtime, tmp_path: Path) -> None:
    root = tmp_path / "data"
    a = make_dataset(
        root,
        "a",
        {"big.bin": b"\x01" * 200_000, "x.csv": "t,v\n0,1\n", "arr.zarr/0.0": b"zz", "f.txt": "1"},
        converters=["csv_to_netcdf"],
    )
    add_folder_source(runtime, root)
    run_once(runtime, FAST)
    (a / "f.txt").write_text("two")  # one file of four changes
    run_once(runtime, FAST)
    detail = sources.show_item(runtime, "lab", "a")
    logs = [line for t in detail["records"][-1]["tasks"] for line in t["logs"]]
    assert any(line.startswith("stored f.txt v2") for line in logs), logs
    assert "3 file(s) unchanged since the last sync: not read again" in logs
    tasks = [t["name"] for r in detail["records"] for t in r["tasks"]]
    # the first sync stored 5 files (4 + the conversion), the resync 1
    assert "upload 5 file(s)" in tasks and tasks[-1] == "upload 1 file(s)", tasks
    assert not any("big.bin" in line or "x.nc" in line for line in logs)  # not read, not converted
    files = {f["name"]: f for f in datasets.show_dataset(runtime, detail["dataset_uuid"])["files"]}
    assert {n: f["versions"] for n, f in files.items()} == {
        "big.bin": 1,
        "x.csv": 1,
        "x.nc": 1,
        "arr.zarr.zip": 1,
        "f.txt": 2,
    }
    # a changed csv is converted again; a changed folder is archived again
    (a / "x.csv").write_text("t,v\n0,1\n1,5\n")
    (a / "arr.zarr" / "1.0").write_bytes(b"yy")
    run_once(runtime, FAST)
    files = {f["name"]: f for f in datasets.show_dataset(runtime, detail["dataset_uuid"])["files"]}
    assert files["x.csv"]["versions"] == 2 and files["x.nc"]["versions"] == 2
    assert files["arr.zarr.zip"]["versions"] == 2 and files["big.bin"]["versions"] == 1
