"""Every QCoDeS database of the shared corpus through the whole agent, read in place."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from etiket_sync_agent.backends.qcodes.reader import list_runs
from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.errors import ConfigError
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import datasets, sources
from tests.backends.qcodes.reader_support import (
    copy_db,
    corpus_databases,
    qcodes_connect,
    qcodes_export,
)
from tests.conftest import FAST, require_corpus


def _tree_state(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_every_run_of_every_corpus_database_reaches_the_store(runtime: Runtime) -> None:
    corpus = require_corpus("qcodes")
    before = _tree_state(corpus)
    runtime.store.create_scope("corpus")
    added: dict[str, Path] = {}
    refused: dict[str, str] = {}
    # every SQLite file, whatever its suffix: the content decides what is QCoDeS
    for i, db in enumerate(corpus_databases()):
        name = f"db{i:02d}"
        # the corpus is an archive: no process writes it. Its files' mtimes are the
        # checkout's, so with the default timeout an unfinished newest run would stay
        # live for ten minutes; a zero timeout finalizes it at once.
        settings = {"database_path": str(db), "live_timeout_s": "0"}
        try:
            sources.add_source(runtime, "qcodes", name, scope="corpus", settings=settings)
            added[name] = db
        except ConfigError as exc:
            refused[str(db.relative_to(corpus))] = exc.message
    # only files that are not QCoDeS databases may be refused, each with a clear reason
    for rel, why in refused.items():
        assert "not a QCoDeS database" in why or "not an SQLite" in why, (rel, why)
    assert len(added) >= 25
    SyncEngine(runtime, FAST).run(once=True)
    total = 0
    warned: dict[str, int] = {}
    for name, db in added.items():
        items = sources.list_items(runtime, name)
        runs = list_runs(db)
        assert {i["identifier"] for i in items} == {r.guid for r in runs}, db
        for item in items:
            assert item["status"] == "synchronized", (db, item["last_error"])
            d = datasets.show_dataset(runtime, item["dataset_uuid"])
            assert [f["name"] for f in d["files"]] == ["measured_data.hdf5"]
            # data warnings are on the item's record, naming the source, database and run
            for warning in item["warnings"]:
                assert warning.startswith(f"source {name}: run "), warning
                assert f" of {db} " in warning, warning
                warned[name] = warned.get(name, 0) + 1
        total += len(items)
    assert total > 100
    # the v2/v3 fixtures hold runs whose trees disagree on a shared inferred parameter
    assert len(warned) >= 3 and sum(warned.values()) >= 20, warned
    assert any(db.suffix == ".sqlite" for db in corpus_databases())
    assert _tree_state(corpus) == before, "the corpus changed or got side files"


@pytest.mark.parametrize("version", ["version5", "version7", "version8"])
def test_corpus_runs_equal_qcodes_export(runtime: Runtime, tmp_path: Path, version: str) -> None:
    """What the agent stored equals qcodes' own export (made from a copy: qcodes upgrades)."""
    import cf_xarray  # qcodes depends on it: decodes the gathered multi-index
    import xarray as xr

    pytest.importorskip("qcodes")
    corpus = require_corpus("qcodes")
    src = corpus / "QCoDeS__qcodes_db_fixtures@8949196" / version / "some_runs.db"
    runtime.store.create_scope("corpus")
    sources.add_source(runtime, "qcodes", "v", scope="corpus", settings={"database_path": str(src)})
    SyncEngine(runtime, FAST).run(once=True)
    copy = copy_db(src, tmp_path)
    conn = qcodes_connect(copy)
    try:
        items = sources.list_items(runtime, "v")
        assert items and {i["status"] for i in items} == {"synchronized"}
        for item in items:
            run_id = next(r.run_id for r in list_runs(src) if r.guid == item["identifier"])
            theirs = qcodes_export(copy, run_id, conn)
            out = tmp_path / item["identifier"]
            datasets.export_dataset(runtime, item["dataset_uuid"], out)
            with xr.open_dataset(out / "measured_data.hdf5", engine="h5netcdf") as got:
                ours = got.load()
            if "multi_index" in ours.dims:
                ours = cf_xarray.decode_compress_to_multi_index(ours, "multi_index")
            # the reader's exact equality is tested in test_reader_*; here: what reached
            # the store through NetCDF holds the same data, coordinates and units
            assert set(ours.data_vars) == set(theirs.data_vars)
            for name in [*theirs.data_vars, *theirs.coords]:
                if name == "multi_index":
                    continue
                assert ours[name].dims == theirs[name].dims, name
                assert ours[name].attrs.get("units") == theirs[name].attrs.get("units")
                np.testing.assert_allclose(
                    ours[name].values, theirs[name].values, rtol=1e-14, equal_nan=True
                )
    finally:
        conn.close()
