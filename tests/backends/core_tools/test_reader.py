"""The core-tools reader on real databases written the way core-tools writes them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from etiket_sync_agent.backends.core_tools import CoreToolsBackend, CoreToolsConfig
from etiket_sync_agent.backends.core_tools.reader import (
    CoreToolsDataError,
    LiveCache,
    read_measurement,
    write_measurement,
)
from tests.backends.core_tools import ct_writer as ctw


def _backend(dbname: str, **kw) -> CoreToolsBackend:
    cfg = CoreToolsConfig(dbname=dbname, user="postgres", host="127.0.0.1", **kw)
    return CoreToolsBackend(cfg, "ct")


def _export(
    b: CoreToolsBackend, uuid: int, out: Path, cache: LiveCache | None = None
) -> xr.Dataset:
    with b.db.transaction() as cur:
        meas = read_measurement(cur, b.schema(cur), uuid)
        write_measurement(cur, meas, out, cache=cache)
    return xr.load_dataset(out, engine="h5netcdf")


def test_one_d_two_d_and_multi_output(ct_db: str, writer: ctw.Writer, tmp_path: Path) -> None:
    h1 = writer.complete(
        "sweep 1d",
        ctw.one_d("x"),
        keywords=["cal", "qubit 1"],
        metadata={"note": "ok"},
        snapshot={"station": {"instruments": {"dac": {"v": 1}}}},
    )
    h2 = writer.complete("map 2d", ctw.two_d(5, 4, outputs=2))
    b = _backend(ct_db)
    ds = _export(b, h1.uuid, tmp_path / "a.hdf5")
    assert list(ds.coords) == ["gate"] and list(ds.data_vars) == ["current"]
    np.testing.assert_array_equal(ds["gate"].values, np.linspace(0, 1, 100))
    np.testing.assert_array_equal(ds["current"].values, np.sin(7 * np.linspace(0, 1, 100)))
    assert ds["current"].attrs["units"] == "A" and ds["current"].attrs["long_name"] == "Current"
    assert ds["gate"].attrs["long_name"] == "Gate voltage"
    assert ds.attrs["title"] == "sweep 1d" and ds.attrs["uuid"] == str(h1.uuid)
    assert ds.attrs["completed"] == 1 and json.loads(ds.attrs["keywords"]) == ["cal", "qubit 1"]
    assert json.loads(ds.attrs["snapshot"])["station"]["instruments"]["dac"] == {"v": 1}
    assert json.loads(ds.attrs["metadata"]) == {"note": "ok"}

    ds2 = _export(b, h2.uuid, tmp_path / "b.hdf5")
    assert ds2["m1"].dims == ("P1", "P2") and ds2["m2"].dims == ("P1", "P2")
    np.testing.assert_array_equal(ds2["P1"].values, np.linspace(-1, 1, 5))
    np.testing.assert_array_equal(ds2["P2"].values, np.linspace(0, 2, 4))
    xx, yy = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(0, 2, 4), indexing="ij")
    np.testing.assert_array_equal(ds2["m1"].values, xx * 10 + yy)
    np.testing.assert_array_equal(ds2["m2"].values, xx * 10 + yy + 100)


def test_names_are_deduplicated_as_core_tools_does(
    writer: ctw.Writer, ct_db: str, tmp_path: Path
) -> None:
    x1, x2 = np.linspace(0, 1, 5), np.linspace(0, 2, 5)
    mps = [
        ctw.MParam([ctw.Output("amp", "V", x1 * 2)], [ctw.Axis("x", "V", x1)]),
        ctw.MParam([ctw.Output("amp", "V", x1 * 3)], [ctw.Axis("x", "V", x1)]),  # same axis
        ctw.MParam([ctw.Output("amp", "V", x2 * 4)], [ctw.Axis("x", "V", x2)]),  # other values
    ]
    h = writer.complete("names", mps)
    ds = _export(_backend(ct_db), h.uuid, tmp_path / "n.hdf5")
    assert set(ds.data_vars) == {"amp", "amp-2", "amp-3"}
    assert set(ds.coords) == {"x", "x-1"}
    assert ds["amp"].dims == ds["amp-2"].dims == ("x",) and ds["amp-3"].dims == ("x-1",)
    np.testing.assert_array_equal(ds["x-1"].values, x2)
    np.testing.assert_array_equal(ds["amp-3"].values, x2 * 4)


@pytest.mark.parametrize("without_nth_dim", [False, True])
def test_old_format_measurements(
    writer: ctw.Writer, ct_db: str, tmp_path: Path, without_nth_dim: bool
) -> None:
    h = writer.complete(
        "old one", ctw.two_d(3, 6), old_format=True, old_without_nth_dim=without_nth_dim
    )
    ds = _export(_backend(ct_db), h.uuid, tmp_path / "o.hdf5")
    xx, yy = np.meshgrid(np.linspace(-1, 1, 3), np.linspace(0, 2, 6), indexing="ij")
    assert ds["m1"].dims == ("P1", "P2")
    np.testing.assert_array_equal(ds["m1"].values, xx * 10 + yy)


def test_values_beyond_the_write_cursor_are_nan(
    writer: ctw.Writer, ct_db: str, tmp_path: Path
) -> None:
    h = writer.register("running", ctw.two_d(4, 5))
    writer.write(h, 7)  # one row and two points of the next
    b = _backend(ct_db)
    cache = LiveCache(h.uuid, 2**30)
    ds = _export(b, h.uuid, tmp_path / "p.hdf5", cache)
    m = ds["m1"].values
    assert np.isfinite(m.ravel()[:7]).all() and np.isnan(m.ravel()[7:]).all()
    np.testing.assert_array_equal(ds["P2"].values, np.linspace(0, 2, 5))  # first row written
    assert np.isfinite(ds["P1"].values[:2]).all() and np.isnan(ds["P1"].values[2:]).all()
    assert ds.attrs["completed"] == 0
    # the next pass reads on from the cached cursor and ends with every value
    writer.write(h, 13)
    writer.finish(h)
    ds = _export(b, h.uuid, tmp_path / "p2.hdf5", cache)
    assert {c for c, _ in cache.arrays.values()} == {20}
    xx, yy = np.meshgrid(np.linspace(-1, 1, 4), np.linspace(0, 2, 5), indexing="ij")
    np.testing.assert_array_equal(ds["m1"].values, xx * 10 + yy)


def test_large_measurement_is_streamed_in_chunks(
    writer: ctw.Writer, ct_db: str, tmp_path: Path
) -> None:
    x, y = np.arange(300.0), np.arange(70.0)
    vals = np.add.outer(x * 1000, y)
    h = writer.complete(
        "big",
        [ctw.MParam([ctw.Output("s", "V", vals)], [ctw.Axis("a", "V", x), ctw.Axis("b", "V", y)])],
    )
    b = _backend(ct_db)
    with b.db.transaction() as cur:
        meas = read_measurement(cur, b.schema(cur), h.uuid)
        # chunks that do not line up with rows exercise the partial-row writes
        write_measurement(cur, meas, tmp_path / "big.hdf5", chunk=997)
    ds = xr.load_dataset(tmp_path / "big.hdf5", engine="h5netcdf")
    np.testing.assert_array_equal(ds["s"].values, vals)
    np.testing.assert_array_equal(ds["a"].values, x)


def _break(ct_db: str, sql: str, *args) -> None:
    with ctw.admin(ct_db) as conn:
        conn.execute(sql, args)


def test_bad_measurements_are_clear_errors(writer: ctw.Writer, ct_db: str, tmp_path: Path) -> None:
    missing = writer.complete("missing lo", ctw.one_d("x", 10))
    short = writer.complete("short lo", ctw.one_d("x", 10))
    shape = writer.complete("bad shape", ctw.one_d("x", 10))
    _break(ct_db, "SELECT lo_unlink(%s)", missing.arrays[0].oid)
    _break(
        ct_db,
        "UPDATE measurement_parameters SET write_cursor = 12, shape = '[12]', total_size = 12"
        " WHERE exp_uuid = %s",
        short.uuid,
    )
    _break(
        ct_db, "UPDATE measurement_parameters SET shape = '[3, 2]' WHERE exp_uuid = %s", shape.uuid
    )
    b = _backend(ct_db)
    cases = {
        missing.uuid: f"large object {missing.arrays[0].oid} of parameter 'current'.*not exist",
        short.uuid: "holds 10 values, fewer than its write cursor 12",
        shape.uuid: r"shape \[3, 2\] holds 6 values but total_size is 10",
    }
    for uuid, pattern in cases.items():
        with pytest.raises(CoreToolsDataError, match=pattern) as err:
            _export(b, uuid, tmp_path / "x.hdf5")
        assert err.value.retryable is False
        assert not (tmp_path / "x.hdf5").exists()  # nothing half-written


def test_the_connection_is_read_only(ct_db: str) -> None:
    b = _backend(ct_db)
    with pytest.raises(psycopg_errors().ReadOnlySqlTransaction), b.db.transaction() as cur:
        cur.execute("CREATE TABLE written_by_agent (x int)")
    with b.db.transaction() as cur:
        cur.execute("SHOW transaction_read_only")
        assert cur.fetchone()[0] == "on"
    b.close()


def psycopg_errors():  # noqa: ANN201
    import psycopg

    return psycopg.errors


def test_schema_versions_are_detected(ct_db: str) -> None:
    b = _backend(ct_db)
    with b.db.transaction() as cur:
        schema = b.schema(cur)
    corpus = len(ctw.ddl_texts()) == 2
    assert schema.version == ("1.1.0" if corpus else "1.0.0")
    assert schema.has_parameters_table and not schema.has_scope
    with ctw.admin(ct_db) as conn:
        conn.execute("ALTER TABLE global_measurement_overview ADD COLUMN scope TEXT")
    b2 = _backend(ct_db)
    with b2.db.transaction() as cur:
        assert b2.schema(cur).version == "1.2.0" and b2.schema(cur).has_scope
    b.close()
    b2.close()


def test_memory_stays_below_twice_the_largest_array(
    writer: ctw.Writer, ct_db: str, tmp_path: Path
) -> None:
    import tracemalloc

    x, y = np.arange(1500.0), np.arange(1000.0)
    vals = np.add.outer(x, y * 1e-3)
    h = writer.complete(
        "huge",
        [ctw.MParam([ctw.Output("s", "V", vals)], [ctw.Axis("a", "V", x), ctw.Axis("b", "V", y)])],
    )
    del vals
    b = _backend(ct_db)
    small = writer.complete("warm-up", ctw.one_d("x", 10))
    _export(b, small.uuid, tmp_path / "warm.hdf5")  # imports and caches: not the reader's
    with b.db.transaction() as cur:
        meas = read_measurement(cur, b.schema(cur), h.uuid)
        tracemalloc.start()
        try:
            write_measurement(cur, meas, tmp_path / "huge.hdf5")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    largest = 1500 * 1000 * 8
    assert peak < 2 * largest, f"peak {peak / 2**20:.1f} MiB for a {largest / 2**20:.1f} MiB array"
    ds = xr.open_dataset(tmp_path / "huge.hdf5", engine="h5netcdf")
    assert ds["s"].shape == (1500, 1000) and float(ds["s"][1499, 999]) == 1499 + 0.999
    ds.close()


def test_failed_connects_back_off(postgres: None) -> None:
    from etiket_sync_agent.backends.core_tools.reader import CoreToolsConnectionError

    b = _backend("ct_no_such_db", port=1)  # nothing listens on port 1
    with pytest.raises(CoreToolsConnectionError, match="cannot connect") as first:
        b.get_new_datasets(None)
    assert "reachable at 127.0.0.1:1" in (first.value.hint or "")
    # within the pause the same error comes back without contacting the server
    with pytest.raises(CoreToolsConnectionError) as again:
        b.get_new_datasets(None)
    assert again.value is first.value
