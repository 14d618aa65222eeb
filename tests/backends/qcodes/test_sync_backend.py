"""The qcodes backend end to end: real databases made by qcodes, the real agent."""

from __future__ import annotations

import gc
import hashlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.errors import ConfigError
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import datasets, sources
from tests.conftest import FAST
from tests.helpers import item_status, running_engine, wait_for

qc = pytest.importorskip("qcodes")
WRITER = Path(__file__).with_name("_qcodes_writer.py")


def _make_db(path: Path, n_runs: int = 3) -> list[str]:
    from qcodes.dataset import (
        Measurement,
        initialise_or_create_database_at,
        load_or_create_experiment,
    )
    from qcodes.parameters import ManualParameter

    initialise_or_create_database_at(path)
    exp = load_or_create_experiment("cooldown 3", sample_name="S12")
    x = ManualParameter("freq", unit="Hz", label="Frequency")
    y = ManualParameter("mag", unit="dB", label="Magnitude")
    z = ManualParameter("phase", unit="rad", label="Phase")
    guids = []
    for k in range(n_runs):
        meas = Measurement(exp=exp, name=f"resonator scan {k}\ncoarse")
        meas.register_parameter(x)
        meas.register_parameter(y, setpoints=(x,))
        meas.register_parameter(z, setpoints=(x,))
        with meas.run() as ds:
            for f in np.linspace(4e9, 5e9, 50):
                ds.add_result((x, f), (y, -f / 1e9 + k), (z, np.sin(f / 1e8)))
        guids.append(ds.dataset.guid)
    return guids


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def qcodes_db(tmp_path: Path) -> tuple[Path, list[str]]:
    folder = tmp_path / "lab"
    folder.mkdir()
    db = folder / "experiments.db"
    guids = _make_db(db)
    # qcodes' own connections close (and checkpoint the WAL) when collected: do it now,
    # so that what the agent finds is a quiet database whose bytes must not change
    gc.collect()
    return db, guids


def _add(rt: Runtime, db: Path, name: str = "fridge") -> None:
    rt.store.create_scope("qubits")
    sources.add_source(
        rt,
        "qcodes",
        name,
        scope="qubits",
        settings={
            "database_path": str(db),
            "set_up": "fridge-2",
            "static_attributes": '{"cooldown": 3}',
        },
    )


def test_every_run_is_synced_with_metadata_and_qcodes_values(
    runtime: Runtime, qcodes_db, tmp_path: Path
) -> None:
    import xarray as xr
    from qcodes.dataset import load_by_guid

    db, guids = qcodes_db
    before = _snapshot(db.parent)
    _add(runtime, db)
    summary = SyncEngine(runtime, FAST).run(once=True)
    assert summary.attempted == 3 and summary.failed == 0
    assert _snapshot(db.parent) == before  # byte-identical, no side files
    rows = datasets.list_datasets(runtime, scope="qubits")
    assert len(rows) == 3
    for guid in guids:
        d = next(
            datasets.show_dataset(runtime, r["uuid"])
            for r in rows
            if datasets.show_dataset(runtime, r["uuid"])["alt_uid"] == guid
        )
        ref = load_by_guid(guid).to_xarray_dataset()
        assert d["name"] == ref.attrs["ds_name"].splitlines()[0]
        assert "coarse" in d["description"] and guid in d["description"]
        assert str(db) in d["description"] and "cooldown 3" in d["description"]
        assert d["attributes"] == {"sample": "S12", "set-up": "fridge-2", "cooldown": 3}
        assert set(d["tags"]) == {"Frequency", "Magnitude", "Phase"}
        (f,) = d["files"]
        assert f["name"] == "measured_data.hdf5" and f["status"] == "complete"
        out = tmp_path / guid
        datasets.export_dataset(runtime, d["uuid"], out)
        with xr.open_dataset(out / "measured_data.hdf5", engine="h5netcdf") as got:
            xr.testing.assert_allclose(got[["mag", "phase"]], ref[["mag", "phase"]])
            assert got["mag"].attrs["units"] == "dB"
    # running again: nothing new, nothing duplicated
    assert SyncEngine(runtime, FAST).run(once=True).attempted == 0


def test_same_database_twice_and_non_qcodes_files_are_refused(
    runtime: Runtime, qcodes_db, tmp_path: Path
) -> None:
    import sqlite3

    db, _ = qcodes_db
    _add(runtime, db)
    with pytest.raises(ConfigError, match="already synchronizes"):
        sources.add_source(
            runtime, "qcodes", "again", scope="qubits", settings={"database_path": str(db)}
        )
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE measurements (x REAL)")
    with pytest.raises(ConfigError, match="not a QCoDeS database"):
        sources.add_source(
            runtime, "qcodes", "other", scope="qubits", settings={"database_path": str(other)}
        )
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ConfigError, match="not an SQLite"):
        sources.add_source(
            runtime, "qcodes", "junk", scope="qubits", settings={"database_path": str(junk)}
        )
    assert [s["name"] for s in sources.list_sources(runtime)] == ["fridge"]


def test_stars_added_later_reach_the_store(runtime: Runtime, qcodes_db) -> None:
    from dataclasses import replace

    from qcodes.dataset import load_by_guid

    db, guids = qcodes_db
    _add(runtime, db)
    settings = replace(FAST, rescan_interval_s=0.0)
    SyncEngine(runtime, settings).run(once=True)
    load_by_guid(guids[0]).add_metadata("inspectr_tag", "star")
    load_by_guid(guids[1]).add_metadata("inspectr_tag", "cross")
    assert SyncEngine(runtime, settings).run(once=True).attempted == 2
    ranking = {
        datasets.show_dataset(runtime, r["uuid"])["alt_uid"]: r
        for r in datasets.list_datasets(runtime)
    }
    got = {g: datasets.show_dataset(runtime, ranking[g]["uuid"])["ranking"] for g in guids}
    assert got == {guids[0]: 1, guids[1]: -1, guids[2]: 0}
    untouched = datasets.show_dataset(runtime, ranking[guids[2]]["uuid"])
    assert untouched["files"][0]["version"] == 1  # not resynced, nothing stored again


