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
from etiket_sync_agent.services import datasets, sources
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
