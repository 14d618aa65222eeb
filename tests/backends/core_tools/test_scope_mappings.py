"""services.scope_mappings: map, replace, unmap and list scope identifiers of a source."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.engine.source_runtime import SourceRuntime
from etiket_sync_agent.errors import ConfigError, NotFoundError
from etiket_sync_agent.plugins.registry import BACKEND_GROUP, Registry
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import datasets, scope_mappings, sources
from etiket_sync_agent.state import repository as repo
from tests.conftest import FAST

LISTED = EntryPoint("listed", "tests.engine._scoped_backend:ListBackend", BACKEND_GROUP)
FOLDER = EntryPoint(
    "folderbase", "etiket_sync_agent.backends.folderbase:FolderBaseBackend", BACKEND_GROUP
)


@pytest.fixture
def rt(home, tmp_path: Path):  # noqa: ANN001, ANN201
    runtime = Runtime(home, registry=Registry([LISTED, FOLDER]))
    index = tmp_path / "index.json"
    index.write_text(
        json.dumps(
            [
                {"id": "r1", "name": "one", "lab": "fridge-A"},
                {"id": "r2", "name": "two", "lab": "fridge-B"},
                {"id": "r3", "name": "three", "lab": "fridge-B"},
            ]
        )
    )
    sources.add_source(runtime, "listed", "lst", settings={"index_file": str(index)})
    yield runtime
    runtime.close()


def test_map_replace_unmap_and_list(rt: Runtime) -> None:
    for scope in ("A", "B", "C"):
        rt.store.create_scope(scope)
    SyncEngine(rt, FAST).run(once=True)  # items known: their identifiers too
    assert scope_mappings.list_scope_mappings(rt, "lst") == {
        "mapped": {},
        "unmapped": {"fridge-A": 1, "fridge-B": 2},
    }
    out = scope_mappings.map_scope(rt, "lst", "fridge-A", "A")
    assert out == {"source": "lst", "identifier": "fridge-A", "scope": "A", "requeued": 0}
    scope_mappings.map_scope(rt, "lst", "fridge-A", "B")  # replaces
    scope_mappings.map_scope(rt, "lst", " fridge-B ", "C")
    assert scope_mappings.list_scope_mappings(rt, "lst") == {
        "mapped": {"fridge-A": "B", "fridge-B": "C"},
        "unmapped": {},
    }
    assert sources.show_source(rt, "lst")["scope_mappings"] == {"fridge-A": "B", "fridge-B": "C"}
    scope_mappings.unmap_scope(rt, "lst", "fridge-B")
    assert scope_mappings.unmapped_identifiers(rt, "lst") == {"fridge-B": 2}
    with pytest.raises(NotFoundError, match="no mapping for 'fridge-B'"):
        scope_mappings.unmap_scope(rt, "lst", "fridge-B")


def test_failed_items_of_the_identifier_are_requeued(rt: Runtime) -> None:
    rt.store.create_scope("B")
    src = repo.get_source(rt.state, "lst")
    SourceRuntime(src, rt, FAST, lambda: None, watch=False).discover(force_full=True)
    for ident in ("r2", "r3"):  # as if they had waited for a mapping
        item = repo.get_item(rt.state, src.id, ident)
        repo.save_item(rt.state, item.id, status="failed", last_error="waiting", attempts=3)
    out = scope_mappings.map_scope(rt, "lst", "fridge-B", "B")
    assert out["requeued"] == 2
    for ident in ("r2", "r3"):
        item = repo.get_item(rt.state, src.id, ident)
        assert (item.status, item.attempts, item.last_error) == ("pending", 0, None)
    SyncEngine(rt, FAST).run(once=True)
    by_name = {d["name"]: d["scope"] for d in datasets.list_datasets(rt)}
    assert by_name["two"] == by_name["three"] == "B"


def test_bad_requests(rt: Runtime, tmp_path: Path) -> None:
    rt.store.create_scope("A")
    with pytest.raises(NotFoundError, match="scope 'nope' does not exist"):
        scope_mappings.map_scope(rt, "lst", "fridge-A", "nope")
    with pytest.raises(NotFoundError, match="no source called 'other'"):
        scope_mappings.map_scope(rt, "other", "fridge-A", "A")
    with pytest.raises(ConfigError, match="must not be empty"):
        scope_mappings.map_scope(rt, "lst", "  ", "A")
    (tmp_path / "data").mkdir()
    sources.add_source(
        rt, "folderbase", "files", scope="A", settings={"root_directory": str(tmp_path / "data")}
    )
    with pytest.raises(ConfigError, match="does not use scope mappings"):
        scope_mappings.map_scope(rt, "files", "x", "A")
    assert repo.scope_mappings(rt.state, repo.get_source(rt.state, "lst").id) == {}
