"""The quantify backend end to end: test-written datadirs and the corpus, the real agent."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.errors import ConfigError
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources
from tests.backends.quantify.conftest import (
    Datadir,
    add_quantify,
    load_stored,
    stored,
    stored_files,
    tree_digest,
)
from tests.backends.quantify.mc_files import reference_grid
from tests.conftest import FAST, require_corpus

CORPUS_DATADIR = "quantify/quantify-os__quantify-core@344c8bc/tests/test_data"


def _assert_values_equal(got: xr.Dataset, source: xr.Dataset) -> None:
    want = reference_grid(source)
    assert set(got.dims) == set(want.dims), (dict(got.sizes), dict(want.sizes))
    for name, var in want.variables.items():
        g = got[name]
        assert g.dims == var.dims, name
        if var.dtype.kind in "fc":
            np.testing.assert_array_equal(g.values, var.values)
        else:
            assert (g.values == var.values).all(), name
        for key in ("units", "long_name"):
            if key in var.attrs:
                assert g.attrs[key] == var.attrs[key], (name, key)


def _items(rt: Runtime, source: str = "qd") -> dict[str, dict]:
    return {i["identifier"]: i for i in sources.list_items(rt, source)}


def test_a_written_datadir_syncs_completely(runtime: Runtime, datadir: Datadir) -> None:
    before = tree_digest(datadir.root)
    add_quantify(runtime, datadir.root, set_up="XLD fridge")
    summary = SyncEngine(runtime, FAST).run(once=True)
    assert summary.failed == 0
    items = _items(runtime)
    # every measurement folder is an item; "notes" (no TUID) is not
    assert len(items) == len(datadir.measurements)
    assert all(i["status"] == "synchronized" for i in items.values())
    assert not any("notes" in ident for ident in items)
    for tuid, (folder, source) in datadir.measurements.items():
        info = runtime.store.get_dataset(stored(runtime, tuid).uuid)
        assert info.alt_uid == tuid and info.attributes["set-up"] == "XLD fridge"
        assert info.collected is not None and info.collected.utcoffset() is not None
        assert info.collected.replace(tzinfo=None).strftime("%Y%m%d-%H%M%S") == tuid[:15]
        names = {f.name for f in info.files}
        on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        assert names == on_disk
        if source is None:
            continue
        assert info.name == source.attrs["name"]
        assert {"Setpoint 0", "Signal 0"} <= set(info.tags)
        _assert_values_equal(load_stored(runtime, tuid), xr.load_dataset(folder / "dataset.hdf5"))
    by_name = {
        runtime.store.get_dataset(stored(runtime, t).uuid).name: t for t in datadir.measurements
    }
    # the folder was renamed after writing: the dataset keeps the name it was written with
    assert "calibration" in by_name
    # the sample name from the (bz2-compressed) snapshot
    flux = runtime.store.get_dataset(stored(runtime, by_name["Resonator flux"]).uuid)
    assert flux.attributes["sample"] == "chip-7"
    assert "lockin" in flux.attributes["instruments"]
    processed = load_stored(
        runtime, by_name["Resonator flux"], "analysis_ResonatorFluxAnalysis/dataset_processed.hdf5"
    )
    assert processed["Magnitude"].dims == ("x0",) and processed["x0"].attrs["units"] == "Hz"
    # a folder with only a snapshot: a dataset of files, with a warning
    snap_only = _items(runtime)[
        datadir.measurements[by_name["settings only"]][0].relative_to(datadir.root).as_posix()
    ]
    assert any("holds no data" in w for w in snap_only["warnings"])
    # the source is untouched and nothing was added beside it
    assert tree_digest(datadir.root) == before


def test_resync_is_idempotent_and_a_renamed_folder_keeps_its_dataset(
    runtime: Runtime, datadir: Datadir
) -> None:
    add_quantify(runtime, datadir.root)
    SyncEngine(runtime, FAST).run(once=True)
    n_datasets = len(runtime.store.list_datasets(scope="qubits"))
    versions = {
        t: {n: len(f.versions) for n, f in stored_files(runtime, t).items()}
        for t in datadir.measurements
    }
    SyncEngine(runtime, FAST).run(once=True)
    tuid, (folder, _) = next(iter(datadir.measurements.items()))
    renamed = folder.with_name(tuid + "-renamed by hand")
    folder.rename(renamed)
    SyncEngine(runtime, FAST).run(once=True)
    assert len(runtime.store.list_datasets(scope="qubits")) == n_datasets  # no duplicates
    after = {
        t: {n: len(f.versions) for n, f in stored_files(runtime, t).items()}
        for t in datadir.measurements
    }
    # unchanged content is not stored again (the renamed folder is a new item: its
    # dataset is the same, found by TUID, and may get its data file once more)
    assert after.pop(tuid)["dataset.hdf5"] <= 2
    versions.pop(tuid)
    assert after == versions
    assert _items(runtime)[renamed.relative_to(datadir.root).as_posix()]["status"] == (
        "synchronized"
    )


def test_the_same_datadir_or_one_inside_or_around_it_cannot_be_added_twice(
    runtime: Runtime, datadir: Datadir
) -> None:
    add_quantify(runtime, datadir.root, name="first")
    before = sources.list_sources(runtime)
    inner = datadir.root / "20240305"
    for i, folder in enumerate([datadir.root, inner, datadir.root.parent]):
        with pytest.raises(ConfigError, match="first"):
            add_quantify(runtime, folder, name=f"again{i}")
    assert sources.list_sources(runtime) == before  # nothing written
    # another backend may read the same folder
    sources.add_source(
        runtime, "folderbase", "plain", scope="qubits", settings={"root_directory": str(inner)}
    )


def test_config_is_validated(runtime: Runtime, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        add_quantify(runtime, tmp_path / "missing")
    with pytest.raises(ConfigError, match="live_timeout_s"):
        add_quantify(runtime, tmp_path, live_timeout_s="-1")
    assert sources.list_sources(runtime) == []


def test_bad_inputs_fail_alone_with_clear_errors(runtime: Runtime, datadir: Datadir) -> None:
    import os

    import h5py

    tuids = list(datadir.measurements)
    folder_plain = datadir.measurements[tuids[0]][0]
    folder_trunc = datadir.measurements[tuids[3]][0]
    folder_badsnap = datadir.measurements[tuids[2]][0]
    (folder_plain / "dataset.hdf5").unlink()
    with h5py.File(folder_plain / "dataset.hdf5", "w") as f:
        f["data"] = np.arange(3)  # no dimension scales
    data = (folder_trunc / "dataset.hdf5").read_bytes()
    (folder_trunc / "dataset.hdf5").write_bytes(data[: len(data) // 2])
    (folder_badsnap / "snapshot.json").write_text('{"instruments": {')
    old = 1_600_000_000
    for p in (folder_plain / "dataset.hdf5", folder_trunc / "dataset.hdf5"):
        os.utime(p, (old, old))  # at rest: damaged, not being written
    before = tree_digest(datadir.root)
    add_quantify(runtime, datadir.root)
    SyncEngine(runtime, FAST).run(once=True)
    items = _items(runtime)
    by_folder = {Path(k).name: v for k, v in items.items()}
    plain = by_folder[folder_plain.name]
    trunc = by_folder[folder_trunc.name]
    assert plain["status"] == "failed" and "not a NetCDF dataset" in plain["last_error"]
    assert trunc["status"] == "failed" and "dataset.hdf5 cannot be read" in trunc["last_error"]
    assert plain["next_retry"] is None and trunc["next_retry"] is None  # not retryable
    badsnap = by_folder[folder_badsnap.name]
    assert badsnap["status"] == "synchronized"  # the file is stored; its metadata unused
    assert any("snapshot.json cannot be read" in w for w in badsnap["warnings"])
    others = [v for k, v in by_folder.items() if k not in (folder_plain.name, folder_trunc.name)]
    assert others and all(v["status"] == "synchronized" for v in others)
    # the failed datasets still hold their other files
    assert "snapshot.json" in stored_files(runtime, tuids[0])
    assert tree_digest(datadir.root) == before


def test_the_corpus_datadir_syncs_completely(runtime: Runtime) -> None:
    root = require_corpus(CORPUS_DATADIR)
    before = tree_digest(root)
    # the corpus is an archive, but a fresh checkout gives its files fresh times: a
    # measurement left unfinished is finalized at once instead of being taken for live
    add_quantify(runtime, root, live_timeout_s="0")
    summary = SyncEngine(runtime, FAST).run(once=True)
    assert summary.failed == 0
    items = _items(runtime)
    folders = [p for p in root.glob("*/*") if p.is_dir()]
    assert len(items) == len(folders) > 50
    assert all(i["status"] == "synchronized" for i in items.values())
    for folder in folders:
        tuid = folder.name[:26]
        files = stored_files(runtime, tuid)
        on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        assert set(files) == on_disk
        for name in on_disk:
            if not name.endswith("dataset.hdf5") and not name.endswith("dataset_processed.hdf5"):
                continue
            source_path = folder / name
            engine = "scipy" if source_path.read_bytes()[:3] == b"CDF" else "h5netcdf"
            source = xr.load_dataset(source_path, engine=engine)
            got = load_stored(runtime, tuid, name)
            _assert_values_equal(got, source)
            # never a mostly-NaN grid bigger than the data
            assert max(v.size for v in got.data_vars.values()) <= 2 * max(
                v.size for v in source.data_vars.values()
            )
    renamed = stored(runtime, "20230927-143514-589-e1a20e")
    assert renamed.name == "time_of_light_calibration"
    assert tree_digest(root) == before


def test_a_file_vanishing_mid_sync_fails_that_attempt_clearly(
    runtime: Runtime, datadir: Datadir
) -> None:
    import subprocess
    import sys

    tuid, (folder, _) = next(iter(datadir.measurements.items()))
    helper = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_delete_on_open.py")), str(folder)]
        + ["snapshot.json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert helper.stdout.readline().strip() == "watching"
        add_quantify(runtime, datadir.root)
        SyncEngine(runtime, FAST).run(once=True)
        assert helper.stdout.readline().strip() == "deleted"
    finally:
        helper.kill()
        helper.wait()
    rel = folder.relative_to(datadir.root).as_posix()
    item = _items(runtime)[rel]
    assert item["status"] == "failed" and "snapshot.json" in item["last_error"]
    assert "vanished" in item["last_error"] or "disappear" in item["last_error"]
    assert item["next_retry"] is not None  # retryable: it may come back
    others = [v for k, v in _items(runtime).items() if k != rel]
    assert all(v["status"] == "synchronized" for v in others)
    # the next attempt synchronizes what is there now
    SyncEngine(runtime, FAST).run(once=True)
    assert _items(runtime)[rel]["status"] == "synchronized"
    assert "dataset.hdf5" in stored_files(runtime, tuid)


def test_compressed_snapshots_and_symlinks_leaving_the_measurement(
    runtime: Runtime, tmp_path: Path
) -> None:
    from datetime import datetime

    from tests.backends.quantify.mc_files import (
        fill,
        flat_dataset,
        measurement_folder,
        tuid_at,
        write_mc,
        write_snapshot,
    )

    datadir = tmp_path / "quantify-data"
    secret = tmp_path / "outside.txt"
    secret.write_text("not part of any measurement\n")
    tuids = []
    for i, suffix in enumerate((".gz", ".xz")):
        tuid = tuid_at(datetime(2025, 7, 1, 8, 0, 0), i)
        folder = measurement_folder(datadir, tuid, f"m{i}")
        write_mc(fill(flat_dataset(tuid, f"m{i}", [np.arange(5.0)])), folder / "dataset.hdf5")
        write_snapshot(folder, sample=f"chip-{i}", name=f"snapshot.json{suffix}")
        (folder / "leak.txt").symlink_to(secret)
        tuids.append(tuid)
    add_quantify(runtime, datadir)
    SyncEngine(runtime, FAST).run(once=True)
    for i, tuid in enumerate(tuids):
        info = runtime.store.get_dataset(stored(runtime, tuid).uuid)
        assert info.attributes["sample"] == f"chip-{i}"
        assert "leak.txt" not in {f.name for f in info.files}
    items = list(_items(runtime).values())
    assert all(i["status"] == "synchronized" for i in items)
    assert all(any("leak.txt" in w and "outside" in w for w in i["warnings"]) for i in items)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_an_unreadable_snapshot_is_a_clear_item_error(cli, tmp_path: Path) -> None:
    """The real CLI; as root it runs without the capabilities that bypass permissions."""
    import shutil
    from datetime import datetime

    from tests.backends.quantify.mc_files import (
        fill,
        flat_dataset,
        measurement_folder,
        tuid_at,
        write_mc,
        write_snapshot,
    )
    from tests.conftest import NO_DAC_OVERRIDE

    datadir = tmp_path / "quantify-data"
    folders = []
    for i in range(2):
        tuid = tuid_at(datetime(2025, 8, 1, 8, 0, 0), i)
        folder = measurement_folder(datadir, tuid, f"m{i}")
        write_mc(fill(flat_dataset(tuid, f"m{i}", [np.arange(5.0)])), folder / "dataset.hdf5")
        write_snapshot(folder)
        folders.append(folder)
    os.chmod(folders[0] / "snapshot.json", 0o000)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root and setpriv (util-linux) is missing")
        prefix = NO_DAC_OVERRIDE
    cli("scopes", "create", "proj")
    cli("add-source", "quantify", "qd", "--scope", "proj", "--set", f"quantify_directory={datadir}")
    cli("run", "--once", prefix=prefix)
    items = {Path(i["identifier"]).name: i for i in cli("items", "qd", "--json", as_json=True)}
    bad, good = items[folders[0].name], items[folders[1].name]
    assert good["status"] == "synchronized"
    assert bad["status"] == "failed"
    assert "snapshot.json" in bad["last_error"] and "Permission denied" in bad["last_error"]
    assert any("snapshot.json cannot be read" in w for w in bad["warnings"])