def _start_writer(db: Path, points: int, delay: float) -> tuple[subprocess.Popen, str]:
    """A real qcodes measurement writing into ``db``; returns it with its run's GUID."""
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), str(db), str(points), str(delay)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = writer.stdout.readline().split()
    while line and line[0] != "started":  # qcodes prints its own lines first
        line = writer.stdout.readline().split()
    assert line and line[0] == "started", line
    return writer, line[1]


def _file_status(runtime: Runtime, guid: str) -> str | None:
    """live/complete of the run's data file in the store (None before it exists)."""
    ds = runtime.store.find_dataset(scope="qubits", alt_uid=guid)
    info = runtime.store.get_dataset(ds.uuid) if ds else None
    return info.files[0].latest.status.value if info and info.files else None


def test_a_run_being_written_is_live_then_complete(runtime: Runtime, qcodes_db) -> None:
    import xarray as xr
    from qcodes.dataset import load_by_guid

    db, _ = qcodes_db
    _add(runtime, db)
    with running_engine(runtime, FAST):
        writer, guid = _start_writer(db, 120, 0.05)
        try:
            live_sizes: list[int] = []
            deadline = time.monotonic() + 60
            while writer.poll() is None and time.monotonic() < deadline:
                if _file_status(runtime, guid) == "live":
                    ds = runtime.store.find_dataset(scope="qubits", alt_uid=guid)
                    with (
                        runtime.store.open_file(ds.uuid, "measured_data.hdf5") as fh,
                        xr.open_dataset(fh, engine="h5netcdf") as live,
                    ):
                        live_sizes.append(int(live["current"].size))
                time.sleep(0.1)
            assert writer.wait(60) == 0
        finally:
            if writer.poll() is None:
                writer.kill()
        assert live_sizes, "the run was never seen live"
        assert min(live_sizes) < 120 and live_sizes == sorted(live_sizes)
        assert wait_for(lambda: _file_status(runtime, guid) == "complete")
    ds = runtime.store.find_dataset(scope="qubits", alt_uid=guid)
    with (
        runtime.store.open_file(ds.uuid, "measured_data.hdf5") as fh,
        xr.open_dataset(fh, engine="h5netcdf") as final,
    ):
        ref = load_by_guid(guid).to_xarray_dataset()
        np.testing.assert_allclose(final["current"].values, ref["current"].values)
    item = {i["identifier"]: i for i in sources.list_items(runtime, "fridge")}[guid]
    assert item["status"] == "synchronized"


def test_a_locked_database_is_a_clear_source_error_and_others_continue(
    runtime: Runtime, qcodes_db, tmp_path: Path
) -> None:
    """A writer holding an exclusive lock (rollback-journal database) for a long time."""
    import sqlite3

    from tests.helpers import make_dataset

    db, guids = qcodes_db
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")  # our own test file: no WAL
    _add(runtime, db)
    folders = tmp_path / "folders"
    make_dataset(folders, "a")
    sources.add_source(
        runtime, "folderbase", "lab", scope="qubits", settings={"root_directory": str(folders)}
    )
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        SyncEngine(runtime, FAST).run(once=True)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    st = {s["name"]: s for s in sources.list_sources(runtime)}
    assert "locked" in (st["fridge"]["last_error"] or "")
    assert st["lab"]["items"]["synchronized"] == 1
    SyncEngine(runtime, FAST).run(once=True)
    st = {s["name"]: s for s in sources.list_sources(runtime)}
    assert st["fridge"]["last_error"] is None and st["fridge"]["items"]["synchronized"] == 3


def test_a_run_with_a_broken_layout_fails_alone(runtime: Runtime, qcodes_db) -> None:
    import sqlite3

    db, guids = qcodes_db
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET run_description = '{not json' WHERE guid = ?", (guids[1],))
    _add(runtime, db)
    SyncEngine(runtime, FAST).run(once=True)
    items = {i["identifier"]: i for i in sources.list_items(runtime, "fridge")}
    assert items[guids[0]]["status"] == items[guids[2]]["status"] == "synchronized"
    broken = items[guids[1]]
    assert broken["status"] == "failed" and broken["next_retry"] is None  # not retryable
    assert "run_description" in broken["last_error"] or "description" in broken["last_error"]


def test_a_run_whose_writer_was_killed_is_finalized_after_the_timeout(
    runtime: Runtime, qcodes_db
) -> None:
    import signal

    db, _ = qcodes_db
    runtime.store.create_scope("qubits")
    sources.add_source(
        runtime,
        "qcodes",
        "fridge",
        scope="qubits",
        settings={"database_path": str(db), "live_timeout_s": "2"},
    )
    writer, guid = _start_writer(db, 100000, 0.01)
    time.sleep(1.0)
    writer.send_signal(signal.SIGKILL)  # the measurement PC crashed mid-run
    writer.wait(30)
    with running_engine(runtime, FAST):
        assert wait_for(
            lambda: item_status(runtime, guid, source="fridge") == "synchronized", timeout=60
        )
    assert _file_status(runtime, guid) == "complete"
