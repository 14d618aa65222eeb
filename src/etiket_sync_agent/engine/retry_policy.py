"""Retry policy: how long a failed item waits, and when the agent gives up on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay_s: float = 30.0
    max_delay_s: float = 3600.0

    def next_retry(self, attempts: int, now: datetime, retryable: bool = True) -> datetime | None:
        """When attempt ``attempts + 1`` may run, or None when the item has failed for good
        (until ``etiket-sync retry``)."""
        if not retryable or attempts >= self.max_attempts:
            return None
        delay = min(self.base_delay_s * 2 ** (attempts - 1), self.max_delay_s)
        return now + timedelta(seconds=delay)
