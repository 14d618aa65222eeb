"""Synchronize one item: run the backend, record the attempt, decide what comes next.

An unreachable store is not the item's failure (see :mod:`.store_health`): the item waits
for the store with no attempt counted, and what its backend converted meanwhile is kept
in the spool (:mod:`.spool`) and replayed into the store at the next attempt instead of
running the backend again — unless the source changed since.
"""

from __future__ import annotations

import functools
import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from etiket_sync_agent.engine import spool
from etiket_sync_agent.engine.events import ItemFinished, ItemStarted, Reporter
from etiket_sync_agent.engine.failures import describe_failure, find_unreachable, redacted_record
from etiket_sync_agent.engine.guards import bookkeeping
from etiket_sync_agent.engine.settings import EngineSettings
from etiket_sync_agent.engine.source_runtime import SourceRuntime
from etiket_sync_agent.engine.store_health import STORE_HINT, StoreHealth
from etiket_sync_agent.errors import StoreUnreachableError
from etiket_sync_agent.plugins.base import FileBackend
from etiket_sync_agent.plugins.context import SyncContext
from etiket_sync_agent.plugins.items import ItemStatus
from etiket_sync_agent.plugins.record import SyncRecord
from etiket_sync_agent.state import repository as repo
from etiket_sync_agent.state.models import Item
from etiket_sync_agent.state.status import WaitReason

if TYPE_CHECKING:
    from etiket_sync_agent.store.interface import DatasetInfo, DatasetSpec

logger = logging.getLogger(__name__)

#: the start of ``last_error`` of an item waiting for the store
STORE_UNREACHABLE = "store unreachable"


def sync_item(
    rt: SourceRuntime,
    item: Item,
    settings: EngineSettings,
    report: Reporter,
    health: StoreHealth | None = None,
) -> str:
    """Attempt ``item`` once (a live pass for live items). Returns its new status.

    With ``health`` (the loop's), an unreachable store makes the item wait for it
    (``waiting``, or still ``live``) instead of failing, and a normal sync keeps what it
    converted in the spool."""
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

    folder = spool.spool_folder(rt.runtime.home.spool_dir, item.id)
    manifest = None if live or health is None else spool.load(folder)
    if manifest is not None and manifest.get("fingerprint") != item.fingerprint:
        record.log("the source changed since its converted files were spooled: spool dropped")
        spool.drop(folder)
        manifest = None
    writer = None
    if not live and health is not None:
        root = sync_item_.path if isinstance(backend, FileBackend) else None
        writer = spool.SpoolWriter(folder, root)
    store = _StoreSeenByBackend(rt, sync_item_.scope, health)
    ctx = SyncContext(
        sync_item_,
        store,
        record,
        converter_lookup=rt.runtime.registry.converter,
        on_dataset_uuid=adopt_uuid,
        spool=None if manifest is not None else writer,  # a replay never spools again
    )
    now = datetime.now(timezone.utc)
    try:
        if manifest is not None and _replay(folder, manifest, ctx):
            pass
        elif live:
            backend.sync_dataset_live(sync_item_, ctx)
        else:
            ctx.spool = writer
            backend.sync_dataset_normal(sync_item_, ctx)
    except Exception as exc:  # noqa: BLE001 - one bad item never stops the loop
        unreachable = find_unreachable(exc)
        # a backend may have replaced the error by its own (``raise ... from None``)
        reason = unreachable.message if unreachable is not None else store.unreachable
        if writer is not None and ctx.spool is writer:
            writer.drop()  # the backend did not finish: what it spooled is incomplete
        if reason is not None and health is not None:
            record.fail(exc)
            return _wait_for_store(rt, item, record, reason, health, live, report, t0)
        if manifest is not None:
            spool.drop(folder)  # the replay failed: the backend runs at the next attempt
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
            waiting_for=None,
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
    if ctx.spooling and writer is not None and health is not None:
        # the backend finished into the spool: nothing is converted again next time
        try:
            writer.commit(
                item_id=item.id,
                source=rt.name,
                identifier=item.identifier,
                fingerprint=item.fingerprint,
                dataset_uuid=ctx.dataset_uuid,
                saved_state=ctx.saved_state,
            )
            record.log(f"converted files kept in the spool ({len(writer.ops)} write(s))")
        except (OSError, TypeError, ValueError) as exc:  # a full disk: converted again later
            writer.drop()
            record.warn(f"the spool could not be written ({exc}): converted again later")
        reason = ctx.spooled_because or health.error or "the store cannot be reached"
        return _wait_for_store(rt, item, record, reason, health, live, report, t0)
    if manifest is not None:
        spool.drop(folder)
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
            waiting_for=None,
            sync_count=item.sync_count + 1,
            last_sync=now,
            **kept,
        )
        status = ItemStatus.SYNCHRONIZED.value
    seconds = time.perf_counter() - t0
    logger.info("source %s item %s: %s (%.2f s)", rt.name, item.identifier, status, seconds)
    report(ItemFinished(rt.name, item.identifier, status, None, seconds))
    return status


