"""Discovery of a file source: full scans, cheap polls, watch events, settle times.

Owns the source's :class:`FolderWatcher`. The scan is the truth and the watcher only
hints: a full scan runs at start and on a timer (``rescan_interval_s``, stretched for huge
trees), events rescan only the datasets they touch, and without a watcher (network
folders, trees beyond the inotify budget) a cheap poll stats the folders seen before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from etiket_sync_agent.engine.scanner import (
    ScanHit,
    ScanResult,
    changed_dirs,
    dataset_roots_for,
    scan,
)
from etiket_sync_agent.engine.settings import EngineSettings
from etiket_sync_agent.engine.watcher import FolderWatcher, watch_fits
from etiket_sync_agent.errors import EtiketSyncError
from etiket_sync_agent.plugins.base import FileBackend
from etiket_sync_agent.state.repository import Discovered

logger = logging.getLogger(__name__)

#: a full scan may take at most 1/SCAN_BUDGET_FACTOR of the time (~2 % of a core)
SCAN_BUDGET_FACTOR = 50


class SourceError(EtiketSyncError):
    """The source as a whole cannot be read (missing root folder, unreadable database)."""


def settled_at(hit: ScanHit, wall: float, settle_s: float) -> datetime | None:
    """When a dataset whose newest file changed at ``hit.mtime`` will have been quiet for
    ``settle_s`` (None if it already has). Capped at ``settle_s`` from now: a file server
    whose clock runs ahead must not postpone a dataset by its clock error."""
    quiet = hit.mtime + settle_s
    if settle_s <= 0 or quiet <= wall:
        return None
    return datetime.fromtimestamp(min(quiet, wall + settle_s), timezone.utc)


class FileDiscovery:
    """Finds the datasets of one :class:`FileBackend` source.

    ``watch``: False for one-shot runs (no watcher is started and changed datasets do not
    wait to settle: ``--once`` never waits).
    """

    def __init__(
        self,
        backend: FileBackend,
        name: str,
        settings: EngineSettings,
        wake: Callable[[], None],
        watch: bool = True,
    ) -> None:
        self.backend = backend
        self.name = name
        self.settings = settings
        self.watch = watch
        self._wake = wake
        self.watcher: FolderWatcher | None = None
        self.note: str | None = None  # why we poll, shown in logs
        self._last_full = 0.0
        self._last_poll = 0.0
        self._scan_seconds = 0.0  # duration of the last full scan
        self._poll_seconds = 0.0  # duration of the last cheap poll
        self._dir_mtimes: dict[str, int] = {}  # folder mtimes seen by the last scans

    # -- timing ------------------------------------------------------------------------
    def _full_interval(self) -> float:
        return max(self.settings.rescan_interval_s, SCAN_BUDGET_FACTOR * self._scan_seconds)

    def _poll_interval(self) -> float:
        return max(self.settings.poll_interval_s, SCAN_BUDGET_FACTOR * self._poll_seconds)

    def next_due(self, now: float) -> float:
        """Monotonic time at which this source wants discovery again (without events)."""
        if not self._last_full:
            return now  # never scanned (monotonic time may be below any interval)
        full_at = self._last_full + self._full_interval()
        if self.watcher is not None:
            return full_at
        return min(full_at, self._last_poll + self._poll_interval())

    def has_hints(self) -> bool:
        """Whether the watcher has recorded events (or died) since the last discovery."""
        w = self.watcher
        return w is not None and (w.pending or not w.alive)

    # -- discovery ---------------------------------------------------------------------
    def discover(self, force: bool = False, slack: float = 0.0) -> list[Discovered]:
        """What the scans, polls or events due now found (hits, known or not).

        ``slack``: a scan or poll due within this many seconds is made now."""
        backend = self.backend
        root = backend.root_path()
        now = time.monotonic() + slack
        full_due = force or not self._last_full or now - self._last_full >= self._full_interval()
        if self.watcher is not None and not self.watcher.alive:
            self._stop_watcher("the file watcher stopped")
            full_due = True
        if full_due:
            res = self._full_scan(root)
        elif self.watcher is not None:
            paths, overflow = self.watcher.drain()
            if overflow:
                return self.discover(force=True)
            if not paths:
                return []
            res = ScanResult()
            for start in dataset_roots_for(root, backend.level, paths):
                part = self._scan(root, start)
                res.hits.extend(part.hits)
                res.errors.extend(part.errors)
        elif now - self._last_poll >= self._poll_interval():
            res = self._poll(root)
        else:
            return []
        for err in res.errors[:5]:
            logger.warning("source %s: %s", self.name, err)
        settle = self.settings.settle_s if self.watch else 0.0
        wall = time.time()
        return [
            Discovered(h.identifier, h.mtime, None, h.fingerprint, settled_at(h, wall, settle))
            for h in res.hits
        ]

    def _full_scan(self, root: Path) -> ScanResult:
        self._last_full = time.monotonic()  # also on failure: retried later, not at once
        if not root.is_dir():
            raise SourceError(
                f"root folder {root} does not exist or is not a folder",
                hint="create it, or fix the source with `etiket-sync sources edit`",
            )
        if self.watcher:  # drain hints first: the full scan covers them
            self.watcher.drain()
        t0 = time.monotonic()
        res = self._scan(root)
        self._scan_seconds = time.monotonic() - t0
        self._last_poll = time.monotonic()
        self._dir_mtimes = res.dir_mtimes or {}
        if self._ensure_watcher(root, res.n_dirs):
            # what appeared while the first scan ran is in no event: look again soon
            self._last_full = time.monotonic() - self._full_interval()
        return res

    def _poll(self, root: Path) -> ScanResult:
        """The cheap poll: stat the folders seen before, rescan only where they changed.

        New datasets show as a changed parent folder; files rewritten in place are left
        to the next full scan (``rescan_interval_s``).
        """
        t0 = time.monotonic()
        res = ScanResult()
        for start in dataset_roots_for(root, self.backend.level, changed_dirs(self._dir_mtimes)):
            part = self._scan(root, start)
            res.hits.extend(part.hits)
            res.errors.extend(part.errors)
            self._dir_mtimes.update(part.dir_mtimes or {})
        self._last_poll = time.monotonic()
        self._poll_seconds = self._last_poll - t0
        return res

    def _scan(self, root: Path, start: Path | None = None) -> ScanResult:
        backend = self.backend
        custom = type(backend).accepts is not FileBackend.accepts
        return scan(
            root,
            backend.level,
            single_file=backend.is_single_file,
            accept=backend.accepts if custom else None,  # None: the same rule, faster
            start=start,
            folder_mtimes=self.watch and self.watcher is None,  # only polls need them
        )

    # -- the watcher -------------------------------------------------------------------
    def _ensure_watcher(self, root: Path, n_dirs: int) -> bool:
        """Start the watcher if it should run and is not running; True if started now."""
        if self.backend.is_network_folder():
            self.note = "network folder: polling"
            return False
        if self.watcher is not None or not self.watch:
            return False
        fits, why = watch_fits(n_dirs)
        if not fits:
            self.note = why
            logger.warning("source %s: %s", self.name, why)
            return False
        watcher = FolderWatcher(root, self._wake)
        try:
            watcher.start()
        except OSError as exc:
            self.note = f"cannot watch {root} ({exc}): polling instead"
            logger.warning("source %s: %s", self.name, self.note)
            watcher.stop()
            return False
        self.watcher = watcher
        self.note = None
        return True

    def _stop_watcher(self, why: str) -> None:
        logger.warning("source %s: %s; rescanning", self.name, why)
        if self.watcher:
            self.watcher.stop()
        self.watcher = None

    def close(self) -> None:
        if self.watcher:
            self.watcher.stop()
            self.watcher = None
