"""Every NetCDF file the SDK writes is read back and compared with its Dataset before it
is kept: a file damaged on disk between the write and the read-back is caught, names the
variable and the first differing index, and leaves no file behind."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from etiket_sync_agent.netcdf import NetCDFVerifyError, take_verification, write_netcdf
from etiket_sync_agent.store.interface import DatasetSpec
from etiket_sync_agent.store.local import LocalStore


def _rich() -> xr.Dataset:
    """Every kind of value the writer handles (written through xarray)."""
    signal = np.linspace(0.0, 1.0, 12).reshape(4, 3)
    signal[1, 2] = np.nan
    iq = np.array([1 + 2j, np.nan + 1j, 3 - 1j, 0j])
    mindex = pd.MultiIndex.from_arrays([[0, 0, 1], ["a", "b", "a"]], names=("gate", "label"))
    points = xr.Coordinates.from_pandas_multiindex(mindex, "point")
    ds = xr.Dataset(
        {
            "signal": (("time", "x"), signal, {"units": "V"}),
            "iq": (("time",), iq),
            "status": (("time",), np.array(["ok", None, "ok", "overload"], dtype=object)),
            "flag": (("time",), np.array([True, False, True, True])),
            "count": (("x",), np.array([3, 2, 1], dtype=np.int16)),
            "sparse": (("point",), np.array([0.5, np.nan, 2.5])),
        },
        coords={
            "time": pd.date_range("2024-01-01", periods=4, freq="s"),
            "x": [10.0, 20.0, np.nan],
        },
        attrs={"sample": "S12", "meta": {"a": 1}},
    )
    return ds.assign_coords(points)


def _simple() -> xr.Dataset:
    """Written by the fast NetCDF-4 writer."""
    values = np.arange(20.0).reshape(5, 4)
    values[2, 1] = np.nan
    return xr.Dataset(
        {"I": (("x", "y"), values), "name": (("x",), np.array(list("abcde"), dtype=object))},
        coords={"x": np.arange(5), "y": np.array([0.1, 0.2, 0.3, 0.4])},
    )


@pytest.mark.parametrize("make", [_rich, _simple], ids=["xarray-writer", "fast-writer"])
def test_a_written_file_is_verified_and_the_outcome_kept(make, tmp_path: Path) -> None:  # noqa: ANN001
    ds = make()
    out = write_netcdf(ds, tmp_path / "data.hdf5")
    checked = take_verification(out)
    assert checked is not None and checked.file == "data.hdf5"
    assert checked.variables >= len(ds.variables) and checked.values > 0
    assert checked.streamed == 0
    assert take_verification(out) is None  # taken once
    with xr.open_dataset(out, engine="h5netcdf") as back:
        assert set(back.data_vars) >= {str(k) for k in ds.data_vars}
    assert [p.name for p in tmp_path.iterdir()] == ["data.hdf5"]


def _set_value(variable: str, index: tuple[int, ...], value: object):  # noqa: ANN202
    def damage(path: Path) -> None:
        with h5py.File(path, "r+") as f:
            f[variable][index] = value

    return damage


@pytest.mark.parametrize(
    ("make", "variable", "index", "value"),
    [
        (_simple, "I", (3, 2), 99.0),
        (_simple, "I", (2, 1), 0.0),  # a NaN turned into a number
        (_simple, "y", (1,), 0.25),  # a coordinate
        (_simple, "name", (4,), "z"),
        (_rich, "iq", (2,), 3 + 1j),
        (_rich, "status", (1,), "ok"),  # a missing value turned into text
        (_rich, "gate", (1,), 7),  # a level of the multi-index, as the writer encodes it
        (_rich, "time", (3,), 9),  # a datetime (stored as a number of seconds)
    ],
    ids=["value", "nan", "coordinate", "text", "complex", "missing-text", "multi-index", "time"],
)
def test_a_value_damaged_on_disk_is_caught_and_nothing_is_kept(
    make,
    variable: str,
    index: tuple[int, ...],
    value: object,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    with pytest.raises(NetCDFVerifyError) as err:
        write_netcdf(
            make(), tmp_path / "data.hdf5", before_verify=_set_value(variable, index, value)
        )
    message = str(err.value)
    assert f"variable {variable!r}" in message and f"index {index}" in message
    assert err.value.variable == variable
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temp file


def test_flipped_bytes_in_the_data_are_caught(tmp_path: Path) -> None:
    ds = xr.Dataset({"trace": (("t",), np.arange(1000.0) * 1.5)})
    payload = ds["trace"].values.astype("<f8").tobytes()

    def flip_one_byte(path: Path) -> None:
        raw = bytearray(path.read_bytes())
        at = raw.find(payload[800 * 8 : 801 * 8])  # where value 800 is stored
        assert at > 0
        raw[at + 3] ^= 0x40
        path.write_bytes(bytes(raw))

    with pytest.raises(NetCDFVerifyError, match=r"variable 'trace' differs at index \(800,\)"):
        write_netcdf(ds, tmp_path / "t.hdf5", before_verify=flip_one_byte)
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_cannot_be_read_back_is_caught(tmp_path: Path) -> None:
    def truncate(path: Path) -> None:
        path.write_bytes(path.read_bytes()[:100])

    with pytest.raises(NetCDFVerifyError, match="the file cannot be read back"):
        write_netcdf(_simple(), tmp_path / "x.hdf5", before_verify=truncate)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_variable_and_a_changed_shape_are_caught(tmp_path: Path) -> None:
    def drop(path: Path) -> None:
        with h5py.File(path, "r+") as f:
            del f["name"]

    with pytest.raises(NetCDFVerifyError, match="variable 'name' is missing"):
        write_netcdf(_simple(), tmp_path / "x.hdf5", before_verify=drop)


def test_big_variables_are_compared_in_blocks(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from etiket_sync_agent.netcdf import verify

    monkeypatch.setattr(verify, "BLOCK_ELEMENTS", 64)  # many blocks of rows
    ds = xr.Dataset({"map": (("r", "c"), np.arange(50 * 30, dtype=float).reshape(50, 30))})
    write_netcdf(ds, tmp_path / "ok.hdf5")
    with pytest.raises(NetCDFVerifyError, match=r"'map' differs at index \(41, 7\)"):
        write_netcdf(ds, tmp_path / "bad.hdf5", before_verify=_set_value("map", (41, 7), -1.0))


def test_streamed_variables_are_checked_for_shape_and_dtype(tmp_path: Path) -> None:
    ds = xr.Dataset({"big": (("i",), np.zeros(6))}, coords={"i": np.arange(6)})

    def stream(h5ds) -> None:  # noqa: ANN001 - the writer's h5py dataset
        h5ds[:] = np.arange(6.0)  # values the Dataset does not hold

    out = write_netcdf(ds, tmp_path / "s.hdf5", fill={"big": stream})
    checked = take_verification(out)
    assert checked is not None and checked.streamed == 1
    with xr.open_dataset(out, engine="h5netcdf") as back:
        assert back["big"].values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


@pytest.fixture
def ctx(tmp_path: Path):  # noqa: ANN201 - a SyncContext on a real store
    from etiket_sync_agent.plugins.context import SyncContext
    from etiket_sync_agent.plugins.items import SyncItem
    from etiket_sync_agent.plugins.record import SyncRecord

    store = LocalStore(tmp_path / "store")
    store.create_scope("lab")
    store.upsert_dataset(DatasetSpec(uuid="d", scope="lab", name="d"))
    item = SyncItem(id=1, source_name="src", identifier="x", dataset_uuid="d", scope="lab")
    yield SyncContext(item, store, SyncRecord())
    store.close()


def test_the_sync_context_records_the_read_back(ctx) -> None:  # noqa: ANN001
    ctx.upload_xarray(_simple(), name="m.hdf5")
    (entry,) = ctx.record.verified_files
    assert entry["file"] == "m.hdf5" and entry["values"] > 0
    assert ctx.record.to_dict()["verified_files"] == [entry]


def test_sync_context_upload_files_stores_them_and_records_the_read_backs(
    ctx,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    a = write_netcdf(_simple(), tmp_path / "a.hdf5")
    b = write_netcdf(_rich(), tmp_path / "b.hdf5")
    (tmp_path / "notes.txt").write_text("hello")
    results = ctx.upload_files(
        [(a, "raw/a.hdf5"), (b, "raw/b.hdf5"), (tmp_path / "notes.txt", "n.txt", "NOTE")],
        generator="test",
    )
    assert [r.file.name for r in results] == ["raw/a.hdf5", "raw/b.hdf5", "n.txt"]
    files = {f.name: f for f in ctx.store.get_dataset("d").files}
    assert (files["n.txt"].file_type, files["raw/a.hdf5"].generator) == ("NOTE", "test")
    assert [e["file"] for e in ctx.record.verified_files] == ["raw/a.hdf5", "raw/b.hdf5"]


def test_the_record_lists_a_bounded_number_of_read_backs(
    ctx,
    tmp_path: Path,
    monkeypatch,  # noqa: ANN001
) -> None:
    from etiket_sync_agent.plugins import context

    monkeypatch.setattr(context, "MAX_VERIFIED_LISTED", 2)
    written = [write_netcdf(_simple(), tmp_path / f"f{i}.hdf5") for i in range(5)]
    ctx.upload_files([(p, p.name) for p in written])
    assert [e["file"] for e in ctx.record.verified_files] == ["f0.hdf5", "f1.hdf5", "(more files)"]
    assert ctx.record.verified_files[-1]["more"] == 3
