"""Runs too large to arrange in memory: numeric ones are streamed as flat columns, others
are refused with a clear error; memory stays bounded (measured with tracemalloc)."""

from __future__ import annotations

import gc
import shutil
import sqlite3
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from etiket_sync_agent.backends.qcodes.reader import (
    QCoDeSRunTooLarge,
    read_run_metadata,
    write_run_netcdf,
)
from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import datasets, sources
from tests.conftest import FAST
from tests.helpers import items_by_id

pytest.importorskip("qcodes")

NUMERIC_KINDS = [
    "sweep_1d",
    "grid_noshape",
    "grid_partial",
    "scatter",
    "repeats",
    "derived_axis",
    "special_values",
    "incomplete",
]


def _raw_columns(db: Path, run_id: int) -> dict[str, dict[str, np.ndarray]]:
    """Per tree top: every tree member's stored values where the top is not NULL."""
    meta = read_run_metadata(db, run_id)
    interdeps = meta.description.interdeps
    out = {}
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
        for top in interdeps.top_level_parameters:
            _, deps, inferred = interdeps.tree(top)
            cols = {}
            for name in (top, *deps, *inferred):
                rows = conn.execute(
                    f'SELECT "{name}" FROM "{meta.info.result_table_name}"'
                    f' WHERE "{top}" IS NOT NULL ORDER BY id'
                ).fetchall()
                cols[name] = np.array([np.nan if r[0] is None else r[0] for r in rows], float)
            out[top] = cols
    return out


@pytest.mark.parametrize("kind", NUMERIC_KINDS)
def test_numeric_runs_over_the_limit_are_stored_as_flat_columns(
    kind, reference_db, tmp_path
) -> None:
    path, runs = reference_db
    warnings: list[str] = []
    out = write_run_netcdf(
        path, runs[kind], tmp_path / "flat.nc", memory_limit=1, warn=warnings.append
    )
    raw = _raw_columns(path, runs[kind])
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        ds = ds.load()
    assert "flat columns" in ds.attrs["etiket_layout"]
    assert ds.attrs["guid"] == read_run_metadata(path, runs[kind]).guid
    assert len(warnings) == 1 and "flat columns" in warnings[0]
    seen = set()
    for top, cols in raw.items():
        dim = "index" if len(raw) == 1 else f"{top}_index"
        for name, values in cols.items():
            var = name if name not in seen else f"{name}_{top}"
            seen.add(var)
            assert ds[var].dims == (dim,)
            np.testing.assert_array_equal(ds[var].values, values)
            assert ds[var].attrs["units"] == ds[var].attrs["unit"]


def test_a_complete_shaped_run_is_streamed_on_its_grid_whatever_the_limit(
    reference_db, tmp_path
) -> None:
    path, runs = reference_db
    limited = write_run_netcdf(path, runs["grid_shapes"], tmp_path / "a.nc", memory_limit=1)
    unlimited = write_run_netcdf(path, runs["grid_shapes"], tmp_path / "b.nc", memory_limit=None)
    with (
        xr.open_dataset(limited, engine="h5netcdf") as a,
        xr.open_dataset(unlimited, engine="h5netcdf") as b,
    ):
        assert "etiket_layout" not in a.attrs
        xr.testing.assert_identical(a.load(), b.load())


@pytest.mark.parametrize("kind", ["array", "complex_text"])
def test_array_and_text_runs_over_the_limit_are_refused_clearly(
    kind, reference_db, tmp_path
) -> None:
    path, runs = reference_db
    with pytest.raises(QCoDeSRunTooLarge) as err:
        write_run_netcdf(path, runs[kind], tmp_path / "x.nc", memory_limit=1)
    assert "memory limit" in err.value.message and err.value.retryable is False
    assert "in_memory_limit_mb" in (err.value.hint or "")
    assert not (tmp_path / "x.nc").exists()


