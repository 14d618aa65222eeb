"""QCoDeS sources under real-life conditions: a database replaced at the same path, idle
polls that leave the database alone, data warnings on the item's record, settings that
would be silently wrong, a database locked while it is added, any file name."""

from __future__ import annotations

import gc
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from etiket_sync_agent.backends.qcodes.backend import QCoDeSBackend, QCoDeSConfig
from etiket_sync_agent.backends.qcodes.reader import file_state
from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.errors import ConfigError
from etiket_sync_agent.plugins.config import build_config
from etiket_sync_agent.plugins.items import SyncItem
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import datasets, sources
from etiket_sync_agent.state import repository as repo
from etiket_sync_agent.state.models import Item
from tests.backends.qcodes.reader_support import build_disagreeing_trees, side_files
from tests.backends.qcodes.test_sync_backend import _add, _make_db
from tests.conftest import FAST
from tests.helpers import item_status, running_engine, wait_for

pytest.importorskip("qcodes")


def _new_db(path: Path, n_runs: int) -> list[str]:
    """``n_runs`` runs written by QCoDeS into ``path`` (created or appended to), its
    connections closed (the -wal checkpointed away) as a QCoDeS session ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    guids = _make_db(path, n_runs)
    gc.collect()
    return guids


def _items(rt: Runtime, source: str = "fridge") -> dict[str, Item]:
    src = repo.get_source(rt.state, source)
    return {i.identifier: i for i in repo.list_items(rt.state, src.id)}


def _stored_guids(rt: Runtime) -> list[str]:
    rows = datasets.list_datasets(rt, scope="qubits")
    return sorted(datasets.show_dataset(rt, r["uuid"])["alt_uid"] for r in rows)


def test_a_database_replaced_at_the_same_path_is_discovered(
    runtime: Runtime, tmp_path: Path
) -> None:
    db = tmp_path / "lab" / "experiments.db"
    old = _new_db(db, 3)
    _add(runtime, db)
    assert SyncEngine(runtime, FAST).run(once=True).attempted == 3

    # the user moves the full database away and starts a new one under the same name:
    # its run ids restart at 1, below the 3 the agent had seen
    fresh = tmp_path / "elsewhere" / "experiments.db"
    new = _new_db(fresh, 2)
    assert not side_files(fresh)
    os.replace(fresh, db)
    summary = SyncEngine(runtime, FAST).run(once=True)
    assert summary.attempted == 2 and summary.failed == 0
    items = _items(runtime)
    assert {g: items[g].status for g in old + new} == dict.fromkeys(old + new, "synchronized")
    assert [items[g].label for g in new] == ["1", "2"]
    assert _stored_guids(runtime) == sorted(old + new)  # nothing of the old file lost

    # discovery continues from the new file's runs: run 3 of it is found, nothing else
    (third,) = _new_db(db, 1)
    assert SyncEngine(runtime, FAST).run(once=True).attempted == 1
    assert _items(runtime)[third].label == "3"
    assert SyncEngine(runtime, FAST).run(once=True).attempted == 0
    assert len(_stored_guids(runtime)) == 6


def test_idle_polls_do_not_read_the_database_and_a_new_run_is_still_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the database and its -wal keep their stat, discovery and the live check
    answer without reading it - shown with a writer holding it exclusively locked, which
    makes any read fail - and a new run changes the stat and is found."""
    monkeypatch.setattr(file_state, "RACY_S", 0.2)  # files older than this are trusted
    db = tmp_path / "experiments.db"
    _new_db(db, 2)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=DELETE")  # rollback journal: a writer locks readers out
    conn.close()
    backend = QCoDeSBackend(build_config(QCoDeSConfig, {"database_path": str(db)}), "fridge")
    found = backend.get_new_datasets(None)
    assert [(n.label, n.name) for n in found] == [
        ("1", "resonator scan 0"),
        ("2", "resonator scan 1"),
    ]
    last = SyncItem(
        id=2,
        source_name="fridge",
        identifier=found[-1].identifier,
        dataset_uuid="u",
        scope="qubits",
        priority=found[-1].priority,
    )
    assert wait_for(lambda: backend.change_token() is not None, timeout=10)
    token = backend.change_token()
    assert backend.get_new_datasets(last) == []
    assert backend.check_live_dataset(last) is False  # the newest run is complete

    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        for _ in range(3):  # a read would now wait for the lock and fail
            assert backend.get_new_datasets(last) == []
            assert backend.check_live_dataset(last) is False
        assert backend.change_token() == token
    finally:
        writer.execute("ROLLBACK")
        writer.close()

    (guid,) = _new_db(db, 1)
    assert backend.change_token() != token
    assert [(n.identifier, n.label) for n in backend.get_new_datasets(last)] == [(guid, "3")]


def test_a_running_agent_finds_a_new_run_in_an_idle_database(
    runtime: Runtime, tmp_path: Path
) -> None:
    db = tmp_path / "lab" / "experiments.db"
    guids = _new_db(db, 2)
    _add(runtime, db)
    with running_engine(runtime, FAST):
        assert wait_for(
            lambda: all(item_status(runtime, g, "fridge") == "synchronized" for g in guids), 60
        )
        (guid,) = _new_db(db, 1)
        assert wait_for(lambda: item_status(runtime, guid, "fridge") == "synchronized", 60)
    item = _items(runtime)[guid]
    assert (item.label, item.name) == ("3", "resonator scan 0")


