"""One configured source while the loop runs: its backend instance and its discovery."""

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
from etiket_sync_agent.plugins.base import DatabaseBackend, FileBackend, SyncBackend
from etiket_sync_agent.plugins.config import build_config
from etiket_sync_agent.plugins.items import ItemStatus, ScopeRequirement, SyncItem
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.state import repository as repo
from etiket_sync_agent.state.models import Item, Source

logger = logging.getLogger(__name__)

DEFAULT_SCOPE = "default"
#: a live dataset waits this many times its last live pass before the next one
LIVE_BUSY_FACTOR = 4.0


class SourceError(EtiketSyncError):
    """The source as a whole cannot be read (missing root folder, unreadable database)."""


def source_version(source: Source) -> tuple[object, ...]:
    """What, when edited, needs a new runtime (not counters or timestamps)."""
    return (source.backend, repr(sorted((source.config or {}).items())), source.default_scope)


def _settled_at(hit: ScanHit, wall: float, settle_s: float) -> datetime | None:
    """When a dataset whose newest file changed at ``hit.mtime`` will have been quiet for
    ``settle_s`` (None if it already has). Capped at ``settle_s`` from now: a file server
    whose clock runs ahead must not postpone a dataset by its clock error."""
    quiet = hit.mtime + settle_s
    if settle_s <= 0 or quiet <= wall:
        return None
    return datetime.fromtimestamp(min(quiet, wall + settle_s), timezone.utc)