@pytest.fixture(scope="module")
def big_unshaped_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A 200 x 250 grid written without shapes (50k rows, 1.2 MB of values)."""
    from qcodes.dataset import (
        Measurement,
        initialise_or_create_database_at,
        load_or_create_experiment,
    )
    from qcodes.parameters import ManualParameter

    db = tmp_path_factory.mktemp("big") / "big.db"
    initialise_or_create_database_at(db)
    exp = load_or_create_experiment("memory", sample_name="s")
    x, y, z = (ManualParameter(n, unit="V") for n in "xyz")
    m = Measurement(exp=exp, name="no shapes")
    m.register_parameter(x)
    m.register_parameter(y)
    m.register_parameter(z, setpoints=(x, y))
    xs, ys = np.meshgrid(np.linspace(0, 1, 200), np.linspace(-1, 1, 250), indexing="ij")
    with m.run() as ds:
        ds.add_result((x, xs.ravel()), (y, ys.ravel()), (z, (xs * ys).ravel()))
    gc.collect()
    return db, ds.run_id


def _peak_bytes(run) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streaming_a_run_over_the_limit_keeps_memory_below_its_size(
    big_unshaped_db, tmp_path
) -> None:
    db, run_id = big_unshaped_db
    values_bytes = 50_000 * 3 * 8
    write_run_netcdf(db, run_id, tmp_path / "warm.nc", memory_limit=None)  # imports, caches
    in_memory = _peak_bytes(
        lambda: write_run_netcdf(db, run_id, tmp_path / "grid.nc", memory_limit=None)
    )
    streamed = _peak_bytes(
        lambda: write_run_netcdf(
            db, run_id, tmp_path / "flat.nc", memory_limit=64 * 1024, batch_rows=2000
        )
    )
    assert in_memory > values_bytes  # the measurement sees the arrays it should
    assert streamed < values_bytes / 4, (streamed, in_memory)
    with (
        xr.open_dataset(tmp_path / "flat.nc", engine="h5netcdf") as flat,
        xr.open_dataset(tmp_path / "grid.nc", engine="h5netcdf") as grid,
    ):
        # the same values: the grid is the flat columns arranged
        assert flat.sizes["index"] == 50_000
        np.testing.assert_array_equal(np.sort(flat["z"].values), np.sort(grid["z"].values.ravel()))


def test_the_backend_streams_big_runs_and_refuses_big_array_runs(
    runtime: Runtime, reference_db, tmp_path
) -> None:
    path, runs = reference_db
    db = tmp_path / "copy.db"
    shutil.copyfile(path, db)  # a quiet copy: the reference database stays as it is
    runtime.store.create_scope("lab")
    sources.add_source(
        runtime,
        "qcodes",
        "big",
        scope="lab",
        settings={
            "database_path": str(db),
            "in_memory_limit_mb": "0.000001",
            "live_timeout_s": "0",
        },
    )
    SyncEngine(runtime, FAST).run(once=True)
    guids = {kind: read_run_metadata(db, run_id).guid for kind, run_id in runs.items()}
    items = items_by_id(runtime, "big")
    flat = items[guids["grid_noshape"]]
    assert flat["status"] == "synchronized"
    shown = sources.show_item(runtime, "big", guids["grid_noshape"])
    assert any("flat columns" in w for r in shown["records"] for w in r["warnings"])
    d = datasets.show_dataset(runtime, flat["dataset_uuid"])
    assert [f["name"] for f in d["files"]] == ["measured_data.hdf5"]
    refused = items[guids["array"]]
    assert refused["status"] == "failed" and refused["next_retry"] is None
    assert "memory limit" in refused["last_error"]
    assert items[guids["grid_shapes"]]["status"] == "synchronized"
    # what the error's hint says: raise the limit, retry
    sources.edit_source(runtime, "big", {"in_memory_limit_mb": "64"})
    failed = [i for i in items.values() if i["status"] == "failed"]
    assert all("memory limit" in i["last_error"] for i in failed)
    assert sources.retry(runtime, "big") == len(failed)
    SyncEngine(runtime, FAST).run(once=True)
    assert {i["status"] for i in items_by_id(runtime, "big").values()} == {"synchronized"}


def test_the_memory_limit_must_be_positive(runtime: Runtime, reference_db) -> None:
    from etiket_sync_agent.errors import ConfigError

    path, _ = reference_db
    runtime.store.create_scope("lab")
    with pytest.raises(ConfigError, match="in_memory_limit_mb"):
        sources.add_source(
            runtime,
            "qcodes",
            "bad",
            scope="lab",
            settings={"database_path": str(path), "in_memory_limit_mb": "0"},
        )


def test_a_live_run_over_the_limit_is_streamed_while_measured_and_when_complete(
    runtime: Runtime, tmp_path
) -> None:
    from tests.backends.qcodes.test_sync_backend import _file_status, _start_writer
    from tests.helpers import item_status, running_engine, wait_for

    db = tmp_path / "live.db"
    writer, guid = _start_writer(db, 300, 0.01)
    runtime.store.create_scope("qubits")
    settings = {"database_path": str(db), "in_memory_limit_mb": "0.000001"}
    sources.add_source(runtime, "qcodes", "fridge", scope="qubits", settings=settings)

    def stored() -> xr.Dataset:
        ds = runtime.store.find_dataset(scope="qubits", alt_uid=guid)
        with runtime.store.open_file(ds.uuid, "measured_data.hdf5") as fh:
            data = fh.read()
        path = tmp_path / f"copy-{len(data)}.nc"
        path.write_bytes(data)
        with xr.open_dataset(path, engine="h5netcdf") as opened:
            return opened.load()

    with running_engine(runtime, FAST):
        # once it has rows (the first pass may see none), the live file is flat columns
        assert wait_for(
            lambda: (
                _file_status(runtime, guid) == "live"
                and "flat columns" in stored().attrs.get("etiket_layout", "")
            ),
            timeout=60,
        )
        writer.wait(60)
        assert wait_for(
            lambda: item_status(runtime, guid, source="fridge") == "synchronized", timeout=60
        )
    final = stored()
    assert _file_status(runtime, guid) == "complete"
    assert "flat columns" in final.attrs["etiket_layout"] and final.sizes["index"] == 300
    np.testing.assert_array_equal(final["current"].values, (np.arange(300) * 0.1) ** 2)
