"""Labels and names of a backend's NewItems reach the backend's SyncItem, and the
runtime's manifest keeps them when an item's status changes."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.engine.source_runtime import SourceRuntime
from etiket_sync_agent.plugins.registry import BACKEND_GROUP, Registry
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import datasets, sources
from etiket_sync_agent.state import repository as repo
from tests.conftest import FAST

LABELLED = EntryPoint("labelled", "tests.engine._scoped_backend:LabelledBackend", BACKEND_GROUP)


def test_labels_reach_the_backend_and_stay_in_the_manifest(home, tmp_path: Path) -> None:
    rt = Runtime(home, registry=Registry([LABELLED]))
    index = tmp_path / "index.json"
    rows = [{"id": "r1", "name": "cooldown", "lab": "A", "label": "12"}]
    index.write_text(json.dumps(rows))
    rt.store.create_scope("scope-A")
    sources.add_source(
        rt, "labelled", "lab", settings={"index_file": str(index)}, scope_mappings={"A": "scope-A"}
    )
    SyncEngine(rt, FAST).run(once=True)
    assert [d["name"] for d in datasets.list_datasets(rt)] == ["12|cooldown"]

    src = repo.get_source(rt.state, "lab")
    runtime = SourceRuntime(src, rt, FAST, lambda: None, watch=False)
    try:
        assert runtime.known["r1"].label == "12"
        runtime.set_status("r1", "pending")
        kept = runtime.known["r1"]
        assert (kept.status, kept.label, kept.name) == ("pending", "12", "cooldown")
        item = repo.get_item(rt.state, src.id, "r1")
        synced = runtime.to_sync_item(item)
        assert (synced.label, synced.name) == ("12", "cooldown")
    finally:
        runtime.close()
        rt.close()
