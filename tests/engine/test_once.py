"""``run --once`` waits for nothing: not for a changed dataset to settle, not for a
settle time a stopped ``run`` left behind."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.state import repository as repo
from tests.conftest import FAST
from tests.helpers import add_folder_source, item_status, make_dataset, running_engine, wait_for


def _item(rt: Runtime, identifier: str):  # noqa: ANN202 - the state row
    return repo.get_item(rt.state, repo.get_source(rt.state, "lab").id, identifier)


def test_run_once_synchronizes_a_dataset_left_waiting_to_settle_by_a_stopped_run(
    runtime: Runtime, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    folder = make_dataset(root, "run1", {"data.csv": "x,y\n"})
    add_folder_source(runtime, root)
    settings = replace(FAST, settle_s=600.0)
    with running_engine(runtime, settings):
        assert wait_for(lambda: item_status(runtime, "run1") == "synchronized", timeout=30)
        with open(folder / "data.csv", "a") as fh:
            fh.write("1,2\n")
        # the change is seen (watch event) and the dataset waits to settle
        assert wait_for(lambda: item_status(runtime, "run1") == "pending", timeout=30)
    # `run` stopped: the item is pending with a settle time ten minutes ahead
    waiting = _item(runtime, "run1").next_retry
    assert waiting is not None
    assert waiting.replace(tzinfo=waiting.tzinfo or timezone.utc) > datetime.now(timezone.utc)
    summary = SyncEngine(runtime, settings).run(once=True)
    assert summary.attempted == 1 and summary.failed == 0
    assert item_status(runtime, "run1") == "synchronized"
    ds = runtime.store.find_dataset(scope="proj", alt_uid=f"folder:{folder.resolve()}")
    (f,) = runtime.store.get_dataset(ds.uuid).files
    assert f.latest.size == (folder / "data.csv").stat().st_size


def test_run_once_still_waits_for_the_retry_time_of_a_failed_item(
    runtime: Runtime, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    bad = root / "broken"
    bad.mkdir(parents=True)
    (bad / "_QH_dataset_info.yaml").write_text("name: [unclosed\n")
    add_folder_source(runtime, root)
    settings = replace(FAST, retry=replace(FAST.retry, base_delay_s=600.0))
    first = SyncEngine(runtime, settings).run(once=True)
    assert first.attempted == 1 and first.failed == 1
    # the failed item's retry time is ten minutes ahead: a second --once leaves it alone
    second = SyncEngine(runtime, settings).run(once=True)
    assert second.attempted == 0
    assert item_status(runtime, "broken") == "failed"
