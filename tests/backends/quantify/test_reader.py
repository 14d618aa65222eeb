"""The Quantify reader on files written the way MeasurementControl writes them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from etiket_sync_agent.backends.quantify.reader import (
    QuantifyFormatError,
    parse_folder_name,
    read_dataset,
    tuid_time,
)
from tests.backends.quantify.mc_files import (
    fill,
    flat_dataset,
    grid_dataset,
    make_tuid,
    reference_grid,
    write_mc,
    write_nc3,
)


def _assert_same(got: xr.Dataset, source: xr.Dataset) -> None:
    """Values, dims, units and long names equal the reference gridding of ``source``."""
    want = reference_grid(source)
    assert set(got.dims) == set(want.dims)
    for name, var in want.variables.items():
        assert name in got.variables, name
        g = got[name]
        assert g.dims == var.dims, (name, g.dims, var.dims)
        np.testing.assert_array_equal(g.values, var.values)
        for key in ("units", "long_name"):
            if key in var.attrs:
                assert g.attrs[key] == var.attrs[key]
    assert set(want.coords) <= set(got.coords)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    p = tmp_path / "scratch"
    p.mkdir()
    return p


def test_tuid_folder_names() -> None:
    assert parse_folder_name("20210331-133734-718-aa9c83 AllXY q0") == (
        "20210331-133734-718-aa9c83",
        "AllXY q0",
    )
    assert parse_folder_name("20230927-143514-589-e1a20e-a-b (c=1.5)") == (
        "20230927-143514-589-e1a20e",
        "a-b (c=1.5)",
    )
    assert parse_folder_name("20230927-143514-589-e1a20e") == ("20230927-143514-589-e1a20e", "")
    assert parse_folder_name("20231327-143514-589-e1a20e-bad month") is None
    assert parse_folder_name("notes") is None
    assert parse_folder_name("20230927-143514-589-e1a2-short") is None
    when = tuid_time("20230927-143514-589-e1a20e")
    assert when is not None and when.utcoffset() is not None  # local time, with its offset
    assert when.replace(tzinfo=None) == datetime(2023, 9, 27, 14, 35, 14, 589000)


def test_1d_unique_x0_becomes_the_dimension(tmp_path: Path, scratch: Path) -> None:
    ds = fill(flat_dataset(make_tuid(), "sweep", [np.linspace(0, 1, 50)], 3))
    write_mc(ds, tmp_path / "dataset.hdf5")
    r = read_dataset(tmp_path / "dataset.hdf5", scratch)
    assert r.layout == "1d" and r.format == "NetCDF4/HDF5"
    assert r.ds["y0"].dims == ("x0",)
    assert r.ds["y0"].attrs["units"] == "A" and r.ds["x0"].attrs["long_name"] == "Setpoint 0"
    _assert_same(r.ds, ds)


def test_1d_with_duplicate_x0_keeps_dim_0(tmp_path: Path, scratch: Path) -> None:
    x = np.repeat(np.arange(21, dtype=np.int32), 2)  # AllXY: index pairs
    ds = fill(flat_dataset(make_tuid(), "AllXY", [x], 2))
    write_mc(ds, tmp_path / "dataset.hdf5")
    r = read_dataset(tmp_path / "dataset.hdf5", scratch)
    assert r.layout == "flat" and r.ds["y0"].dims == ("dim_0",)
    assert "x0" in r.ds.coords and r.ds["x0"].dtype == np.int32
    _assert_same(r.ds, ds)


@pytest.mark.parametrize("flag", [True, None])
def test_2d_grid_by_flag_or_by_unique_product(tmp_path: Path, scratch: Path, flag) -> None:
    ds = fill(grid_dataset(make_tuid(), "2D", [np.linspace(0, 1, 7), np.arange(5.0)], flag=flag))
    write_mc(ds, tmp_path / "dataset.hdf5")
    r = read_dataset(tmp_path / "dataset.hdf5", scratch)
    assert r.layout == "grid" and dict(r.ds.sizes) == {"x0": 7, "x1": 5}
    assert r.ds["y1"].dims == ("x0", "x1")
    _assert_same(r.ds, ds)


@pytest.mark.parametrize("order", ["descending sweep", "shuffled"])
def test_grids_in_any_point_order(tmp_path: Path, scratch: Path, order: str) -> None:
    ds = grid_dataset(make_tuid(), "2D", [np.linspace(1, 0, 6), np.arange(4.0)], flag=True)
    if order == "shuffled":
        ds = ds.isel(dim_0=np.random.default_rng(3).permutation(ds.sizes["dim_0"]))
    ds = fill(ds)
    write_mc(ds, tmp_path / "dataset.hdf5")
    r = read_dataset(tmp_path / "dataset.hdf5", scratch)
    assert r.layout == "grid" and np.all(np.diff(r.ds["x0"].values) > 0)
    _assert_same(r.ds, ds)


def test_two_settables_that_are_no_grid_stay_flat(tmp_path: Path, scratch: Path) -> None:
    """Two settables swept together: a 101x101 grid would be 99 % NaN."""
    x = np.linspace(0, 1, 101)
    ds = fill(flat_dataset(make_tuid(), "1d with two settables", [x, 2 * x], flag=False))
    write_mc(ds, tmp_path / "dataset.hdf5")
    r = read_dataset(tmp_path / "dataset.hdf5", scratch)
    assert r.layout == "flat" and dict(r.ds.sizes) == {"dim_0": 101}
    assert {"x0", "x1"} <= set(r.ds.coords)
    _assert_same(r.ds, ds)


def test_netcdf3_file_with_settables_as_data_variables(tmp_path: Path, scratch: Path) -> None:
    ds = fill(grid_dataset(make_tuid(), "old", [np.linspace(0, 1, 6), np.arange(3.0)]))
    ds.attrs = {"tuid": ds.attrs["tuid"], "name": "old", "2D-grid": 1}
    write_nc3(ds, tmp_path / "dataset.hdf5", settables_as_data=True)
    assert (tmp_path / "dataset.hdf5").read_bytes()[:3] == b"CDF"
    r = read_dataset(tmp_path / "dataset.hdf5", scratch)
    assert r.format == "netCDF3" and r.layout == "grid"
    _assert_same(r.ds, ds)


def test_complex_values_and_uncertainties(tmp_path: Path, scratch: Path) -> None:
    ds = fill(flat_dataset(make_tuid(), "iq", [np.arange(10.0)], 1, dtype=np.complex128))
    ds["y0_u"] = ("dim_0", np.abs(ds["y0"].values) / 10, {"long_name": "error", "units": "A"})
    write_mc(ds, tmp_path / "dataset.hdf5")
    r = read_dataset(tmp_path / "dataset.hdf5", scratch)
    assert r.ds["y0"].dtype.kind == "c"
    np.testing.assert_array_equal(r.ds["y0"].values, ds["y0"].values)
    assert r.ds["y0_u"].attrs["standard_deviation_of"] == "y0"
    assert r.ds["y0"].attrs["ancillary_variables"] == "y0_u"


def test_progress_counts_measured_points(tmp_path: Path, scratch: Path) -> None:
    ds = grid_dataset(make_tuid(), "2D", [np.arange(4.0), np.arange(3.0)], flag=True)
    write_mc(fill(ds, upto=5), tmp_path / "dataset.hdf5")
    r = read_dataset(tmp_path / "dataset.hdf5", scratch)
    assert (r.progress.points, r.progress.measured) == (12, 5) and r.progress.has_nan
    assert int(np.isfinite(r.ds["y0"].values).sum()) == 5  # the grid keeps the NaN tail


def test_hdf5_that_is_no_netcdf_and_truncated_files_are_clear_errors(
    tmp_path: Path, scratch: Path
) -> None:
    import os

    import h5py

    bad = tmp_path / "plain.hdf5"
    with h5py.File(bad, "w") as f:
        f["data"] = np.arange(3)
    grouped = tmp_path / "grouped.hdf5"
    xr.Dataset({"a": ("t", np.arange(3.0))}).to_netcdf(grouped, engine="h5netcdf", group="g")
    trunc = tmp_path / "trunc.hdf5"
    write_mc(fill(flat_dataset(make_tuid(), "t", [np.arange(100.0)])), trunc)
    trunc.write_bytes(trunc.read_bytes()[:2000])
    junk = tmp_path / "junk.hdf5"
    junk.write_bytes(b"not a dataset at all" * 10)
    old = 1_600_000_000
    expected = {
        bad: "not a NetCDF dataset",
        grouped: "holds groups",
        trunc: "cannot be read",
        junk: "cannot be read",
    }
    for p, text in expected.items():
        os.utime(p, (old, old))  # at rest: damaged, not being written
        with pytest.raises(QuantifyFormatError) as err:
            read_dataset(p, scratch)
        assert p.name in err.value.message and text in err.value.message
        assert not err.value.retryable
    assert list(scratch.iterdir()) == []  # no copy left behind
