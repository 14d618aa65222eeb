"""`run --dry-run` in process: real folders, a real QCoDeS database, the real engine and
store. The home stays byte-identical, and the report is what a real run then stores."""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
from pathlib import Path

import pytest

from etiket_sync_agent.engine.dry_run import dry_run
from etiket_sync_agent.home import Home
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources
from tests.conftest import FAST
from tests.helpers import add_folder_source, make_dataset, run_once
from tests.store.conftest import make_pg_database, postgres_server  # noqa: F401 - fixtures


def files_of(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the sha256 of its bytes."""
    return {
        os.path.relpath(os.path.join(d, f), root): hashlib.sha256(
            Path(d, f).read_bytes()
        ).hexdigest()
        for d, _, names in os.walk(root)
        for f in names
    }


def stored(rt: Runtime, names: set[str]) -> dict[tuple, dict[str, tuple[int, int]]]:
    """(source, scope, name, tags) -> file -> (latest version, size), for those sources."""
    out = {}
    for d in rt.store.list_datasets():
        if d.source in names:
            files = rt.store.get_dataset(d.uuid).files
            key = (d.source, d.scope, d.name, tuple(d.tags))
            out[key] = {f.name: (f.latest.version, f.latest.size) for f in files}
    return out


def reported(report: dict) -> dict[tuple, dict[str, tuple[int, int]]]:
    return {
        (d["source"], d["scope"], d["name"], tuple(d["tags"])): {
            f["name"]: (f["version"], f["size"]) for f in d["files"]
        }
        for d in report["datasets"]
    }


@pytest.fixture
def lab(home: Home, tmp_path: Path) -> dict:
    """A home with a folder source and a QCoDeS source, closed (no connection open)."""
    pytest.importorskip("qcodes")
    from tests.backends.qcodes.test_sync_backend import _make_db

    root = tmp_path / "folders"
    make_dataset(root, "a", {"x.csv": "t,v\n0,1\n", "sub/raw.bin": b"\x00" * 300},
                 name="Sweep A", tags=["t1"])  # fmt: skip
    make_dataset(root, "b", name="Sweep B")
    db = tmp_path / "q" / "experiments.db"
    db.parent.mkdir()
    _make_db(db, n_runs=2)
    gc.collect()  # qcodes' connections close: a quiet database
    rt = Runtime(home)
    add_folder_source(rt, root)
    rt.store.create_scope("qubits")
    sources.add_source(rt, "qcodes", "fridge", scope="qubits",
                       settings={"database_path": str(db), "set_up": "fridge-2"})  # fmt: skip
    rt.close()
    return {"root": root, "db": db}


def test_dry_run_changes_nothing_and_reports_what_a_real_run_stores(home: Home, lab: dict) -> None:
    before = files_of(home.data_dir)
    assert {"state.db", "store/catalog.db"} <= set(before)
    report = dry_run(home, settings=FAST)
    assert files_of(home.data_dir) == before  # same files, same bytes, nothing new
    assert report["sources"] == ["fridge", "lab"] and report["problems"] == []
    assert {d["action"] for d in report["datasets"]} == {"new"}
    assert len(report["datasets"]) == 4
    a = next(d for d in report["datasets"] if d["name"] == "Sweep A")
    assert a["scope"] == "proj" and a["tags"] == ["t1"]
    assert {f["name"]: (f["action"], f["size"]) for f in a["files"]} == {
        "x.csv": ("new", 8), "sub/raw.bin": ("new", 300),
    }  # fmt: skip
    assert report["totals"]["datasets"]["new"] == 4
    assert report["totals"]["bytes"] == sum(
        f["size"] for d in report["datasets"] for f in d["files"]
    )

    rt = Runtime(home)
    try:
        assert run_once(rt, FAST).failed == 0
        assert stored(rt, {"lab", "fridge"}) == reported(report)
    finally:
        rt.close()

    # one file changes: the next dry run reports exactly that one as a new version
    (lab["root"] / "a" / "x.csv").write_text("t,v\n0,1\n1,4\n")
    before = files_of(home.data_dir)
    again = dry_run(home, settings=FAST)
    assert files_of(home.data_dir) == before
    changed = [
        (d["name"], f["name"], f["action"], f["version"])
        for d in again["datasets"]
        for f in d["files"]
        if f["action"] != "unchanged"
    ]
    assert changed == [("Sweep A", "x.csv", "new_version", 2)]
    assert [d["name"] for d in again["datasets"] if d["action"] != "unchanged"] == ["Sweep A"]
    rt = Runtime(home)
    try:
        run_once(rt, FAST)
        assert stored(rt, {"lab"})[("lab", "proj", "Sweep A", ("t1",))]["x.csv"] == (2, 12)
    finally:
        rt.close()


def test_only_the_named_source_and_a_paused_one_is_included(home: Home, lab: dict) -> None:
    rt = Runtime(home)
    sources.set_paused(rt, "fridge", True)
    rt.close()
    before = files_of(home.data_dir)
    assert dry_run(home, settings=FAST)["sources"] == ["lab"]
    report = dry_run(home, {"fridge"}, settings=FAST)
    assert report["sources"] == ["fridge"]
    assert {d["source"] for d in report["datasets"]} == {"fridge"}
    assert len(report["datasets"]) == 2
    assert files_of(home.data_dir) == before  # still paused, nothing written


def test_a_home_without_a_store_reports_everything_new(home: Home, tmp_path: Path) -> None:
    root = tmp_path / "folders"
    make_dataset(root, "a", {"f.txt": "1234"})
    rt = Runtime(home)
    add_folder_source(rt, root)
    rt.close()
    shutil.rmtree(home.store_dir)  # e.g. a store configured but not made yet
    before = files_of(home.data_dir)
    report = dry_run(home, settings=FAST)
    assert files_of(home.data_dir) == before and not home.store_dir.exists()
    assert report["scopes"] == ["proj"]
    [d] = report["datasets"]
    assert d["action"] == "new" and d["files"][0] == {
        "name": "f.txt", "action": "new", "version": 1, "size": 4, "status": "complete",
    }  # fmt: skip


def test_an_empty_home_is_not_created(tmp_path: Path) -> None:
    home = Home.resolve(tmp_path / "nothing")
    report = dry_run(home)
    assert report["sources"] == [] and report["datasets"] == []
    assert not home.data_dir.exists()


def _pg_rows(url: str) -> dict[str, list]:
    """Every row of every table of the catalog database."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]  # fmt: skip
        return {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"'))) for t in tables}


def test_a_postgresql_catalog_is_only_read(
    home: Home,
    tmp_path: Path,
    make_pg_database,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = make_pg_database()
    monkeypatch.setenv("ETIKET_SYNC_STORE_URL", url)
    root = tmp_path / "folders"
    a = make_dataset(root, "a", {"f.txt": "one"}, name="A")
    rt = Runtime(home)
    try:
        add_folder_source(rt, root)
        run_once(rt, FAST)
    finally:
        rt.close()
    (a / "f.txt").write_text("one, then two")
    make_dataset(root, "b", {"g.txt": "new"}, name="B")
    rows, files = _pg_rows(url), files_of(home.data_dir)
    report = dry_run(home, settings=FAST)
    assert _pg_rows(url) == rows and files_of(home.data_dir) == files
    assert {
        (d["name"], f["name"], f["action"], f["version"])
        for d in report["datasets"]
        for f in d["files"]
    } == {("A", "f.txt", "new_version", 2), ("B", "g.txt", "new", 1)}
