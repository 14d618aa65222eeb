"""Discovery of a database source: ask the backend for new datasets, cheaply.

Every ``db_poll_interval_s`` the backend is asked for datasets after the newest known one,
and on the rescan timer for the metadata digests of all of them. A backend may offer the
optional hook ``change_token()``: a cheap value (e.g. size and mtime of the database file
and its write-ahead log) that changes whenever those answers may change. While the token
stays the same the database is not queried at all, so a lab PC with dozens of idle
databases costs a few ``stat`` calls a second.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Hashable

from etiket_sync_agent.engine.settings import EngineSettings
from etiket_sync_agent.plugins.base import DatabaseBackend
from etiket_sync_agent.plugins.items import SyncItem
from etiket_sync_agent.state.repository import Discovered

logger = logging.getLogger(__name__)


def next_on_grid(t: float, interval: float) -> float:
    """The point of the grid ``k * interval`` one interval after the point nearest ``t``.

    Polls on one shared grid keep every database source due at the same moments: one
    wake per interval, however many sources, and a poll made a little early or late
    does not shift the source off the grid."""
    return (math.floor(t / interval + 0.5) + 1) * interval


def change_token(backend: DatabaseBackend) -> Hashable | None:
    """The backend's ``change_token()``, or None when it has none (or it failed): then
    the database is asked at every poll."""
    hook = getattr(backend, "change_token", None)
    if hook is None:
        return None
    try:
        return hook()
    except Exception as exc:  # noqa: BLE001 - only an optimisation: ask the database
        logger.debug("change_token of %s failed: %s", backend.source_name, exc)
        return None


class DatabaseDiscovery:
    """Finds new and edited datasets of one :class:`DatabaseBackend` source."""

    def __init__(self, backend: DatabaseBackend, name: str, settings: EngineSettings) -> None:
        self.backend = backend
        self.name = name
        self.settings = settings
        self.note: str | None = None
        self._last_poll = 0.0
        self._last_full = 0.0
        self._token: Hashable | None = None  # of the last answered poll
        self._full_token: Hashable | None = None  # of the last fingerprint read

    def next_due(self, now: float) -> float:
        """Monotonic time at which this source wants discovery again."""
        if not self._last_poll:
            return now  # never asked (monotonic time may be below the interval)
        return next_on_grid(self._last_poll, self.settings.db_poll_interval_s)

    def has_hints(self) -> bool:
        return False

    def discover(
        self,
        last_item: Callable[[], SyncItem | None],
        known: Callable[[str], bool],
        force: bool = False,
        slack: float = 0.0,
    ) -> list[Discovered]:
        """New datasets (after ``last_item()``) and known ones whose digest changed.

        ``force``: ask the database even if it did not change (start, ``--once``).
        ``slack``: a poll due within this many seconds is made now (sources due about
        together are polled in one wake, and stay together).
        """
        now = time.monotonic()
        if not force and self.next_due(now) > now + slack:
            return []
        self._last_poll = now
        # taken before the queries: a change while they run is seen at the next poll
        token = change_token(self.backend)
        full_due = (
            force
            or not self._last_full
            or now + slack - self._last_full >= self.settings.rescan_interval_s
        )
        unchanged = token is not None and not force
        if unchanged and token == self._token and (not full_due or token == self._full_token):
            return []
        new_items = []
        if not (unchanged and token == self._token):
            new_items = self.backend.get_new_datasets(last_item())
        fingerprints: dict[str, str] = {}
        if full_due and not (unchanged and token == self._full_token):
            self._last_full = now
            fingerprints = self.backend.dataset_fingerprints() or {}
            self._full_token = token
        elif full_due:
            self._last_full = now
        self._token = token
        found = [Discovered.of(n, fingerprints.pop(n.identifier, None)) for n in new_items]
        # metadata edited on known datasets: a new fingerprint requeues them
        found += [Discovered(i, 0.0, None, fp) for i, fp in fingerprints.items() if known(i)]
        return found

    def close(self) -> None:
        """Nothing to release (the backend is closed by its runtime)."""
