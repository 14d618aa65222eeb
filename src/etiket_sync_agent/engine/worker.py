"""Synchronize one item: run the backend, record the attempt, decide what comes next."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from etiket_sync_agent.engine.events import ItemFinished, ItemStarted, Reporter
from etiket_sync_agent.engine.failures import describe_failure, redacted_record
from etiket_sync_agent.engine.guards import bookkeeping
from etiket_sync_agent.engine.settings import EngineSettings
from etiket_sync_agent.engine.source_runtime import SourceRuntime
from etiket_sync_agent.plugins.context import SyncContext
from etiket_sync_agent.plugins.items import ItemStatus
from etiket_sync_agent.plugins.record import SyncRecord
from etiket_sync_agent.state import repository as repo
from etiket_sync_agent.state.models import Item

if TYPE_CHECKING:
    from etiket_sync_agent.store.interface import DatasetInfo, DatasetSpec

logger = logging.getLogger(__name__)


def sync_item(rt: SourceRuntime, item: Item, settings: EngineSettings, report: Reporter) -> str:
    """Attempt ``item`` once (a live pass for live items). Returns its new status."""
    db = rt.runtime.state
    backend = rt.backend
    waits_for = rt.waiting_for(item)
    if waits_for is not None:
        return _wait_for_mapping(rt, item, waits_for, report)
    live = item.status == ItemStatus.LIVE.value
    sync_item_ = rt.to_sync_item(item)
    if live:
        live = rt.still_live(sync_item_)
    mode = "live" if live else "normal"
    record = SyncRecord(mode=mode)
    report(ItemStarted(rt.name, item.identifier, mode))
    t0 = time.perf_counter()

    def adopt_uuid(new_uuid: str) -> None:
        repo.save_item(db, item.id, dataset_uuid=new_uuid)

    ctx = SyncContext(
        sync_item_,
        _ScopeOnFirstWrite(rt, sync_item_.scope),
        record,
        converter_lookup=rt.runtime.registry.converter,
        on_dataset_uuid=adopt_uuid,
    )
    now = datetime.now(timezone.utc)
    try:
        if live:
            backend.sync_dataset_live(sync_item_, ctx)
        else:
            backend.sync_dataset_normal(sync_item_, ctx)
    except Exception as exc:  # noqa: BLE001 - one bad item never stops the loop
        record.fail(exc)
        attempts = item.attempts + 1
        failure = describe_failure(exc, backend.config)  # clear line, redacted; retry?
        nxt = settings.retry.next_retry(attempts, now, failure.retryable)
        error = failure.message
        if nxt is None:
            error += f" [gave up after {attempts} attempt(s); `etiket-sync retry {rt.name}`]"
        repo.append_record(
            db,
            item.id,
            redacted_record(record.to_dict(), backend.config),
            status=ItemStatus.FAILED.value,
            attempts=attempts,
            next_retry=nxt,
            last_error=error,
        )
        # the source (and with it the item) may have been removed while it synchronized
        bookkeeping(
            f"error of {item.identifier}",
            lambda: repo.log_error(
                db, f"{item.identifier}: {error}", source_id=rt.source_id, item_id=item.id
            ),
        )
        logger.warning("source %s item %s failed: %s", rt.name, item.identifier, error)
        report(ItemFinished(rt.name, item.identifier, "failed", error, time.perf_counter() - t0))
        return ItemStatus.FAILED.value
    record.outcome = "ok"
    kept = {} if ctx.saved_state is None else {"backend_state": ctx.saved_state}
    if live:
        repo.append_record(db, item.id, record.to_dict(), status=ItemStatus.LIVE.value, **kept)
        status = ItemStatus.LIVE.value
    else:
        repo.append_record(
            db,
            item.id,
            record.to_dict(),
            status=ItemStatus.SYNCHRONIZED.value,
            attempts=0,
            next_retry=None,
            last_error=None,
            sync_count=item.sync_count + 1,
            last_sync=now,
            **kept,
        )
        status = ItemStatus.SYNCHRONIZED.value
    seconds = time.perf_counter() - t0
    logger.info("source %s item %s: %s (%.2f s)", rt.name, item.identifier, status, seconds)
    report(ItemFinished(rt.name, item.identifier, status, None, seconds))
    return status


class _ScopeOnFirstWrite:
    """The store as the backend sees it. The item's scope (chosen by the engine:
    ``default``, the source's, a mapped or backend-named one) is created when a dataset is
    first written into it, not before the backend runs: a backend that names each
    dataset's scope itself (native) leaves no empty ``default`` scope behind."""

    def __init__(self, rt: SourceRuntime, scope: str) -> None:
        self._rt = rt
        self._store = rt.runtime.store
        self._scope = scope

    def upsert_dataset(self, spec: DatasetSpec) -> DatasetInfo:
        if spec.scope == self._scope:
            self._rt.ensure_scope(self._scope)
        return self._store.upsert_dataset(spec)

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - everything else as is
        return getattr(self._store, name)


def _wait_for_mapping(rt: SourceRuntime, item: Item, ident: str, report: Reporter) -> str:
    """Hold ``item`` back until its scope identifier is mapped: no scope is created, the
    backend is not called, no failure is counted (``map_scope`` requeues it)."""
    message = (
        f"waiting for a scope mapping {ident} (`etiket-sync scopes map {rt.name} {ident} SCOPE`)"
    )
    if item.status != ItemStatus.WAITING.value or item.last_error != message:
        repo.save_item(
            rt.runtime.state,
            item.id,
            status=ItemStatus.WAITING.value,
            next_retry=None,
            last_error=message,
        )
    logger.info("source %s item %s: %s", rt.name, item.identifier, message)
    report(ItemFinished(rt.name, item.identifier, ItemStatus.WAITING.value, message, 0.0))
    return ItemStatus.WAITING.value
