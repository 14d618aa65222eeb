"""The labber backend end to end on Labber logs written here with h5py: grid, values,
metadata, files, identity, discovery and bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from etiket_sync_agent.backends.labber import LabberBackend
from etiket_sync_agent.backends.labber.metadata import alt_uid
from etiket_sync_agent.backends.labber.reader import read_labber_header
from etiket_sync_agent.errors import ConfigError
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import datasets, sources
from etiket_sync_agent.testing import BackendContractTests
from tests.backends.labber.conftest import DAY, add_labber, sweep_2d, trace_log, tree_state
from tests.backends.labber.labber_files import Step, Trace, reference_logs, write_labber_file
from tests.conftest import FAST
from tests.helpers import items_by_id, run_once


class TestLabberContract(BackendContractTests):
    backend_class = LabberBackend

    def sample_config(self, tmp_path: Path):
        write_labber_file(tmp_path / "data" / DAY / "a.hdf5", sweep_2d())
        return {"labber_directory": str(tmp_path / "data")}


def _dataset(rt: Runtime, path: Path) -> dict:
    uid = alt_uid(read_labber_header(path))
    found = rt.store.find_dataset(scope="qubits", alt_uid=uid)
    assert found is not None, f"no dataset for {path.name}"
    return datasets.show_dataset(rt, found.uuid)


def _export(rt: Runtime, d: dict, out: Path) -> Path:
    datasets.export_dataset(rt, d["uuid"], out)
    return out


def _by_long_name(ds) -> dict:
    return {v.attrs.get("long_name", k): v for k, v in ds.variables.items()}


def test_logs_reach_the_store_on_the_step_grid_with_metadata(
    runtime: Runtime, labber_root: Path, tmp_path: Path
) -> None:
    import xarray as xr

    sweep = write_labber_file(labber_root / DAY / "sweep.hdf5", sweep_2d())
    traces = write_labber_file(
        labber_root / DAY / "shots.hdf5",
        trace_log(),
        appended=[
            trace_log(
                creation_time=1.7e9 + 60,
                steps=[trace_log().steps[0], Step("Drive - Output", [0.0])],
            )
        ],
    )
    before = tree_state(labber_root)
    add_labber(runtime, labber_root)
    summary = run_once(runtime, FAST)
    assert summary.failed == 0 and summary.attempted == 2
    assert tree_state(labber_root) == before, "the logs changed or got side files"

    d = _dataset(runtime, sweep)
    assert d["name"] == "resonator vs flux"
    assert d["description"] == "first look\nat the flux dependence"
    assert sorted(d["tags"]) == ["cooldown 7", "resonator"]
    assert d["attributes"] == {
        "user": "Ada",
        "project": "qubits",
        "set-up": "fridge-2",
        "labber_version": "1.8.6",
    }
    assert d["ranking"] == 1
    names = {f["name"]: f for f in d["files"]}
    assert set(names) == {"measured_data.hdf5", "instruments.json", "settings.json", "sweep.hdf5"}
    assert all(f["status"] == "complete" for f in d["files"])
    out = _export(runtime, d, tmp_path / "sweep")
    assert (out / "sweep.hdf5").read_bytes() == sweep.read_bytes()  # the original, as it is
    with xr.open_dataset(out / "measured_data.hdf5", engine="h5netcdf") as ds:
        x = ds["Lock-in_X"]
        # first step innermost: frequency is the last dimension
        assert x.dims == ("Flux - Voltage", "VNA - Frequency")
        assert x.attrs["long_name"] == "Lock-in/X" and x.attrs["units"] == "V"
        f, v = ds["VNA - Frequency"], ds["Flux - Voltage"]
        np.testing.assert_allclose(f.values, np.linspace(4e9, 5e9, 7))
        np.testing.assert_allclose(v.values, [-1.0, -0.5, 0.0, 0.5])
        assert f.attrs["units"] == "Hz"
        xr.testing.assert_allclose(x, (f * 1e-9 + 10 * v).transpose(*x.dims).rename("Lock-in_X"))
        s21 = ds["VNA - S21"]
        assert s21.dtype.kind == "c"
        expected = np.exp(1j * f / 1e9) * (1 + v)
        np.testing.assert_allclose(s21.values, expected.transpose(*s21.dims).values)
        # the relation-driven step is a coordinate on the grid
        current = ds["Flux - Current"]
        np.testing.assert_allclose(current.values, (v / 50).broadcast_like(x).values)
        # configuration as JSON attributes; the "/" step channel's nested config is there
        step_config = json.loads(ds.attrs["step_config"])
        assert "A/B bank selector" in step_config
        assert (
            json.loads(ds.attrs["instrument_config"])["Sim - IP: , Sim at localhost"]["attributes"][
                "Mode"
            ]
            == "CW"
        )
        assert ds.attrs["completed"] == 1
        ref = reference_logs(sweep)[""]
        np.testing.assert_array_equal(x.values, ref["Lock-in/X"])
        np.testing.assert_array_equal(s21.values, ref["VNA - S21"])
    settings = json.loads((out / "settings.json").read_text())
    assert settings["fixed_steps"] == {"A/B bank selector": 1.0}
    assert [r["channel_name"] for r in settings["step_list"]][0] == "VNA - Frequency"
    instruments = json.loads((out / "instruments.json").read_text())
    assert instruments["instruments"][0]["hardware"] == "Simulator"

    d = _dataset(runtime, traces)
    assert d["ranking"] == 0 and d["tags"] == []
    names = {f["name"] for f in d["files"]}
    assert {"measured_data.hdf5", "measured_data_Log_2.hdf5", "settings_Log_2.json"} <= names
    out = _export(runtime, d, tmp_path / "traces")
    ref = reference_logs(traces)
    for file, key, shape in (
        ("measured_data.hdf5", "", (2, 3, 50)),
        ("measured_data_Log_2.hdf5", "Log_2", (3, 50)),
    ):
        with xr.open_dataset(out / file, engine="h5netcdf") as ds:
            sig = ds["Digitizer - Signal"]
            assert sig.shape == shape and sig.dtype.kind == "c"
            t = ds["Digitizer - Signal - Time"]
            assert t.attrs["units"] == "s"
            np.testing.assert_allclose(t.values, 1e-6 + 2e-9 * np.arange(50))
            np.testing.assert_array_equal(sig.values, ref[key]["Digitizer - Signal"])
            p = ds["Drive - Power"]
            expected = (p + 1j * ds["Drive - Output"]) * t if key == "" else (p + 0j) * t
            np.testing.assert_allclose(sig.values, expected.transpose(*sig.dims).values)

    # nothing changed: nothing to do; every file read again gives the same store content
    assert run_once(runtime, FAST).attempted == 0


def test_a_moved_or_re_added_log_is_not_duplicated(runtime: Runtime, labber_root: Path) -> None:
    path = write_labber_file(labber_root / DAY / "sweep.hdf5", sweep_2d())
    add_labber(runtime, labber_root)
    run_once(runtime, FAST)
    moved = labber_root / "2024" / "06" / "Data_0601" / "sweep renamed.hdf5"
    moved.parent.mkdir(parents=True)
    shutil.move(path, moved)
    run_once(runtime, FAST)
    sources.remove_source(runtime, "lab")
    add_labber(runtime, labber_root, name="again")
    run_once(runtime, FAST)
    rows = datasets.list_datasets(runtime, scope="qubits")
    assert len(rows) == 1
    with pytest.raises(ConfigError):  # the same folder (or one inside it) twice
        add_labber(runtime, labber_root / "2024", name="inside")
    with pytest.raises(ConfigError):
        add_labber(runtime, labber_root / "missing", name="missing")


def test_bad_files_fail_alone_with_clear_errors(
    runtime: Runtime, labber_root: Path, tmp_path: Path
) -> None:
    import h5py

    day = labber_root / DAY
    good = write_labber_file(day / "good.hdf5", sweep_2d())
    (day / "empty.hdf5").write_bytes(b"")
    data = good.read_bytes()
    (day / "truncated.hdf5").write_bytes(data[: len(data) // 2])
    (day / "scenario.hdf5").write_bytes(b"\x85\xa5steps\x90\xa4logs\x90" * 20)  # msgpack
    with h5py.File(day / "lookalike.hdf5", "w") as f:  # Labber-shaped, not Labber-written
        f.create_dataset("Data/Data", data=np.zeros((3, 2, 4)))
        f["Data"].attrs["Step dimensions"] = [3, 4]
    config = write_labber_file(day / "config.hdf5", sweep_2d(name="saved config"))
    with h5py.File(config, "a") as f:  # a saved measurement configuration: no Data
        del f["Data"]
    aborted = write_labber_file(
        day / "aborted.hdf5", trace_log(completed=False, outer_written=1, trace_entries=5)
    )
    (day / "notes.txt").write_text("not a log")
    (day / "Database.hdf5").write_bytes(data)  # Labber's index file is not a dataset
    (labber_root / "Database.hdf5").write_bytes(data)
    before = tree_state(labber_root)
    add_labber(runtime, labber_root, live_timeout_s="0")
    run_once(runtime, FAST)
    assert tree_state(labber_root) == before
    items = items_by_id(runtime)
    prefix = DAY.as_posix()
    assert set(items) == {
        f"{prefix}/{n}.hdf5"
        for n in ("good", "empty", "truncated", "scenario", "lookalike", "config", "aborted")
    }
    status = {k.rsplit("/", 1)[1]: (v["status"], v["last_error"] or "") for k, v in items.items()}
    assert status["good.hdf5"][0] == "synchronized"
    assert status["empty.hdf5"][0] == "failed" and "empty" in status["empty.hdf5"][1]
    assert status["truncated.hdf5"][0] == "failed"
    assert "truncated or damaged" in status["truncated.hdf5"][1]
    assert (
        status["scenario.hdf5"][0] == "failed" and "not an HDF5 file" in status["scenario.hdf5"][1]
    )
    assert status["lookalike.hdf5"][0] == "failed"
    assert "not written by Labber" in status["lookalike.hdf5"][1]
    for name in ("empty", "truncated", "scenario", "lookalike"):
        assert items[f"{prefix}/{name}.hdf5"]["next_retry"] is None  # never works as it is

    # the saved configuration: a dataset of its settings and the file, with a warning
    assert status["config.hdf5"][0] == "synchronized"
    d = _dataset(runtime, config)
    assert {f["name"] for f in d["files"]} == {"config.hdf5", "instruments.json", "settings.json"}
    shown = sources.show_item(runtime, "lab", f"{prefix}/config.hdf5")
    assert "holds no measured data" in json.dumps(shown)

    # the aborted scan: Traces ahead of Data/Data, stored as found, with warnings
    assert status["aborted.hdf5"][0] == "synchronized"
    shown = json.dumps(sources.show_item(runtime, "lab", f"{prefix}/aborted.hdf5"))
    assert "aborted scan" in shown and "was not completed" in shown
    import xarray as xr

    d = _dataset(runtime, aborted)
    out = _export(runtime, d, tmp_path / "aborted")
    with xr.open_dataset(out / "measured_data.hdf5", engine="h5netcdf") as ds:
        sig = ds["Digitizer - Signal"]
        assert sig.shape == (2, 3, 50)
        measured = ~np.isnan(sig.values).all(axis=-1)
        assert measured.sum() == 5  # every trace entry, the rest NaN
        np.testing.assert_array_equal(sig.values, reference_logs(aborted)[""]["Digitizer - Signal"])


def test_a_log_vanishing_mid_sync_is_a_clear_error(runtime: Runtime, labber_root: Path) -> None:
    big = trace_log(steps=trace_log().steps)
    big.traces[0].n_samples = 200_000  # a few MB: reading takes a moment
    path = write_labber_file(labber_root / DAY / "vanishing.hdf5", big)
    other = write_labber_file(labber_root / DAY / "other.hdf5", sweep_2d())
    add_labber(runtime, labber_root)
    deleter = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_delete_on_open.py")), str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert deleter.stdout.readline().strip() == "watching"
    run_once(runtime, FAST)
    assert deleter.wait(30) == 0
    items = items_by_id(runtime)
    vanished = items[f"{DAY.as_posix()}/vanishing.hdf5"]
    assert vanished["status"] == "failed" and "disappeared" in vanished["last_error"]
    assert items[f"{DAY.as_posix()}/{other.name}"]["status"] == "synchronized"


def test_traces_with_their_own_x_per_entry(
    runtime: Runtime, labber_root: Path, tmp_path: Path
) -> None:
    """Traces whose time axis differs per entry (one t0/dt row each, or a stored x) keep
    it as a variable beside them; a stored x shared by all entries is a coordinate."""
    import xarray as xr

    steps = [Step("Drive - Power", [-10.0, -5.0, 0.0], "dBm"), Step("Drive - Output", [0.0, 1.0])]

    def signal(g, t):  # noqa: ANN001, ANN202
        return (g["Drive - Power"] + 1j * g["Drive - Output"])[..., None] * t

    def real(g, t):  # noqa: ANN001, ANN202
        return g["Drive - Power"][..., None] * t

    spec = trace_log(
        steps=steps,
        traces=[
            Trace("Digitizer - Signal", "V", 20, 1e-6, 2e-9, signal, t0_step=1e-7),
            Trace("Scope - Trace", "V", 20, 0.0, 1e-3, real, complex=False, explicit_x=True),
            Trace(
                "Scope - Sweep",
                "V",
                20,
                0.0,
                1e-3,
                real,
                complex=False,
                explicit_x=True,
                t0_step=0.5,
            ),
        ],
    )
    path = write_labber_file(labber_root / DAY / "x.hdf5", spec)
    add_labber(runtime, labber_root)
    assert run_once(runtime, FAST).failed == 0
    out = _export(runtime, _dataset(runtime, path), tmp_path / "x")
    ref = reference_logs(path)[""]
    t0 = 1e-6 + 1e-7 * np.arange(6)  # entries, first step fastest
    with xr.open_dataset(out / "measured_data.hdf5", engine="h5netcdf") as ds:
        sig = ds["Digitizer - Signal"]
        assert sig.dims == ("Drive - Output", "Drive - Power", "Digitizer - Signal - Time index")
        t = ds["Digitizer - Signal - Time"]
        assert t.dims == sig.dims and t.attrs["labber_role"] == "x"
        expected_t = (t0[:, None] + 2e-9 * np.arange(20)).reshape(2, 3, 20)
        np.testing.assert_allclose(t.values, expected_t)
        np.testing.assert_array_equal(sig.values, ref["Digitizer - Signal"])
        # a stored x, the same for every entry: a plain coordinate
        trace = ds["Scope - Trace"]
        assert trace.dims[-1] == "Scope - Trace - Time" and trace.dtype.kind == "f"
        np.testing.assert_allclose(ds["Scope - Trace - Time"].values, 1e-3 * np.arange(20))
        np.testing.assert_array_equal(trace.values, ref["Scope - Trace"])
        # a stored x that differs per entry
        sweep_x = ds["Scope - Sweep - Time"]
        expected_x = (0.5 * np.arange(6)[:, None] + 1e-3 * np.arange(20)).reshape(2, 3, 20)
        np.testing.assert_allclose(sweep_x.values, expected_x)
        np.testing.assert_array_equal(ds["Scope - Sweep"].values, ref["Scope - Sweep"])
