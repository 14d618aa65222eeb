"""write_run_netcdf: files xarray reads back as the dataset, written like xarray writes them."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from etiket_sync_agent.backends.qcodes.reader import read_run_xarray, write_run_netcdf
from etiket_sync_agent.netcdf import to_netcdf_ready
from etiket_sync_agent.netcdf.nc4_writer import can_write, write_netcdf4
from tests.backends.qcodes.reader_support import RUN_KINDS

pytest.importorskip("qcodes")


def _h5_layout(path: Path) -> dict:
    """Datasets and attributes (incl. the hidden netCDF ones) of an HDF5 file."""

    def attrs(obj) -> dict:
        out = {}
        for key in obj.attrs:
            if key == "_NCProperties":  # names the writing library
                continue
            aid = obj.attrs.get_id(key)
            value = "refs" if key in ("DIMENSION_LIST", "REFERENCE_LIST") else repr(obj.attrs[key])
            out[key] = (str(aid.dtype), aid.shape, value)
        return out

    with h5py.File(path) as f:
        layout = {"/": attrs(f)}
        for name, obj in f.items():
            layout[name] = (str(obj.dtype), obj.shape, obj.chunks, repr(obj.fillvalue), attrs(obj))
        return layout


@pytest.mark.parametrize("kind", RUN_KINDS)
def test_file_reads_back_as_xarray_writes_it(kind, reference_db, tmp_path) -> None:
    path, runs = reference_db
    ds = read_run_xarray(path, runs[kind])
    ours = write_run_netcdf(path, runs[kind], tmp_path / "ours.nc")
    reference = tmp_path / "xarray.nc"
    to_netcdf_ready(ds).to_netcdf(reference, engine="h5netcdf")
    with (
        xr.open_dataset(ours, engine="h5netcdf") as a,
        xr.open_dataset(reference, engine="h5netcdf") as b,
    ):
        xr.testing.assert_identical(a.load(), b.load())
    assert {p.name for p in tmp_path.iterdir()} == {"ours.nc", "xarray.nc"}  # no temp files


@pytest.mark.parametrize("kind", RUN_KINDS)
def test_fast_writer_makes_xarrays_layout(kind, reference_db, tmp_path) -> None:
    path, runs = reference_db
    ready = to_netcdf_ready(read_run_xarray(path, runs[kind]))
    if not can_write(ready):
        pytest.skip("written by xarray itself")
    write_netcdf4(ready, tmp_path / "ours.nc")
    ready.to_netcdf(tmp_path / "xarray.nc", engine="h5netcdf")
    assert _h5_layout(tmp_path / "ours.nc") == _h5_layout(tmp_path / "xarray.nc")


def test_values_units_and_attributes_survive(reference_db, tmp_path) -> None:
    path, runs = reference_db
    out = write_run_netcdf(path, runs["sweep_1d"], tmp_path / "run.nc")
    ds = read_run_xarray(path, runs["sweep_1d"])
    with xr.open_dataset(out, engine="h5netcdf") as back:
        np.testing.assert_array_equal(back.z.values, ds.z.values)
        assert back.z.attrs["units"] == "A" and back.z.attrs["long_name"] == "Current"
        assert back.attrs["inspectr_tag"] == "star"
        assert back.attrs["run_description"] == ds.attrs["run_description"]


def test_multi_index_is_stored_as_cf_compression(reference_db, tmp_path) -> None:
    """The way QCoDeS' export stores non-grid data, decodable with cf_xarray."""
    cf_xarray = pytest.importorskip("cf_xarray")
    path, runs = reference_db
    ds = read_run_xarray(path, runs["scatter"])
    out = write_run_netcdf(path, runs["scatter"], tmp_path / "scatter.nc")
    with xr.open_dataset(out, engine="h5netcdf") as back:
        assert back.multi_index.attrs["compress"] == "x y"
        decoded = cf_xarray.coding.decode_compress_to_multi_index(back.load())
    xr.testing.assert_equal(decoded, ds)


def test_complex_values_round_trip(reference_db, tmp_path) -> None:
    path, runs = reference_db
    ds = read_run_xarray(path, runs["complex_text"])
    out = write_run_netcdf(path, runs["complex_text"], tmp_path / "iq.nc")
    with xr.open_dataset(out, engine="h5netcdf") as back:
        np.testing.assert_array_equal(back.c.values, ds.c.values)
        assert list(back.state.values) == list(ds.state.values)


def test_rewrite_replaces_the_file_atomically(reference_db, tmp_path) -> None:
    path, runs = reference_db
    target = tmp_path / "run.nc"
    target.write_text("an older export")
    write_run_netcdf(path, runs["grid_shapes"], target)
    assert [p.name for p in tmp_path.iterdir()] == ["run.nc"]
    with xr.open_dataset(target, engine="h5netcdf") as back:
        assert dict(back.sizes) == {"x": 4, "y": 5}


@pytest.mark.parametrize("kind", ["grid_shapes", "grid_shapes_single"])
@pytest.mark.parametrize("batch_rows", [4, 7, 1000])
def test_streamed_shaped_runs_equal_the_dataset(kind, batch_rows, reference_db, tmp_path) -> None:
    """Shaped runs are streamed into the file in slabs; any batch size gives the same file."""
    path, runs = reference_db
    ds = read_run_xarray(path, runs[kind])
    out = write_run_netcdf(path, runs[kind], tmp_path / "streamed.nc", batch_rows=batch_rows)
    reference = tmp_path / "xarray.nc"
    to_netcdf_ready(ds).to_netcdf(reference, engine="h5netcdf")
    with (
        xr.open_dataset(out, engine="h5netcdf") as a,
        xr.open_dataset(reference, engine="h5netcdf") as b,
    ):
        xr.testing.assert_identical(a.load(), b.load())


def test_numeric_column_holding_text(reference_db, tmp_path) -> None:
    """An instrument wrote "overload" into a numeric column of a shaped run: QCoDeS gives
    an object array, so do we; the NetCDF file holds the values as text."""
    import sqlite3

    from tests.backends.qcodes.reader_support import assert_identical_to_qcodes, qcodes_export

    path, runs = reference_db
    copy = tmp_path / "overload.db"
    with sqlite3.connect(path) as src:
        src.execute("VACUUM INTO ?", (str(copy),))
    with sqlite3.connect(copy) as conn:
        run_id = runs["grid_shapes_single"]
        (table,) = conn.execute(
            "SELECT result_table_name FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        conn.execute(f"UPDATE \"{table}\" SET z = 'overload' WHERE id = 5")
    ds = read_run_xarray(copy, run_id)
    assert ds.z.dtype == object and ds.z.values[0, 4] == "overload"
    assert_identical_to_qcodes(ds, qcodes_export(copy, run_id))
    out = write_run_netcdf(copy, run_id, tmp_path / "overload.nc")
    with xr.open_dataset(out, engine="h5netcdf") as back:
        assert list(back.z.values[0]) == ["0", "0.5", "1", "1.5", "overload", "2.5"]
