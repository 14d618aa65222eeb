"""read_run_xarray against QCoDeS' own ``load_by_id(...).to_xarray_dataset()``.

The runs are written by real QCoDeS (see ``reader_support.build_reference_db``) with values
that survive SQLite's 15-digit rendering, so the two exports must be *identical*.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from etiket_sync_agent.backends.qcodes.reader import (
    QCoDeSRunNotFoundError,
    read_run_metadata,
    read_run_xarray,
)
from etiket_sync_agent.backends.qcodes.reader.connections import read_with_retry
from etiket_sync_agent.backends.qcodes.reader.export import assemble_dataset, load_run
from tests.backends.qcodes.reader_support import (
    RUN_KINDS,
    assert_identical_to_qcodes,
    qcodes_connect,
    qcodes_export,
    round_like_sqlite_text,
)

pytest.importorskip("qcodes")


@pytest.fixture(scope="module")
def qcodes_exports(reference_db: tuple[Path, dict[str, int]]) -> dict[str, object]:
    path, runs = reference_db
    conn = qcodes_connect(path)
    try:
        return {name: qcodes_export(path, run_id, conn) for name, run_id in runs.items()}
    finally:
        conn.close()


@pytest.mark.parametrize("kind", RUN_KINDS)
def test_identical_to_qcodes_export(kind, reference_db, qcodes_exports) -> None:
    path, runs = reference_db
    ours = read_run_xarray(path, runs[kind])
    assert_identical_to_qcodes(ours, qcodes_exports[kind])


@pytest.mark.parametrize("kind", RUN_KINDS)
def test_fast_paths_equal_the_pandas_route(kind, reference_db) -> None:
    """The numpy fast paths must build exactly what QCoDeS' pandas route builds."""
    path, runs = reference_db
    meta, trees = read_with_retry(path, lambda conn: load_run(conn, runs[kind]))
    fast = assemble_dataset(meta, trees)
    if all(t.axis_coords is None for t in trees):
        slow = assemble_dataset(meta, trees, fast=False)
        assert_identical_to_qcodes(fast, slow)


def test_layouts_as_qcodes_lays_them_out(reference_db) -> None:
    """Spot checks of what the identity tests cover, so a failure there reads clearly."""
    path, runs = reference_db
    grid = read_run_xarray(path, runs["grid_noshape"])
    assert dict(grid.sizes) == {"x": 3, "y": 4}
    assert list(grid.x.values) == [1.0, 2.0, 3.0]  # sorted although swept 3, 2, 1
    scatter = read_run_xarray(path, runs["scatter"])
    assert set(scatter.dims) == {"multi_index"}
    repeats = read_run_xarray(path, runs["repeats"])
    assert set(repeats.dims) == {"index"} and "x" in repeats.data_vars
    partial = read_run_xarray(path, runs["grid_partial"])
    assert np.isnan(partial.z.values).sum() == 2
    spectra = read_run_xarray(path, runs["array_shapes"])
    assert dict(spectra.spectrum.sizes) == {"x": 3, "freq": 8}
    mixed = read_run_xarray(path, runs["mixed"])
    assert mixed.a_sq.dims == ("x",) and mixed.temperature.dims == ("index",)
    assert mixed.a.attrs["units"] == "A" and mixed.a.attrs["depends_on"] == ["x"]
    derived = read_run_xarray(path, runs["derived_axis"])
    assert derived.x_mv.dims == ("x",) and "x_mv" in derived.coords


def test_dataset_attributes(reference_db) -> None:
    path, runs = reference_db
    ds = read_run_xarray(path, runs["sweep_1d"])
    assert ds.attrs["inspectr_tag"] == "star"
    assert ds.attrs["ds_name"] == "sweep 1d"
    assert ds.attrs["exp_name"] == "reader tests" and ds.attrs["sample_name"] == "chip A"
    assert ds.attrs["run_id"] == runs["sweep_1d"]
    assert ds.attrs["snapshot"].startswith("{")
    live = read_run_xarray(path, runs["incomplete"])
    assert live.attrs["completed_timestamp"] == "" and live.attrs["completed_timestamp_raw"] == -1
    assert live.sizes["x"] == 5


def test_read_by_guid_and_max_rows(reference_db) -> None:
    path, runs = reference_db
    guid = read_run_metadata(path, runs["grid_noshape"]).guid
    by_guid = read_run_xarray(path, guid)
    assert by_guid.attrs["run_id"] == runs["grid_noshape"]
    first_rows = read_run_xarray(path, runs["sweep_1d"], max_rows=10)
    # the two dependents are saved in alternating rows: 10 rows = 5 points each
    assert first_rows.sizes["x"] == 5
    assert list(first_rows.x.values) == list(read_run_xarray(path, runs["sweep_1d"]).x.values[:5])
    with pytest.raises(QCoDeSRunNotFoundError):
        read_run_xarray(path, 999)


def test_values_are_the_stored_doubles(tmp_path: Path) -> None:
    """Intentional difference: QCoDeS reads numbers through SQLite's 15-digit text
    rendering (0.1 + 0.2 comes back as 0.3); we return the stored double."""
    from qcodes.dataset import (
        Measurement,
        initialise_or_create_database_at,
        load_or_create_experiment,
    )
    from qcodes.parameters import ManualParameter

    path = tmp_path / "precision.db"
    initialise_or_create_database_at(path)
    exp = load_or_create_experiment("precision", sample_name="s")
    x, z = ManualParameter("x"), ManualParameter("z")
    meas = Measurement(exp=exp)
    meas.register_parameter(x)
    meas.register_parameter(z, setpoints=(x,))
    values = np.array([0.1 + 0.2, 1 / 3, np.pi * 1e-9, 2.0**0.5])
    with meas.run() as ds:
        for i, v in enumerate(values):
            ds.add_result((x, i), (z, v))
    ours = read_run_xarray(path, ds.run_id)
    np.testing.assert_array_equal(ours.z.values, values)
    stored = (
        sqlite3.connect(path)
        .execute(f'SELECT z FROM "{ds.dataset.table_name}" ORDER BY id')
        .fetchall()
    )
    assert [r[0] for r in stored] == list(values)
    theirs = qcodes_export(path, ds.run_id)
    assert not np.array_equal(theirs.z.values, values)
    ours["z"] = ours.z.copy(data=round_like_sqlite_text(ours.z.values))
    assert_identical_to_qcodes(ours, theirs)