def _replay(folder: Any, manifest: dict[str, Any], ctx: SyncContext) -> bool:
    """Write the spooled sync into the store; False (spool dropped) if it is stale, and
    the backend runs instead."""
    try:
        with ctx.task("store the spooled files"):
            spool.check(folder, manifest)
            n = spool.replay(folder, manifest, ctx)
            ctx.log(f"{n} file(s) converted while the store was unreachable stored from the spool")
    except spool.StaleSpool as exc:
        ctx.log(f"spool not used ({exc}): synchronizing from the source")
        spool.drop(folder)
        return False
    if manifest.get("saved_state") is not None:
        ctx.saved_state = dict(manifest["saved_state"])
    return True


def _wait_for_store(
    rt: SourceRuntime,
    item: Item,
    record: SyncRecord,
    reason: str,
    health: StoreHealth,
    live: bool,
    report: Reporter,
    t0: float,
) -> str:
    """The store could not be reached: no attempt is counted; the item waits for it (a
    live item stays live) until a probe finds the store again (``StoreHealth.ready``)."""
    health.mark_down(reason)
    message = f"{STORE_UNREACHABLE}: {reason}"
    record.outcome = "waiting"
    record.error = message
    status = ItemStatus.LIVE.value if live else ItemStatus.WAITING.value
    repo.append_record(
        rt.runtime.state,
        item.id,
        redacted_record(record.to_dict(), rt.backend.config),
        status=status,
        waiting_for=WaitReason.STORE.value,
        next_retry=None if live else health.next_probe_wall(),
        last_error=message,
    )
    logger.info("source %s item %s waits: %s", rt.name, item.identifier, message)
    report(
        ItemFinished(
            rt.name, item.identifier, ItemStatus.WAITING.value, message, time.perf_counter() - t0
        )
    )
    return status


class _StoreSeenByBackend:
    """The store as the backend sees it.

    * The item's scope (chosen by the engine: ``default``, the source's, a mapped or
      backend-named one) is created when a dataset is first written into it, not before
      the backend runs: a backend that names each dataset's scope itself (native) leaves
      no empty ``default`` scope behind.
    * Every call that fails because the store cannot be reached raises
      :class:`StoreUnreachableError` (the driver's error as its cause), whatever the
      driver said (``StoreHealth.classify``); the store is opened on first use, so a
      store that could not even be opened is unreachable too.
    """

    def __init__(self, rt: SourceRuntime, scope: str, health: StoreHealth | None) -> None:
        self._rt = rt
        self._scope = scope
        self._health = health
        #: why the store was found unreachable during this attempt (None: it was not)
        self.unreachable: str | None = None

    def upsert_dataset(self, spec: DatasetSpec) -> DatasetInfo:
        def work() -> DatasetInfo:
            if spec.scope == self._scope:
                self._rt.ensure_scope(self._scope)
            return self._rt.runtime.store.upsert_dataset(spec)

        return self._guard(work)

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - everything else as is
        value = self._guard(lambda: getattr(self._rt.runtime.store, name))
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            return self._guard(lambda: value(*args, **kwargs))

        return call

    def _guard(self, fn: Any) -> Any:  # noqa: ANN401
        try:
            return fn()
        except StoreUnreachableError:
            raise
        except Exception as exc:
            reason = None if self._health is None else self._health.classify(exc)
            if reason is None:
                raise
            self.unreachable = reason
            raise StoreUnreachableError(reason, hint=STORE_HINT) from exc


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
            waiting_for=WaitReason.SCOPE_MAPPING.value,
        )
    logger.info("source %s item %s: %s", rt.name, item.identifier, message)
    report(ItemFinished(rt.name, item.identifier, ItemStatus.WAITING.value, message, 0.0))
    return ItemStatus.WAITING.value
