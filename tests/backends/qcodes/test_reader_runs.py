"""list_runs / runs_since / read_run_metadata against what QCoDeS reports."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from etiket_sync_agent.backends.qcodes.reader import (
    QCoDeSFormatError,
    QCoDeSRunNotFoundError,
    list_runs,
    read_run_metadata,
    read_run_xarray,
    runs_since,
)
from tests.backends.qcodes.reader_support import qcodes_connect

pytest.importorskip("qcodes")


def test_list_runs_matches_qcodes(reference_db) -> None:
    from qcodes.dataset import load_by_id

    path, runs = reference_db
    listed = list_runs(path)
    assert [r.run_id for r in listed] == sorted(runs.values())
    conn = qcodes_connect(path)
    try:
        for info in listed:
            ds = load_by_id(info.run_id, conn=conn)
            assert info.guid == ds.guid and not info.guid_synthesized
            assert info.name == ds.name
            assert (info.exp_name, info.sample_name) == (ds.exp_name, ds.sample_name)
            assert info.is_completed == ds.completed
            assert info.run_timestamp == ds.run_timestamp_raw
            assert info.completed_timestamp == ds.completed_timestamp_raw
            assert info.captured_run_id == ds.captured_run_id
            assert info.result_table_name == ds.table_name
            assert info.result_rows == ds.number_of_results
            assert info.metadata == {k: v for k, v in ds.metadata.items()}
    finally:
        conn.close()
    by_id = {r.run_id: r for r in listed}
    assert by_id[runs["sweep_1d"]].metadata == {"inspectr_tag": "star"}
    assert not by_id[runs["incomplete"]].is_completed


def test_runs_since_lists_only_newer_runs(reference_db) -> None:
    path, runs = reference_db
    newest = max(runs.values())
    assert [r.run_id for r in runs_since(path, newest - 2)] == [newest - 1, newest]
    assert runs_since(path, newest) == []
    assert len(runs_since(path, 0)) == len(runs)


def test_run_metadata_describes_the_parameters(reference_db) -> None:
    path, runs = reference_db
    meta = read_run_metadata(path, runs["array_shapes"])
    interdeps = meta.description.interdeps
    assert interdeps.top_level_parameters == ("spectrum",)
    assert interdeps.dependencies == {"spectrum": ("x", "freq")}
    assert interdeps["spectrum"].type == "array" and interdeps["freq"].unit == "Hz"
    assert meta.description.shapes == {"spectrum": [3, 8]}
    assert meta.description.source == "run_description"
    assert meta.snapshot_dict() is not None and meta.parent_dataset_links == []
    mixed = read_run_metadata(path, runs["mixed"]).description.interdeps
    assert mixed.inferences == {"a_sq": ("a",)}
    assert mixed.standalones == ("temperature",)
    assert read_run_metadata(path, meta.guid).run_id == runs["array_shapes"]
    with pytest.raises(QCoDeSRunNotFoundError):
        read_run_metadata(path, "00000000-0000-0000-0000-000000000000")


def _broken_copy(reference_db, tmp_path: Path, sql: str) -> tuple[Path, int]:
    path, runs = reference_db
    copy = tmp_path / "broken.db"
    conn = sqlite3.connect(path)
    conn.execute("VACUUM INTO ?", (str(copy),))  # a consistent copy of a WAL database
    conn.close()
    conn = sqlite3.connect(copy)
    table = conn.execute(
        "SELECT result_table_name FROM runs WHERE run_id = ?", (runs["sweep_1d"],)
    ).fetchone()[0]
    conn.execute(sql.format(table=table), (runs["sweep_1d"],) if "?" in sql else ())
    conn.commit()
    conn.close()
    return copy, runs["sweep_1d"]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("UPDATE runs SET run_description = '{{not json' WHERE run_id = ?", "not valid JSON"),
        (
            "UPDATE runs SET run_description = '{{\"version\": 3}}' WHERE run_id = ?",
            "no interdependencies",
        ),
        ('DROP TABLE "{table}"', "result table 'results-1-1' is missing"),
        ('ALTER TABLE "{table}" DROP COLUMN w', "has no column for parameter"),
    ],
)
def test_broken_runs_are_format_errors(reference_db, tmp_path, sql, message) -> None:
    copy, run_id = _broken_copy(reference_db, tmp_path, sql)
    with pytest.raises(QCoDeSFormatError, match=message):
        read_run_xarray(copy, run_id)
    others = [r.run_id for r in list_runs(copy) if r.run_id != run_id]
    read_run_xarray(copy, others[0])  # the rest of the database stays readable


def test_guid_is_synthesized_for_v0_databases_as_qcodes_upgrade_does(tmp_path: Path) -> None:
    from tests.backends.qcodes.reader_support import QCODES_CORPUS

    src = QCODES_CORPUS / "nanophys__MeasureIt@653ffb3" / "experiments.db"
    if not src.exists():
        pytest.skip("shared corpus not found at ../shared/corpus")
    ours = list_runs(src)
    assert all(r.guid_synthesized for r in ours)
    copy = tmp_path / src.name
    shutil.copyfile(src, copy)
    conn = qcodes_connect(copy)
    try:
        from qcodes.dataset import load_by_id

        for info in ours[:10]:
            assert info.guid == load_by_id(info.run_id, conn=conn).guid
    finally:
        conn.close()


def test_runs_are_found_by_guid_through_a_remembered_run_id(reference_db) -> None:
    from etiket_sync_agent.backends.qcodes.reader import open_readonly

    path, _ = reference_db
    listed = list_runs(path, with_row_counts=False)
    conn = open_readonly(path)
    try:
        for info in listed:
            assert read_run_metadata(conn, info.guid).run_id == info.run_id
        assert conn.guid_run_ids == {i.guid: i.run_id for i in listed}
        # a stale entry (run ids are not GUIDs: another file, a rebuilt database) is
        # detected by the GUID check and the run is looked up again
        first, second = listed[0], listed[1]
        conn.guid_run_ids[first.guid] = second.run_id
        assert read_run_metadata(conn, first.guid).run_id == first.run_id
        assert conn.guid_run_ids[first.guid] == first.run_id
        with pytest.raises(QCoDeSRunNotFoundError):
            read_run_metadata(conn, "00000000-0000-0000-0000-000000000000")
    finally:
        conn.close()


def test_newest_run_is_the_last_of_list_runs(reference_db, tmp_path: Path) -> None:
    from etiket_sync_agent.backends.qcodes.reader import newest_run

    path, _ = reference_db
    listed = list_runs(path)
    assert newest_run(path) == listed[-1]
    empty = tmp_path / "empty.db"
    shutil.copyfile(path, empty)
    with sqlite3.connect(empty) as conn:
        conn.execute("DELETE FROM runs")
    assert newest_run(empty) is None
