"""Items keep the label and name a backend gives them, and can be looked up by them."""

from __future__ import annotations

from pathlib import Path

from etiket_sync_agent.plugins.items import NewItem
from etiket_sync_agent.state import repository as repo
from etiket_sync_agent.state.db import StateDB
from etiket_sync_agent.state.models import Source


def _source(db: StateDB, name: str = "qc") -> int:
    with db.session() as s, s.begin():
        src = Source(name=name, backend="qcodes", config={})
        s.add(src)
        s.flush()
        return src.id


def _discover(db: StateDB, source_id: int, *items: NewItem) -> None:
    known = repo.known_items(db, source_id)
    repo.record_discovery(db, source_id, [repo.Discovered.of(n) for n in items], known)


def test_label_and_name_are_stored_and_updated(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    sid = _source(db)
    _discover(db, sid, NewItem("guid-a", 1.0, label="1", name="IV sweep"), NewItem("guid-b", 2.0))
    a = repo.get_item(db, sid, "guid-a")
    assert (a.label, a.name) == ("1", "IV sweep")
    b = repo.get_item(db, sid, "guid-b")
    assert (b.label, b.name) == (None, None)
    # a later discovery with other values updates them; None leaves what is stored
    _discover(
        db, sid, NewItem("guid-a", 1.0, name="IV sweep (renamed)"), NewItem("guid-b", label="2")
    )
    a = repo.get_item(db, sid, "guid-a")
    assert (a.label, a.name) == ("1", "IV sweep (renamed)")
    assert repo.get_item(db, sid, "guid-b").label == "2"
    db.close()


def test_overlong_values_are_clipped_to_the_columns(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    sid = _source(db)
    _discover(db, sid, NewItem("x", label="7" * 300, name="n" * 900))
    item = repo.get_item(db, sid, "x")
    assert (len(item.label), len(item.name)) == (repo.LABEL_LEN, repo.NAME_LEN)
    db.close()


def test_find_items_by_label_name_identifier_and_uuid(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    sid = _source(db)
    other = _source(db, "other")
    _discover(
        db,
        sid,
        NewItem("g1", 1.0, label="12", name="rabi_100%"),
        NewItem("g2", 2.0, label="120", name="rabi_chevron"),
        NewItem("g3", 3.0, label="12", name="ramsey"),  # labels need not be unique
    )
    _discover(db, other, NewItem("g9", 1.0, label="12", name="rabi"))

    def idents(**kw: str) -> list[str]:
        return [i.identifier for i in repo.find_items(db, sid, **kw)]

    assert idents(label="12") == ["g3", "g1"]  # exact, highest priority first
    assert idents(name_prefix="rabi") == ["g2", "g1"]
    assert idents(name_prefix="rabi_1") == ["g1"]  # "_" is literal, not a wildcard
    assert idents(name_prefix="rabi_100%") == ["g1"]
    assert idents(name_prefix="rabi%") == []  # "%" is literal too
    assert idents(identifier="g2") == ["g2"]
    assert idents(identifier_prefix="g") == ["g3", "g2", "g1"]
    assert idents(identifier_prefix="g_") == []
    assert idents(label="12", name_prefix="ram") == ["g3"]
    uuid = repo.get_item(db, sid, "g2").dataset_uuid
    assert idents(uuid_prefix=uuid[:8].upper()) == ["g2"]
    assert idents() == []  # no condition: nothing, never the whole source
    db.close()


def test_rediscovering_unchanged_names_writes_nothing(tmp_path: Path) -> None:
    from sqlalchemy import event

    db = StateDB(tmp_path / "state.db")
    sid = _source(db)
    known = repo.known_items(db, sid)
    found = [repo.Discovered.of(NewItem("g1", 1.0, label="1", name="sweep"))]
    assert repo.record_discovery(db, sid, found, known) == (1, 0)
    assert (known["g1"].label, known["g1"].name) == ("1", "sweep")
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    for manifest in (known, repo.known_items(db, sid)):  # in memory, and as reloaded
        assert repo.record_discovery(db, sid, found, manifest) == (0, 0)
    writes = ("INSERT", "UPDATE", "DELETE", "BEGIN IMMEDIATE")
    assert not [s for s in statements if s.lstrip().upper().startswith(writes)]
    assert statements  # the reload was seen
    db.close()
