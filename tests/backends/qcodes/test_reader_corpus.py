"""Every QCoDeS database of the shared corpus (schema v0..v9 and its oddities).

For each file: every run is read (a dataset, or a clear QCoDeSFormatError), compared with
QCoDeS' own export made from a *copy* (QCoDeS upgrades files in place), written as NetCDF
and read back - and the corpus file is byte-identical afterwards with no side files.

What QCoDeS 0.58 itself cannot do with these files, and what we do instead:

* schema v0 files with runs fail QCoDeS' v0->v1 upgrade under the default config (GUID
  sample check); with ``GUID_type = explicit_sample`` they upgrade. We read them as they
  are and derive the same GUIDs the upgrade would.
* ``version4a/some_runs.db`` needs ``fix_version_4a_run_description_bug`` before QCoDeS can
  open it; we recognise the new-style description directly.
* the v2/v3 fixture files with an inferred parameter shared by two trees with different
  rows: QCoDeS' ``to_xarray_dataset`` raises MergeError; we keep the first tree's values.
* the 2017 prototype (``microsoft__Qcodes@86ae95e/.../experiments.db``) has no layouts
  table: QCoDeS exports empty datasets; we expose the result-table columns as
  standalone parameters.
* ``my_test_db.sqlite`` is not a QCoDeS database: QCoDeSFormatError.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr

from etiket_sync_agent.backends.qcodes.reader import (
    QCoDeSFormatError,
    list_runs,
    read_run_metadata,
    read_run_xarray,
    write_run_netcdf,
)
from tests.backends.qcodes.reader_support import (
    CORPUS_MISSING,
    QCODES_CORPUS,
    assert_close_to_qcodes,
    copy_db,
    corpus_databases,
    qcodes_connect,
    qcodes_export,
    sha256,
    side_files,
)

pytest.importorskip("qcodes")

DATABASES = corpus_databases() or [
    pytest.param(None, marks=pytest.mark.skip(reason=CORPUS_MISSING))
]
NOT_QCODES = {
    "stephanlphilips__core_tools@f0476e5/core_tools/job_mgnt/calibrations/test/my_test_db.sqlite"
}
PROTOTYPE = "microsoft__Qcodes@86ae95e/docs/examples/experiments.db"
QCODES_MERGE_ERROR = {
    "QCoDeS__qcodes_db_fixtures@8949196/version2/some_runs.db",
    "QCoDeS__qcodes_db_fixtures@8949196/version3/some_runs_upgraded_2.db",
    "QCoDeS__qcodes_db_fixtures@8949196/version3/some_runs_without_run_description.db",
}


def _rel(path: Path | None) -> str:
    return path.relative_to(QCODES_CORPUS).as_posix() if path else "no-corpus"


def test_corpus_is_complete() -> None:
    if not QCODES_CORPUS.is_dir():
        pytest.skip(CORPUS_MISSING)
    assert len(DATABASES) == 33


@pytest.mark.parametrize("path", DATABASES, ids=_rel)
def test_corpus_database(path: Path, tmp_path: Path) -> None:
    rel = _rel(path)
    before = sha256(path)
    sides_before = side_files(path)

    if rel in NOT_QCODES:
        with pytest.raises(QCoDeSFormatError, match="not a QCoDeS database"):
            list_runs(path)
        assert sha256(path) == before and side_files(path) == sides_before
        return

    runs = list_runs(path)
    ours = {info.run_id: read_run_xarray(path, info.run_id) for info in runs}
    for run_id, ds in ours.items():
        out = write_run_netcdf(path, run_id, tmp_path / f"run{run_id}.nc")
        with xr.open_dataset(out, engine="h5netcdf") as back:
            assert set(back.data_vars) == set(ds.data_vars)
            assert back.attrs["guid"] == ds.attrs["guid"]

    assert sha256(path) == before, "the corpus file changed"
    assert side_files(path) == sides_before, "side files appeared next to the corpus file"

    copy = copy_db(path, tmp_path)
    conn = qcodes_connect(copy, fix_4a=rel.endswith("version4a/some_runs.db"))
    try:
        for run_id, ds in ours.items():
            try:
                theirs = qcodes_export(copy, run_id, conn)
            except xr.MergeError:
                assert rel in QCODES_MERGE_ERROR, f"QCoDeS failed on run {run_id}"
                assert ds.sizes  # we still give the data
                continue
            if rel == PROTOTYPE and not theirs.data_vars:
                meta = read_run_metadata(path, run_id)
                assert meta.description.source in ("result_table", "empty")
                continue
            assert_close_to_qcodes(ds, theirs)
            assert list(ds.variables) == list(theirs.variables)
    finally:
        conn.close()
