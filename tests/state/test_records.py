"""Sync records are bounded, kept for the last few attempts, and never loaded by the
queries of the loop and the listings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event

from etiket_sync_agent.plugins.record import SyncRecord
from etiket_sync_agent.state import records as bounds
from etiket_sync_agent.state import repository as repo
from etiket_sync_agent.state.db import StateDB
from etiket_sync_agent.state.models import Source


def _setup(tmp_path: Path) -> tuple[StateDB, int]:
    db = StateDB(tmp_path / "state.db")
    with db.session() as s, s.begin():
        src = Source(name="big", backend="folderbase", config={})
        s.add(src)
        s.flush()
        sid = src.id
    repo.record_discovery(db, sid, [repo.Discovered(f"d{i}", float(i)) for i in range(3)], {})
    return db, sid


def _big_record(n_files: int, attempt: int) -> dict:
    record = SyncRecord()
    with record.task("upload files"):
        for i in range(n_files):
            record.log(f"uploaded file_{i:06d}.dat ({i} bytes) attempt {attempt}")
    for i in range(100):
        record.warn(f"odd file {i}")
    for i in range(120):
        with record.task(f"step {i}"):
            pass
    record.outcome = "ok"
    return record.to_dict()


def test_a_record_of_a_huge_folder_is_bounded(tmp_path: Path) -> None:
    db, sid = _setup(tmp_path)
    item = repo.get_item(db, sid, "d0")
    repo.append_record(db, item.id, _big_record(100_000, 1), status="synchronized")
    (stored,) = repo.item_records(db, item.id)
    logs = stored["tasks"][0]["logs"]
    assert len(logs) == bounds.MAX_LINES
    assert logs[0].startswith("uploaded file_000000.dat")
    assert logs[-1] == f"... and {100_000 + 100 - bounds.MAX_LINES + 1} more lines"
    assert len(stored["tasks"]) == bounds.MAX_TASKS
    assert stored["tasks"][-1]["name"].startswith("... and 72 more tasks")
    assert len(stored["warnings"]) == bounds.MAX_WARNINGS
    item = repo.get_item(db, sid, "d0")
    assert item.last_warnings == stored["warnings"] and item.status == "synchronized"
    assert item.records == [stored]  # loaded on access, after the session closed
    db.close()


def test_only_the_last_records_are_kept_and_go_with_their_item(tmp_path: Path) -> None:
    db, sid = _setup(tmp_path)
    item = repo.get_item(db, sid, "d1")
    for attempt in range(repo.MAX_RECORDS + 3):
        repo.append_record(db, item.id, {**SyncRecord().to_dict(), "error": f"try {attempt}"})
    kept = [r["error"] for r in repo.item_records(db, item.id)]
    assert kept == [f"try {a}" for a in range(3, repo.MAX_RECORDS + 3)]
    with db.session() as s, s.begin():
        s.delete(s.get(Source, sid))  # removing the source removes its records
    assert repo.item_records(db, item.id) == []
    repo.append_record(db, item.id, SyncRecord().to_dict())  # item gone: a no-op
    assert repo.item_records(db, item.id) == []
    db.close()


def test_loop_and_listing_queries_never_read_records(tmp_path: Path) -> None:
    db, sid = _setup(tmp_path)
    for ident in ("d0", "d1"):
        item = repo.get_item(db, sid, ident)
        past = datetime(2020, 1, 1, tzinfo=UTC)
        repo.append_record(db, item.id, _big_record(2_000, 1), status="failed", next_retry=past)
    statements: list[str] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        statements.append(statement.lower())

    due = repo.due_items(db, sid, datetime(2100, 1, 1, tzinfo=UTC))
    listed = repo.list_items(db, sid)
    found = repo.find_items(db, sid, identifier="d0")
    last = repo.last_item(db, sid)
    counts = repo.item_counts(db)
    assert len(due) == 3 and len(listed) == 3 and found and last and counts[sid]["total"] == 3
    assert [i.last_warnings[:1] for i in listed if i.status == "failed"] == [["odd file 0"]] * 2
    assert statements, "no query seen"
    assert not [s for s in statements if "record" in s], statements
    db.close()
