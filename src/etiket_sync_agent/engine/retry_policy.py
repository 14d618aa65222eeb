"""Retry policy: how long a failed item waits, and when the agent gives up on it; how
often an unreachable store is probed (items waiting for it burn no attempt)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay_s: float = 30.0
    max_delay_s: float = 3600.0
    #: an unreachable store is probed again after this long, doubling up to the maximum
    store_probe_base_s: float = 2.0
    store_probe_max_s: float = 30.0

    def next_retry(self, attempts: int, now: datetime, retryable: bool = True) -> datetime | None:
        """When attempt ``attempts + 1`` may run, or None when the item has failed for good
        (until ``etiket-sync retry``)."""
        if not retryable or attempts >= self.max_attempts:
            return None
        delay = min(self.base_delay_s * 2 ** (attempts - 1), self.max_delay_s)
        return now + timedelta(seconds=delay)

    def next_probe_in(self, probes_failed: int) -> float:
        """Seconds until the store is probed again after ``probes_failed`` failed probes
        (0: it was just found unreachable)."""
        return min(self.store_probe_base_s * 2**probes_failed, self.store_probe_max_s)
