"""What is due and when: an idle source is not asked for due items at every wake, yet
items put back by `etiket-sync retry` from another process are found while the agent
runs, and a failed item is retried at its retry time."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib.metadata import EntryPoint
from pathlib import Path

from etiket_sync_agent.home import Home
from etiket_sync_agent.plugins.registry import BACKEND_GROUP, Registry
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources
from tests.conftest import FAST
from tests.helpers import item_status, items_by_id, running_engine, wait_for

CHURN = EntryPoint("churn", "tests.engine._churn_backend:ChurnBackend", BACKEND_GROUP)


def test_items_put_back_by_retry_in_another_process_are_found_while_running(
    home: Home, tmp_path: Path
) -> None:
    rt = Runtime(home, registry=Registry([CHURN]))
    rt.store.create_scope("lab")
    index = tmp_path / "runs.json"
    index.write_text(json.dumps({"datasets": [{"id": "r1", "fail": True}]}))
    sources.add_source(rt, "churn", "fridge", scope="lab", settings={"index_file": str(index)})
    settings = replace(FAST, recheck_s=0.5)
    with running_engine(rt, settings):
        # three attempts (retry delay 0), then it has failed for good
        assert wait_for(
            lambda: "gave up" in (items_by_id(rt, "fridge").get("r1", {}).get("last_error") or "")
        )
        index.write_text(json.dumps({"datasets": [{"id": "r1"}]}))  # the cause is fixed
        # what `etiket-sync retry fridge` does, from this (other) runtime's connection
        other = Runtime(home, registry=Registry([CHURN]))
        assert sources.retry(other, "fridge") == 1
        other.close()
        assert wait_for(lambda: item_status(rt, "r1", source="fridge") == "synchronized")
    rt.close()


def test_a_failed_item_is_retried_at_its_retry_time(home: Home, tmp_path: Path) -> None:
    rt = Runtime(home, registry=Registry([CHURN]))
    rt.store.create_scope("lab")
    index = tmp_path / "runs.json"
    index.write_text(json.dumps({"datasets": [{"id": "r1", "fail": True}]}))
    sources.add_source(rt, "churn", "fridge", scope="lab", settings={"index_file": str(index)})
    # a retry 1 s after the failure, long before the next look at all sources (10 min)
    settings = replace(FAST, recheck_s=600.0, retry=replace(FAST.retry, base_delay_s=1.0))
    with running_engine(rt, settings):
        assert wait_for(lambda: item_status(rt, "r1", source="fridge") == "failed")
        index.write_text(json.dumps({"datasets": [{"id": "r1"}]}))
        assert wait_for(lambda: item_status(rt, "r1", source="fridge") == "synchronized")
    rt.close()
