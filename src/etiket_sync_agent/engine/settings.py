"""Timing knobs of the engine (defaults suit a lab PC; tests shorten them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from etiket_sync_agent.engine.retry_policy import RetryPolicy


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass(frozen=True)
class EngineSettings:
    #: full rescan of watched file sources (events are hints; the scan is the truth)
    rescan_interval_s: float = 300.0
    #: full scan of polled file sources (network folders, too many folders to watch)
    poll_interval_s: float = field(default_factory=lambda: _env_float("ETIKET_SYNC_POLL_S", 10.0))
    #: how often database sources are asked for new datasets
    db_poll_interval_s: float = 1.0
    #: quiet time after a watch event before rescanning (batches bursts of events)
    debounce_s: float = 0.2
    #: how often a live dataset is uploaded again
    live_interval_s: float = 1.0
    #: a file dataset that changed after it was synchronized waits until its files have
    #: been quiet this long (a folder still being written is not stored as a new version
    #: at every change); new datasets and one-shot runs do not wait
    settle_s: float = 10.0
    heartbeat_s: float = 5.0
    #: a source with nothing due is asked again after this long at the latest (finds
    #: items put back by `etiket-sync retry` from another process)
    recheck_s: float = 5.0
    #: longest an iteration works before discovering again (not in --once mode)
    iteration_budget_s: float = 10.0
    #: sources synchronized in parallel
    workers: int = 2
    retry: RetryPolicy = field(default_factory=RetryPolicy)
