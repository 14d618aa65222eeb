"""One configured source while the loop runs: its backend, its manifest, its discovery
(:mod:`file_discovery` or :mod:`database_discovery`), live pacing and scopes."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from etiket_sync_agent.engine.database_discovery import DatabaseDiscovery
from etiket_sync_agent.engine.file_discovery import FileDiscovery, SourceError
from etiket_sync_agent.engine.settings import EngineSettings
from etiket_sync_agent.plugins.base import DatabaseBackend, FileBackend, SyncBackend
from etiket_sync_agent.plugins.config import build_config
from etiket_sync_agent.plugins.items import ItemStatus, ScopeRequirement, SyncItem
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.state import repository as repo
from etiket_sync_agent.state.models import Item, Source

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_SCOPE", "LIVE_BUSY_FACTOR", "SourceError", "SourceRuntime", "source_version"]

DEFAULT_SCOPE = "default"
#: a live dataset waits this many times its last live pass before the next one
LIVE_BUSY_FACTOR = 4.0


def source_version(source: Source) -> tuple[object, ...]:
    """What, when edited, needs a new runtime (not counters or timestamps)."""
    return (source.backend, repr(sorted((source.config or {}).items())), source.default_scope)


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
        cls = runtime.registry.backend(source.backend)
        self.backend: SyncBackend = cls(build_config(cls.config_class, source.config), source.name)
        self.default_scope = source.default_scope
        #: identifier -> store scope; the loop reloads them when the state DB changed
        #: (``etiket-sync scopes map`` applies to a running agent)
        self.mappings = repo.scope_mappings(runtime.state, source.id)
        self.known = repo.known_items(runtime.state, source.id)  # the persisted manifest
        self.watch = watch  # False for one-shot runs: no watcher, no settle wait
        self.discovery: FileDiscovery | DatabaseDiscovery
        if isinstance(self.backend, DatabaseBackend):
            self.discovery = DatabaseDiscovery(self.backend, self.name, settings)
        else:
            assert isinstance(self.backend, FileBackend)
            self.discovery = FileDiscovery(self.backend, self.name, settings, wake, watch)
        self.failing = False  # the last discovery raised
        self.discovered = False  # a discovery succeeded since the runtime started
        self.last_error: str | None = source.last_error  # what the source row shows
        #: identifiers of live items (the loop wakes often while there are some)
        self.live: set[str] = {i for i, k in self.known.items() if k.status == "live"}
        #: live identifier -> monotonic time its next live pass is due (see after_attempt)
        self._live_next: dict[str, float] = {}
        #: monotonic time at which the source may have due items (0: look now)
        self.work_at = 0.0
        self._scopes: set[str] = set()

    # -- discovery ---------------------------------------------------------------------
    @property
    def watcher(self):  # noqa: ANN201 - FolderWatcher | None (file sources only)
        return getattr(self.discovery, "watcher", None)

    @property
    def note(self) -> str | None:
        return self.discovery.note

    def discover(self, force_full: bool = False, slack: float = 0.0) -> tuple[int, int]:
        """Find new and changed datasets, record them; returns (new, changed).

        ``slack``: what is due within this many seconds is done now."""
        if isinstance(self.discovery, DatabaseDiscovery):
            found = self.discovery.discover(self._last_sync_item, self._is_known, force_full, slack)
        else:
            found = self.discovery.discover(force_full, slack)
        if not found:
            return 0, 0
        new, changed = repo.record_discovery(self.runtime.state, self.source_id, found, self.known)
        if new or changed:
            self.work_at = 0.0
            self._mark_live()
        return new, changed

    def discovery_due(self, now: float, slack: float = 0.0) -> bool:
        """Whether discovery has something to do at ``now`` (``slack`` seconds early is
        fine: sources due about together are handled in one wake)."""
        return self.discovery.has_hints() or self.discovery.next_due(now) <= now + slack

    def next_wake(self, now: float) -> float:
        """Monotonic time at which this source needs the loop again (without events)."""
        wake = min(self.discovery.next_due(now), self.work_at)
        if self.live:
            wake = min(wake, min((self._live_next.get(i, now) for i in self.live), default=now))
        return wake

    def _is_known(self, identifier: str) -> bool:
        return identifier in self.known

    def _last_sync_item(self) -> SyncItem | None:
        last = repo.last_item(self.runtime.state, self.source_id)
        return self.to_sync_item(last) if last else None

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
            # label and name stay cached (a rebuilt KnownItem would lose them, and the
            # next discovery would write them all again)
            self.known[identifier] = dataclasses.replace(k, status=status)
        if status == ItemStatus.LIVE.value:
            self.live.add(identifier)
        else:
            self.live.discard(identifier)

    def count(self, status: ItemStatus) -> int:
        return sum(1 for k in self.known.values() if k.status == status.value)

    # -- items -------------------------------------------------------------------------
    def waiting_for(self, item: Item) -> str | None:
        """The scope identifier ``item`` waits for a mapping of, or None when it can be
        synchronized: only items of a scope-``DISABLED`` backend that creates no scopes
        for unmapped identifiers (``creates_scopes_for_unmapped``) ever wait."""
        ident = item.scope_identifier
        if (
            ident is None
            or self.backend.scope_requirement is not ScopeRequirement.DISABLED
            or ident in self.mappings
            or self.backend.creates_scopes_for_unmapped()
        ):
            return None
        # mapped meanwhile (by another process, since the loop last looked)?
        self.mappings = repo.scope_mappings(self.runtime.state, self.source_id)
        return None if ident in self.mappings else ident

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
            label=item.label,
            name=item.name,
        )

    def close(self) -> None:
        self.discovery.close()
        try:
            self.backend.close()
        except Exception:  # noqa: BLE001 - closing must not break the loop
            logger.exception("closing backend of %s", self.name)
