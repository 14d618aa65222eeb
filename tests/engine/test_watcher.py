"""The inotify budget check that decides between watching and polling."""

from __future__ import annotations

import pytest

from etiket_sync_agent.engine.watcher import WATCH_BUDGET, inotify_watch_limit, watch_fits


def test_trees_beyond_the_watch_budget_are_polled() -> None:
    limit = inotify_watch_limit()
    if limit is None:
        pytest.skip("no inotify on this platform")
    fits, why = watch_fits(int(limit * WATCH_BUDGET) + 1)
    assert not fits and "polling instead" in why and str(limit) in why
    assert watch_fits(100)[0]
