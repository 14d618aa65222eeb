"""The native API on its own: shapes, rows, open-ended and complex measurements, files,
the manifest, and every bad input (a clear ValueError, nothing written half)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from etiket_sync_agent import native
from etiket_sync_agent.backends.native.reader import read_measurement
from etiket_sync_agent.native.paths import LOCK_FILE, MANIFEST_FILE


def _read(ds_path: Path, name: str, state: str = "complete") -> xr.Dataset:
    return read_measurement(ds_path / f"{name}.hdf5", "test", state).ds


def test_a_1d_sweep_with_files_and_an_xarray(tmp_path: Path) -> None:
    amps = np.linspace(0, 1, 11)
    notes = tmp_path / "notes.txt"
    notes.write_text("pi pulse at 0.42 V\n")
    fit = xr.Dataset({"f": ("amplitude", np.cos(amps))}, coords={"amplitude": amps})
    with native.dataset(
        "Rabi q1",
        scope="my-project",
        tags=["rabi"],
        attributes={"sample": "S12", "power_dbm": -30.5},
        description="first try",
        directory=tmp_path / "area",
    ) as ds:
        with ds.measurement(
            "rabi", coords={"amplitude": ("V", amps)}, data_vars={"I": "V", "Q": "V"}
        ) as m:
            for a in amps:
                m.append(amplitude=a, I=np.sin(a), Q=np.cos(a))
        ds.add_file(notes)
        ds.add_file(b"\x00\x01", name="raw.bin")
        ds.add_xarray("fit", fit)
        assert native.read_manifest(ds.path)["state"] == "writing"
    manifest = native.read_manifest(ds.path)
    assert manifest["state"] == "complete" and manifest["error"] is None
    assert manifest["name"] == "Rabi q1" and manifest["scope"] == "my-project"
    assert manifest["attributes"] == {"sample": "S12", "power_dbm": -30.5}
    assert manifest["measurements"] == [
        {"name": "rabi", "file": "rabi.hdf5", "state": "complete", "points": 11}
    ]
    assert [f["file"] for f in manifest["files"]] == ["notes.txt", "raw.bin", "fit.hdf5"]
    assert ds.path.parent == tmp_path / "area"
    # plain xarray opens the measurement file: NetCDF4 layout with dimension scales
    raw = xr.load_dataset(ds.path / "rabi.hdf5", engine="h5netcdf")
    np.testing.assert_array_equal(raw["I"].values, np.sin(amps))
    assert raw["I"].dims == ("amplitude",) and raw["amplitude"].attrs["units"] == "V"
    xr.testing.assert_identical(xr.load_dataset(ds.path / "fit.hdf5", engine="h5netcdf"), fit)
    assert (ds.path / "raw.bin").read_bytes() == b"\x00\x01"
    # nothing but what was asked for (and the manifest and the writer's lock)
    assert {p.name for p in ds.path.iterdir()} == {
        MANIFEST_FILE,
        LOCK_FILE,
        "rabi.hdf5",
        "notes.txt",
        "raw.bin",
        "fit.hdf5",
    }


def test_a_2d_grid_by_points_and_rows_and_complex_values(tmp_path: Path) -> None:
    xs, ys = np.arange(4.0), np.linspace(-1, 1, 5)
    want = np.add.outer(xs * 10, ys) + 1j * np.add.outer(xs, -ys)
    with (
        native.dataset("grid", scope="p", directory=tmp_path) as ds,
        ds.measurement("s21", {"x": ("V", xs), "y": ("V", ys)}, {"S21": ("V", complex)}) as m,
    ):
        for j in range(5):  # row 0 point by point, coordinates implied
            m.append(S21=want[0, j])
        m.append(x=1.0, y=ys, S21=want[1])  # whole rows
        m.append(S21=want[2])
        m.append(x=3.0, y=ys[0], S21=want[3, 0])  # and points again
        assert m.points == 16
    out = _read(ds.path, "s21")
    assert out["S21"].dtype == np.complex128
    np.testing.assert_array_equal(out["S21"].values[:3], want[:3])
    assert out["S21"].values[3, 0] == want[3, 0]
    assert np.isnan(out["S21"].values[3, 1:].real).all()  # never measured
    assert out.attrs["points_written"] == 16 and out.attrs["points_declared"] == 20


def test_an_open_ended_stream(tmp_path: Path) -> None:
    with (
        native.dataset("stream", scope="p", directory=tmp_path) as ds,
        ds.measurement("log", {"time": "s"}, {"T": "K"}, flush_interval_s=0.01) as m,
    ):
        for i in range(3000):
            m.append(time=i * 0.5, T=4.0 + i)
    out = _read(ds.path, "log")
    np.testing.assert_array_equal(out["time"].values, np.arange(3000) * 0.5)
    np.testing.assert_array_equal(out["T"].values, 4.0 + np.arange(3000))
    raw = xr.load_dataset(ds.path / "log.hdf5", engine="h5netcdf")
    assert raw.sizes["time"] == 3000


def test_open_ended_rows(tmp_path: Path) -> None:
    freqs = np.linspace(1, 2, 7)
    with (
        native.dataset("spectra", scope="p", directory=tmp_path) as ds,
        ds.measurement("spec", {"t": "s", "f": ("Hz", freqs)}, {"P": "W"}) as m,
    ):
        for i in range(5):
            m.append(t=float(i), P=freqs * i)
        m.append(t=5.0, f=freqs[0], P=-1.0)  # half a row: its tail stays NaN
    out = _read(ds.path, "spec")
    assert out["P"].shape == (6, 7)
    np.testing.assert_array_equal(out["P"].values[:5], np.outer(np.arange(5.0), freqs))
    assert out["P"].values[5, 0] == -1.0 and np.isnan(out["P"].values[5, 1:]).all()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"x": 0.0, "I": 1.0, "Z": 2.0}, "unknown name"),
        ({"x": 0.0}, "misses variable"),
        ({"x": 0.0, "I": [1.0, 2.0]}, "single value"),
        ({"x": 0.0, "I": 1j}, "declare it complex"),
        ({"x": 0.0, "I": "high"}, "takes numbers"),
        ({"x": 5.0, "I": 1.0}, "not the next position"),
    ],
)
def test_a_bad_append_is_a_value_error_and_nothing_is_kept(
    tmp_path: Path, values: dict, message: str
) -> None:
    with (
        native.dataset("bad", scope="p", directory=tmp_path) as ds,
        ds.measurement("m", {"x": ("V", [0.0, 1.0, 2.0])}, {"I": "V"}) as m,
    ):
        m.append(x=0.0, I=10.0)
        with pytest.raises(ValueError, match=message):
            m.append(**values)
        m.append(x=1.0, I=11.0)  # the measurement goes on where it was
        assert m.points == 2
    out = _read(ds.path, "m")
    np.testing.assert_array_equal(out["I"].values[:2], [10.0, 11.0])
    assert np.isnan(out["I"].values[2])
    assert native.read_manifest(ds.path)["state"] == "complete"


def test_bad_shapes_of_2d_appends_and_a_full_measurement(tmp_path: Path) -> None:
    with (
        native.dataset("bad", scope="p", directory=tmp_path) as ds,
        ds.measurement("m", {"x": ("V", [0.0, 1.0]), "y": ("V", [0, 1, 2])}, {"I": "V"}) as m,
    ):
        with pytest.raises(ValueError, match="holds 3 values"):
            m.append(I=[1.0, 2.0])
        m.append(I=0.0)
        with pytest.raises(ValueError, match="must start a row"):
            m.append(I=[1.0, 2.0, 3.0])
        m.append(I=1.0)
        m.append(I=2.0)
        m.append(I=[3.0, 4.0, 5.0])
        with pytest.raises(ValueError, match="is full"):
            m.append(I=6.0)
    np.testing.assert_array_equal(_read(ds.path, "m")["I"].values, [[0, 1, 2], [3, 4, 5]])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": 12}, "dataset name must be non-empty text"),
        ({"name": ""}, "dataset name must be non-empty text"),
        ({"name": "x" * 1025}, "longer than 1024 characters"),
        ({"scope": ""}, "scope must be non-empty text"),
        ({"attributes": {"": 1}}, "attribute names must be non-empty text"),
        ({"scope": None}, "scope must be non-empty text"),
        ({"tags": "rabi"}, "tags must be a list of text"),
        ({"attributes": {"a": [1, 2]}}, "attribute 'a' must be text, a number"),
        ({"description": 3}, "description must be text"),
    ],
)
def test_bad_dataset_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = {"name": "ok", "scope": "p", "directory": tmp_path / "area", **kwargs}
    with pytest.raises(ValueError, match=message), native.dataset(**args):
        pass
    assert not (tmp_path / "area").exists() or not any((tmp_path / "area").iterdir())


@pytest.mark.parametrize(
    ("coords", "data_vars", "message"),
    [
        ({}, {"I": "V"}, "coords must be a mapping"),
        ({"x": ("V", [])}, {"I": "V"}, "non-empty 1-D"),
        ({"x": ("V", [[1.0]])}, {"I": "V"}, "non-empty 1-D"),
        ({"x": ("V", [0.0]), "t": "s"}, {"I": "V"}, "only the first coordinate"),
        ({"x": ("V", [0.0])}, {}, "data_vars must be a mapping"),
        ({"x": ("V", [0.0])}, {"I": ("V", str)}, "float or complex"),
        ({"x": ("V", [0.0])}, {"x": "V"}, "both a coordinate and a variable"),
        ({"x": ("V", [0.0])}, {"a/b": "V"}, "invalid variable name"),
        ({7: ("V", [0.0])}, {"I": "V"}, "coordinate name must be text"),
    ],
)
def test_bad_measurement_declarations(
    tmp_path: Path, coords: dict, data_vars: dict, message: str
) -> None:
    with native.dataset("decl", scope="p", directory=tmp_path) as ds:
        with pytest.raises(ValueError, match=message), ds.measurement("m", coords, data_vars):
            pass
        assert not (ds.path / "m.hdf5").exists()
        with pytest.raises(ValueError, match="measurement name must be text"):
            ds.measurement(3, {"x": ("V", [0.0])}, {"I": "V"}).__enter__()
    assert native.read_manifest(ds.path)["measurements"] == []


def test_names_in_a_dataset_are_unique(tmp_path: Path) -> None:
    with native.dataset("dup", scope="p", directory=tmp_path) as ds:
        with ds.measurement("m", {"x": ("V", [0.0])}, {"I": "V"}) as m:
            m.append(I=1.0)
        with pytest.raises(ValueError, match="already has a file called 'm.hdf5'"):
            ds.add_file(b"x", name="m.hdf5")
        with pytest.raises(ValueError, match="already has"):
            ds.measurement("m", {"x": ("V", [0.0])}, {"I": "V"}).__enter__()
        with pytest.raises(ValueError, match="needs a name"):
            ds.add_file(b"x")
        with pytest.raises(ValueError, match="invalid file name"):
            ds.add_file(b"x", name="../escape.txt")


def test_an_exception_marks_the_dataset_aborted_and_keeps_the_data(tmp_path: Path) -> None:
    with (
        pytest.raises(ZeroDivisionError),
        native.dataset("fails", scope="p", directory=tmp_path) as ds,
        ds.measurement("m", {"x": ("V", np.arange(10.0))}, {"I": "V"}) as m,
    ):
        for i in range(4):
            m.append(I=float(i))
        1 / 0  # noqa: B018 - the script's own bug
    manifest = native.read_manifest(ds.path)
    assert manifest["state"] == "aborted"
    assert manifest["error"] == "ZeroDivisionError: division by zero"
    assert manifest["measurements"][0]["state"] == "aborted"
    assert manifest["measurements"][0]["points"] == 4
    np.testing.assert_array_equal(_read(ds.path, "m")["I"].values[:4], np.arange(4.0))


def test_two_writers_on_one_dataset_are_refused(tmp_path: Path) -> None:
    with native.dataset("one writer", scope="p", directory=tmp_path) as ds:
        with (
            pytest.raises(native.DatasetBusyError, match="only one writer"),
            native.open_dataset(ds.path),
        ):
            pass
        # another process is refused too
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from etiket_sync_agent import native\n"
                "try:\n"
                "    with native.open_dataset(sys.argv[1]): pass\n"
                "except native.DatasetBusyError as e: print('refused:', e)\n",
                str(ds.path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.stdout.startswith("refused:"), proc.stderr
        assert native.read_manifest(ds.path)["state"] == "writing"
    # once released, the dataset can be reopened to add more
    with native.open_dataset(ds.path) as again:
        assert native.read_manifest(ds.path)["state"] == "writing"
        again.add_file(b"later", name="later.txt")
    manifest = native.read_manifest(ds.path)
    assert manifest["state"] == "complete" and manifest["files"][0]["name"] == "later.txt"


def test_the_native_area_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.NATIVE_DIR_ENV, raising=False)
    monkeypatch.setenv("ETIKET_SYNC_HOME", str(tmp_path / "home"))
    assert native.native_root() == (tmp_path / "home" / "native").resolve()
    monkeypatch.setenv(native.NATIVE_DIR_ENV, str(tmp_path / "elsewhere"))
    with native.dataset("env", scope="p") as ds:
        pass
    assert ds.path.parent == (tmp_path / "elsewhere").resolve()


def test_the_manifest_is_replaced_atomically(tmp_path: Path) -> None:
    with native.dataset("atomic", scope="p", directory=tmp_path) as ds:
        for i in range(20):
            ds.add_file(b"x", name=f"f{i}.txt")
            # whole JSON every time, and no temporary file left beside it
            json.loads((ds.path / MANIFEST_FILE).read_text())
        assert not [p for p in ds.path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE simulates the full disk")
def test_a_full_disk_raises_in_the_script_and_keeps_what_was_flushed(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("_disk_full_writer.py")),
            str(tmp_path),
            "3000000",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "File too large" in proc.stderr  # the script got the write error
    folder = tmp_path / proc.stdout.split()[0]
    manifest = native.read_manifest(folder)
    assert manifest["state"] == "aborted" and "File too large" in manifest["error"]
    flushed = manifest["measurements"][0]["points"]
    assert flushed >= 1000  # at least one row of 1000 values
    out = _read(folder, "big", "aborted")
    assert out.attrs["points_written"] == flushed
    rows = flushed // 1000
    np.testing.assert_array_equal(out["I"].values[:rows, 0], np.arange(rows, dtype=float))
    assert (out["I"].values[:rows] == out["I"].values[:rows, :1]).all()