def test_data_warnings_are_on_the_items_record(runtime: Runtime, tmp_path: Path, cli) -> None:
    db = tmp_path / "lab" / "trees.db"
    db.parent.mkdir()
    run_id = build_disagreeing_trees(db)
    gc.collect()
    _add(runtime, db)
    assert SyncEngine(runtime, FAST).run(once=True).failed == 0
    (item,) = sources.list_items(runtime, "fridge")
    assert item["status"] == "synchronized"
    (warning,) = item["warnings"]
    assert "trees disagree" in warning and "keeping the first tree's values" in warning
    assert "source fridge" in warning and f"run {run_id} of {db}" in warning
    shown = cli("item", "fridge", str(run_id)).stdout  # found by its run id
    assert "trees disagree" in shown and item["identifier"] in shown


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"static_attributes": '{"fridge": {"name": "F2"}}'}, "static_attributes"),
        ({"static_attributes": '{"cooldowns": [1, 2]}'}, "static_attributes"),
        ({"static_attributes": '{"note": null}'}, "static_attributes"),
        ({"in_memory_limit_mb": "inf"}, "in_memory_limit_mb"),
        ({"in_memory_limit_mb": "nan"}, "in_memory_limit_mb"),
        ({"in_memory_limit_mb": "0"}, "in_memory_limit_mb"),
        ({"live_timeout_s": "nan"}, "live_timeout_s"),
    ],
)
def test_settings_that_would_be_silently_wrong_are_refused(
    runtime: Runtime, tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    db = tmp_path / "lab" / "experiments.db"
    _new_db(db, 1)
    runtime.store.create_scope("qubits")
    with pytest.raises(ConfigError, match=message):
        sources.add_source(
            runtime,
            "qcodes",
            "fridge",
            scope="qubits",
            settings={"database_path": str(db), **settings},
        )
    assert sources.list_sources(runtime) == []


def test_the_qcodes_config_itself_refuses_nested_and_non_finite_values(tmp_path: Path) -> None:
    """Whatever built the config object (not only add-source's parser)."""
    db = tmp_path / "experiments.db"
    _new_db(db, 1)
    bad = [
        QCoDeSConfig(db, static_attributes={"fridge": {"name": "F2"}}),
        QCoDeSConfig(db, static_attributes={"t": float("nan")}),
        QCoDeSConfig(db, in_memory_limit_mb=float("inf")),
        QCoDeSConfig(db, in_memory_limit_mb=-1.0),
        QCoDeSConfig(db, live_timeout_s=float("inf")),
    ]
    for config in bad:
        with pytest.raises(ConfigError):
            config.validate()
    good = QCoDeSConfig(db, static_attributes={"cooldown": 3, "fridge": "F2", "cold": True})
    good.validate()


_LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


def test_adding_a_locked_database_says_nothing_was_added(
    runtime: Runtime, tmp_path: Path, cli
) -> None:
    db = tmp_path / "lab" / "experiments.db"
    _new_db(db, 1)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    runtime.store.create_scope("qubits")
    # another program writing it, holding its lock (another process: POSIX locks are per
    # process, and any close of the file in the locking process would drop them)
    writer = subprocess.Popen(
        [sys.executable, "-c", _LOCKER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert writer.stdout.readline().strip() == b"locked"
    try:
        with pytest.raises(ConfigError) as err:
            sources.add_source(
                runtime, "qcodes", "fridge", scope="qubits", settings={"database_path": str(db)}
            )
        shown = cli(
            "add-source", "qcodes", "fridge", "--scope", "qubits",
            "--set", f"database_path={db}", check=False,
        )  # fmt: skip
    finally:
        writer.communicate(b"", timeout=30)
    text = f"{err.value.message} {err.value.hint}"
    assert "locked" in text and "nothing was saved" in text
    assert "retries later" not in text
    assert shown.returncode == 2 and "locked" in shown.stderr
    assert "nothing was saved" in shown.stderr and "retries later" not in shown.stderr
    assert "Traceback" not in shown.stderr
    assert sources.list_sources(runtime) == []
    # once the lock is gone the same command works
    sources.add_source(
        runtime, "qcodes", "fridge", scope="qubits", settings={"database_path": str(db)}
    )


def test_a_qcodes_database_is_recognised_by_its_content_not_its_name(
    runtime: Runtime, tmp_path: Path
) -> None:
    runtime.store.create_scope("qubits")
    names = ["measurements.sqlite", "run_data", "fridge.DB"]
    for k, name in enumerate(names):
        db = tmp_path / f"lab{k}" / name
        _new_db(db, 1)
        sources.add_source(
            runtime, "qcodes", f"fridge{k}", scope="qubits", settings={"database_path": str(db)}
        )
    assert SyncEngine(runtime, FAST).run(once=True).attempted == len(names)
    notes = tmp_path / "notes.sqlite"
    notes.write_text("not a database\n")
    with pytest.raises(ConfigError, match="not an SQLite"):
        sources.add_source(
            runtime, "qcodes", "notes", scope="qubits", settings={"database_path": str(notes)}
        )


def test_items_found_before_runs_had_labels_get_them(runtime: Runtime, tmp_path: Path) -> None:
    """Items discovered by a version that kept no run id/name get them at the next start."""
    from sqlalchemy import update

    db = tmp_path / "lab" / "experiments.db"
    guids = _new_db(db, 3)
    _add(runtime, db)
    assert SyncEngine(runtime, FAST).run(once=True).attempted == 3
    with runtime.state.session() as s, s.begin():
        s.execute(update(Item).values(label=None, name=None))
    assert {i.label for i in _items(runtime).values()} == {None}
    assert SyncEngine(runtime, FAST).run(once=True).attempted == 0  # nothing synced again
    items = _items(runtime)
    assert [(items[g].label, items[g].name) for g in guids] == [
        ("1", "resonator scan 0"),
        ("2", "resonator scan 1"),
        ("3", "resonator scan 2"),
    ]