class SourceRuntime:
    """Backend + manifest + discovery state of one source."""

    def __init__(
        self,
        source: Source,
        runtime: Runtime,
        settings: EngineSettings,
        wake: Callable[[], None],
        watch: bool = True,
    ) -> None:
        self.source_id = source.id
        self.name = source.name
        self.version = source_version(source)
        self.runtime = runtime
        self.settings = settings
        self._wake = wake
        cls = runtime.registry.backend(source.backend)
        self.backend: SyncBackend = cls(build_config(cls.config_class, source.config), source.name)
        self.default_scope = source.default_scope
        self.mappings = repo.scope_mappings(runtime.state, source.id)
        self.known = repo.known_items(runtime.state, source.id)  # the persisted manifest
        self.watcher: FolderWatcher | None = None
        self.watch = watch  # False for one-shot runs: no file-system watcher is started
        self.note: str | None = None  # why we poll, shown in logs
        self.failing = False  # the last discovery raised
        self.discovered = False  # a discovery succeeded since the runtime started
        #: identifiers of live items (the loop wakes often while there are some)
        self.live: set[str] = {i for i, k in self.known.items() if k.status == "live"}
        #: live identifier -> monotonic time its next live pass is due (see after_attempt)
        self._live_next: dict[str, float] = {}
        self._last_full = 0.0
        self._scan_seconds = 0.0  # duration of the last full scan
        self._poll_seconds = 0.0  # duration of the last cheap poll
        self._dir_mtimes: dict[str, int] = {}  # folder mtimes seen by the last scans
        self._last_poll = 0.0
        self._scopes: set[str] = set()

    # -- discovery ---------------------------------------------------------------------
    def discover(self, force_full: bool = False) -> tuple[int, int]:
        """Find new and changed datasets; returns (new, changed)."""
        if isinstance(self.backend, DatabaseBackend):
            return self._discover_database(force_full)
        assert isinstance(self.backend, FileBackend)
        return self._discover_files(self.backend, force_full)

    def next_due(self) -> float:
        """Seconds until this source wants discovery again (without events)."""
        now = time.monotonic()
        if isinstance(self.backend, DatabaseBackend):
            return max(0.0, self._last_poll + self.settings.db_poll_interval_s - now)
        full_in = self._last_full + self._full_interval() - now
        if self.watcher:
            return max(0.0, full_in)
        return max(0.0, min(full_in, self._last_poll + self._poll_interval() - now))

    def _full_interval(self) -> float:
        # a huge tree: never spend more than ~2 % of a core on full scans
        return max(self.settings.rescan_interval_s, 50 * self._scan_seconds)

    def _poll_interval(self) -> float:
        return max(self.settings.poll_interval_s, 50 * self._poll_seconds)

    def _discover_database(self, force: bool) -> tuple[int, int]:
        assert isinstance(self.backend, DatabaseBackend)
        now = time.monotonic()
        if not force and now - self._last_poll < self.settings.db_poll_interval_s:
            return 0, 0
        self._last_poll = now
        last = repo.last_item(self.runtime.state, self.source_id)
        new_items = self.backend.get_new_datasets(self.to_sync_item(last) if last else None)
        fingerprints: dict[str, str] = {}
        if force or not self._last_full or now - self._last_full >= self.settings.rescan_interval_s:
            self._last_full = now
            fingerprints = self.backend.dataset_fingerprints() or {}
        found = [
            repo.Discovered(
                n.identifier, n.priority, n.scope_identifier, fingerprints.pop(n.identifier, None)
            )
            for n in new_items
        ]
        # metadata edited on known datasets: a new fingerprint requeues them
        found += [
            repo.Discovered(ident, 0.0, None, fp)
            for ident, fp in fingerprints.items()
            if ident in self.known
        ]
        result = repo.record_discovery(self.runtime.state, self.source_id, found, self.known)
        self._mark_live()
        return result

    def _discover_files(self, backend: FileBackend, force: bool) -> tuple[int, int]:
        root = backend.root_path()
        now = time.monotonic()
        full_due = force or not self._last_full or now - self._last_full >= self._full_interval()
        if self.watcher is not None and not self.watcher.alive:
            self._stop_watcher("the file watcher stopped")
            full_due = True
        if full_due:
            self._last_full = now  # also on failure: retried at the next poll, not at once
            if not root.is_dir():
                raise SourceError(
                    f"root folder {root} does not exist or is not a folder",
                    hint="create it, or fix the source with `etiket-sync sources remove` + "
                    "`add-source`",
                )
            # drain hints first: the full scan covers them
            if self.watcher:
                self.watcher.drain()
            t0 = time.monotonic()
            res = self._scan(backend, root)
            self._scan_seconds = time.monotonic() - t0
            self._last_poll = time.monotonic()
            self._dir_mtimes = res.dir_mtimes or {}
            started = self._ensure_watcher(backend, root, res.n_dirs)
            if started:
                # what appeared while the first scan ran is in no event: look again soon
                self._last_full = time.monotonic() - self.settings.rescan_interval_s
        elif self.watcher is not None:
            paths, overflow = self.watcher.drain()
            if overflow:
                return self._discover_files(backend, force=True)
            if not paths:
                return 0, 0
            res = ScanResult()
            for start in dataset_roots_for(root, backend.level, paths):
                part = self._scan(backend, root, start)
                res.hits.extend(part.hits)
                res.errors.extend(part.errors)
        elif now - self._last_poll >= self._poll_interval():
            res = self._poll(backend, root)
        else:
            return 0, 0
        for err in res.errors[:5]:
            logger.warning("source %s: %s", self.name, err)
        settle = self.settings.settle_s if self.watch else 0.0
        wall = time.time()
        found = [
            repo.Discovered(
                h.identifier, h.mtime, None, h.fingerprint, _settled_at(h, wall, settle)
            )
            for h in res.hits
        ]
        result = repo.record_discovery(self.runtime.state, self.source_id, found, self.known)
        self._mark_live()
        return result

    def _poll(self, backend: FileBackend, root: Path) -> ScanResult:
        """The cheap poll: stat the folders seen before, rescan only where they changed.

        New datasets show as a changed parent folder; files rewritten in place are left
        to the next full scan (``rescan_interval_s``).
        """
        t0 = time.monotonic()
        res = ScanResult()
        changed = changed_dirs(self._dir_mtimes)
        for start in dataset_roots_for(root, backend.level, changed):
            part = self._scan(backend, root, start)
            res.hits.extend(part.hits)
            res.errors.extend(part.errors)
            self._dir_mtimes.update(part.dir_mtimes or {})
        self._last_poll = time.monotonic()
        self._poll_seconds = self._last_poll - t0
        return res

    def _scan(self, backend: FileBackend, root: Path, start: Path | None = None) -> ScanResult:
        custom = type(backend).accepts is not FileBackend.accepts
        return scan(
            root,
            backend.level,
            single_file=backend.is_single_file,
            accept=backend.accepts if custom else None,  # None: the same rule, faster
            start=start,
            folder_mtimes=self.watch and self.watcher is None,  # only polls need them
        )

    def _ensure_watcher(self, backend: FileBackend, root: Path, n_dirs: int) -> bool:
        """Start the watcher if it should run and is not running; True if started now."""
        if self.watcher is not None or not self.watch or backend.is_network_folder():
            if backend.is_network_folder():
                self.note = "network folder: polling"
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

    def _mark_live(self) -> None:
        """Ask the backend whether the newest pending item is being measured."""
        if not self.backend.live_sync_implemented:
            return
        last = repo.last_item(self.runtime.state, self.source_id)
        if last is None or last.status != ItemStatus.PENDING.value:
            return
        if self.backend.check_live_dataset(self.to_sync_item(last)):
            repo.save_item(self.runtime.state, last.id, status=ItemStatus.LIVE.value)
            self.set_status(last.identifier, ItemStatus.LIVE.value)

    # -- live pacing ------------------------------------------------------------------
    def live_due(self, identifier: str) -> bool:
        """Whether the live item is due for another live pass (see :meth:`after_attempt`)."""
        return time.monotonic() >= self._live_next.get(identifier, 0.0)

    def still_live(self, item: SyncItem) -> bool:
        """The backend's cheap check that a live item is still being measured."""
        try:
            return bool(self.backend.check_live_dataset(item))
        except Exception as exc:  # noqa: BLE001 - treated as finished: the sync decides
            logger.warning("check_live_dataset failed for %s: %s", item.identifier, exc)
            return False

    def after_attempt(self, identifier: str, status: str, seconds: float) -> None:
        """Pace live passes: the next one starts ``live_interval_s`` after this one ended,
        or ``LIVE_BUSY_FACTOR`` times as long as it took if that is longer, so a big live
        dataset takes at most ~1/(1 + factor) of the agent's time while it is measured.
        Whether it finished is still checked at every wake (:meth:`still_live`)."""
        if status == ItemStatus.LIVE.value:
            pause = max(self.settings.live_interval_s, LIVE_BUSY_FACTOR * seconds)
            self._live_next[identifier] = time.monotonic() + pause
        else:
            self._live_next.pop(identifier, None)

    def set_status(self, identifier: str, status: str) -> None:
        """Keep the in-memory manifest in step with an item's new status."""
        k = self.known.get(identifier)
        if k is not None:
            self.known[identifier] = repo.KnownItem(k.id, k.fingerprint, status)
        if status == ItemStatus.LIVE.value:
            self.live.add(identifier)
        else:
            self.live.discard(identifier)

    def count(self, status: ItemStatus) -> int:
        return sum(1 for k in self.known.values() if k.status == status.value)

    # -- items -------------------------------------------------------------------------
    def resolve_scope(self, scope_identifier: str | None) -> str:
        req = self.backend.scope_requirement
        if scope_identifier is not None and (
            req is ScopeRequirement.DISABLED or self.backend.supports_scope_mapping
        ):
            mapped = self.mappings.get(scope_identifier)
            if mapped:
                return mapped
            if req is ScopeRequirement.DISABLED:
                return scope_identifier
        return self.default_scope or DEFAULT_SCOPE

    def ensure_scope(self, scope: str) -> None:
        """Create scopes chosen automatically (``default``, backend-chosen) on first use."""
        if scope not in self._scopes:
            if self.runtime.store.get_scope(scope) is None:
                self.runtime.store.create_scope(scope, f"created for source {self.name}")
            self._scopes.add(scope)

    def to_sync_item(self, item: Item) -> SyncItem:
        path = None
        if isinstance(self.backend, FileBackend):
            path = self.backend.root_path() / item.identifier
        return SyncItem(
            id=item.id,
            source_name=self.name,
            identifier=item.identifier,
            dataset_uuid=item.dataset_uuid,
            scope=self.resolve_scope(item.scope_identifier),
            scope_identifier=item.scope_identifier,
            priority=item.priority,
            attempts=item.attempts,
            path=path,
            state=item.backend_state or {},
        )

    def close(self) -> None:
        if self.watcher:
            self.watcher.stop()
            self.watcher = None
        try:
            self.backend.close()
        except Exception:  # noqa: BLE001 - closing must not break the loop
            logger.exception("closing backend of %s", self.name)
