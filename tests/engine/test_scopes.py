"""Scope resolution: backends that choose scopes themselves, and scope mappings."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.errors import ConfigError, NotFoundError
from etiket_sync_agent.plugins.registry import BACKEND_GROUP, Registry
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import datasets, scope_mappings, sources
from tests.conftest import FAST

LISTED = EntryPoint("listed", "tests.engine._scoped_backend:ListBackend", BACKEND_GROUP)


def test_backend_chosen_scopes_and_mappings(home, tmp_path: Path) -> None:
    rt = Runtime(home, registry=Registry([LISTED]))
    index = tmp_path / "index.json"
    index.write_text(
        json.dumps(
            [
                {"id": "r1", "name": "one", "lab": "fridge-A"},
                {"id": "r2", "name": "two", "lab": "fridge-B"},
            ]
        )
    )
    rt.store.create_scope("project-A")
    settings = {"index_file": str(index)}
    with pytest.raises(ConfigError, match="--scope is not allowed"):
        sources.add_source(rt, "listed", "lst", scope="project-A", settings=settings)
    with pytest.raises(NotFoundError, match="scope .nope. does not exist"):
        sources.add_source(rt, "listed", "lst", settings=settings, scope_mappings={"x": "nope"})
    sources.add_source(
        rt, "listed", "lst", settings=settings, scope_mappings={"fridge-A": "project-A"}
    )
    assert sources.show_source(rt, "lst")["scope_mappings"] == {"fridge-A": "project-A"}
    SyncEngine(rt, FAST).run(once=True)
    by_name = {d["name"]: d["scope"] for d in datasets.list_datasets(rt)}
    # mapped identifier -> its scope; an unmapped one becomes a scope of its own
    assert by_name == {"one": "project-A", "two": "fridge-B"}
    assert {s["name"] for s in datasets.list_scopes(rt)} == {"project-A", "fridge-B"}
    rt.close()


WAITING_LIST = EntryPoint(
    "waiting_list", "tests.engine._scoped_backend:WaitingListBackend", BACKEND_GROUP
)


def test_unmapped_items_wait_without_a_scope_until_mapped(home, tmp_path: Path) -> None:
    rt = Runtime(home, registry=Registry([WAITING_LIST]))
    index = tmp_path / "index.json"
    rows = [{"id": "r1", "name": "one", "lab": "fridge-A"}]
    rows.append({"id": "r2", "name": "two", "lab": "fridge-B"})
    index.write_text(json.dumps(rows))
    rt.store.create_scope("project-A")
    settings = {"index_file": str(index)}
    mappings = {"fridge-A": "project-A"}
    sources.add_source(rt, "waiting_list", "lst", settings=settings, scope_mappings=mappings)
    summary = SyncEngine(rt, FAST).run(once=True)
    assert (summary.attempted, summary.failed) == (1, 0)
    items = {i["identifier"]: i for i in sources.list_items(rt, "lst")}
    assert items["r1"]["status"] == "synchronized"
    assert items["r2"]["status"] == "waiting" and items["r2"]["failures"] == 0
    assert items["r2"]["waiting_for"] == "scope_mapping"
    assert "waiting for a scope mapping fridge-B" in items["r2"]["last_error"]
    assert {s["name"] for s in datasets.list_scopes(rt)} == {"project-A"}  # no stray scope
    assert sources.show_source(rt, "lst")["items"]["waiting"] == 1
    assert [i["identifier"] for i in sources.list_items(rt, "lst", status="waiting")] == ["r2"]

    rt.store.create_scope("project-B")
    assert scope_mappings.map_scope(rt, "lst", "fridge-B", "project-B")["requeued"] == 1
    requeued = {i["identifier"]: i for i in sources.list_items(rt, "lst")}["r2"]
    assert (requeued["status"], requeued["waiting_for"]) == ("pending", None)
    SyncEngine(rt, FAST).run(once=True)
    by_name = {d["name"]: d["scope"] for d in datasets.list_datasets(rt)}
    assert by_name == {"one": "project-A", "two": "project-B"}
    rt.close()


OWN_SCOPE = EntryPoint("own_scope", "tests.engine._scoped_backend:OwnScopeBackend", BACKEND_GROUP)


def test_the_default_scope_is_created_only_when_something_goes_there(home, tmp_path: Path) -> None:
    rt = Runtime(home, registry=Registry([OWN_SCOPE]))
    index = tmp_path / "index.json"
    rows = [{"id": "r1", "name": "one", "lab": "x", "scope": "script-scope"}]
    index.write_text(json.dumps(rows))
    rt.store.create_scope("script-scope")
    sources.add_source(rt, "own_scope", "own", settings={"index_file": str(index)})
    SyncEngine(rt, FAST).run(once=True)
    assert {s["name"] for s in datasets.list_scopes(rt)} == {"script-scope"}  # no "default"

    rows.append({"id": "r2", "name": "two", "lab": "x"})  # names no scope: default
    index.write_text(json.dumps(rows))
    SyncEngine(rt, FAST).run(once=True)
    by_name = {d["name"]: d["scope"] for d in datasets.list_datasets(rt)}
    assert by_name == {"one": "script-scope", "two": "default"}
    rt.close()
