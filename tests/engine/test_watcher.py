"""The file watcher: the inotify budget check that decides between watching and polling,
and events that find datasets no scan would find for an hour."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from etiket_sync_agent.engine.watcher import WATCH_BUDGET, inotify_watch_limit, watch_fits
from etiket_sync_agent.runtime import Runtime
from tests.conftest import FAST
from tests.helpers import add_folder_source, item_status, make_dataset, running_engine, wait_for


def test_trees_beyond_the_watch_budget_are_polled() -> None:
    limit = inotify_watch_limit()
    if limit is None:
        pytest.skip("no inotify on this platform")
    fits, why = watch_fits(int(limit * WATCH_BUDGET) + 1)
    assert not fits and "polling instead" in why and str(limit) in why
    assert watch_fits(100)[0]


def test_only_the_watcher_can_find_a_new_dataset_when_rescans_are_an_hour_apart(
    runtime: Runtime, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    make_dataset(root, "run1")
    add_folder_source(runtime, root)
    settings = replace(FAST, rescan_interval_s=3600.0, poll_interval_s=3600.0)
    with running_engine(runtime, settings) as engine:
        assert wait_for(lambda: item_status(runtime, "run1") == "synchronized", timeout=30)
        (srt,) = engine._sources.values()
        assert srt.watcher is not None and srt.watcher.alive
        # the rescan right after the watcher started is done: the next one is an hour away
        assert wait_for(lambda: srt.discovery.next_due(time.monotonic()) > time.monotonic() + 600)
        make_dataset(root, "2026/run2")  # a new folder level and a dataset inside it
        assert wait_for(lambda: item_status(runtime, "2026/run2") == "synchronized", timeout=30)
