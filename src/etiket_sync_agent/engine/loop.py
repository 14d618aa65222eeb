"""The sync loop: discover, synchronize what is due, wait for a hint or a deadline, repeat.

An idle loop costs (nearly) nothing per source: it sleeps until the earliest deadline of
any source (a poll, a rescan, a retry or settle time, a live pass) or a watch event; the
source rows are re-read only when the sources table changed; a database is asked for new
datasets only when its backend's change token moved (:mod:`database_discovery`); a source
is asked for due items only when it may have some (:mod:`due_order`).

Nothing a source, a user or a busy state database does ends the loop (:mod:`guards`): a
source removed, paused or edited while it is discovered or synchronized stops or changes
at the next step; a ``database is locked`` becomes an item or source error.

An unreachable store stops no discovery either (:mod:`store_health`): after the first
item that meets it, the loop synchronizes nothing until a probe of the store, due at a
backed-off time, finds it again — then the items waiting for it resume by themselves.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import func, select

from etiket_sync_agent.engine import due_order
from etiket_sync_agent.engine.database_discovery import next_on_grid
from etiket_sync_agent.engine.events import (
    IterationFinished,
    Reporter,
    SourceDiscovered,
    SourceFailed,
    null_reporter,
)
from etiket_sync_agent.engine.guards import bookkeeping, is_database_busy
from etiket_sync_agent.engine.settings import EngineSettings
from etiket_sync_agent.engine.source_runtime import SourceRuntime, source_version
from etiket_sync_agent.engine.state_changes import StateChanges
from etiket_sync_agent.engine.store_health import StoreHealth
from etiket_sync_agent.engine.worker import STORE_UNREACHABLE, sync_item
from etiket_sync_agent.errors import AlreadyRunningError, error_line
from etiket_sync_agent.locking import FileLock
from etiket_sync_agent.maintenance import sweep_at_start
from etiket_sync_agent.plugins.items import ItemStatus
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.state import repository as repo
from etiket_sync_agent.state.models import Item, Source

logger = logging.getLogger(__name__)

#: sources whose discovery is due within this share of the database poll interval are
#: handled in the same wake (one wake per poll period, however many sources there are)
COALESCE = 0.25
#: a source whose step met a busy state database waits this long before the next one
BUSY_BACKOFF_S = 1.0


@dataclass
class RunSummary:
    iterations: int = 0
    attempted: int = 0
    failed: int = 0
    source_errors: dict[str, str] = field(default_factory=dict)


class SyncEngine:
    """Runs the sync loop for one home. Use :meth:`run`; stop it with :meth:`stop`."""

    def __init__(
        self,
        runtime: Runtime,
        settings: EngineSettings | None = None,
        reporter: Reporter = null_reporter,
        only_sources: set[str] | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings or EngineSettings()
        self.report = reporter
        #: names of the sources to synchronize (None = all of them)
        self.only_sources = only_sources
        self._sources: dict[int, SourceRuntime] = {}
        self._sources_seen: tuple[object, ...] | None = None  # see _sources_signature
        #: sources whose runtime could not be built -> their error (built again later)
        self._broken: dict[int, str] = {}
        self._broken_retry_at = 0.0
        self._recheck_at = 0.0  # next look at the items of all sources (_recheck)
        self._state_changes = StateChanges(None)  # the state DB's file, once run() opens it
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = FileLock(runtime.home.lock_file)
        self._iteration = 0
        self._once = False
        #: the "running" status fields until they have been written (see _heartbeat)
        self._started: dict[str, object] = {}
        #: whether the store can be reached (probed while it cannot)
        self.health = StoreHealth(runtime, self.settings.retry, self.wake)
        self._store_was_down = False

    # -- control -----------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish the item at hand and return."""
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def run(self, iterations: int = 0, once: bool = False) -> RunSummary:
        """Run ``iterations`` iterations (0 = until stopped). ``once``: discover
        everything, attempt every due item once (waiting for nothing), return."""
        if not self._lock.acquire():
            pid = self._lock.holder_pid()
            raise AlreadyRunningError(
                f"another etiket-sync agent is already running on this home (pid {pid})",
                hint="stop it first, or use another --home",
            )
        try:
            db = self.runtime.state  # a damaged state DB raises here: release the lock
        except BaseException:
            self._lock.release()
            raise
        self._state_changes = StateChanges(getattr(db, "path", None))
        summary = RunSummary()
        self._once = once or iterations == 1
        heartbeat = threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)
        try:
            # what a killed agent left (uncommitted blobs, temp files, scratch folders),
            # swept under the agent lock before anything else runs
            swept = sweep_at_start(self.runtime)
            if swept.removed or swept.errors:
                logger.info("start-up sweep: %s", swept)
            self._started = {
                "state": "running",
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "iteration": 0,
                "started": datetime.now(timezone.utc),
                "message": None,
            }
            # a busy state DB must not stop the start either: the heartbeat writes it then
            if bookkeeping("loop status", self._write_started) is None:
                logger.warning("the loop status is written at the next heartbeat")
            heartbeat.start()
            # items still waiting for the store from the last run: probe it at once
            bookkeeping("store status", self.health.restore)
            logger.info(
                "sync loop started (pid %s, home %s)", os.getpid(), self.runtime.home.data_dir
            )
            while not self._stop.is_set():
                self.iterate(summary, once=self._once)
                if self._once or (iterations and summary.iterations >= iterations):
                    break
                self._wait()
            self._started = {}
            bookkeeping(
                "loop status",
                lambda: repo.set_loop_status(
                    db, state="stopped", last_heartbeat=datetime.now(timezone.utc)
                ),
            )
            logger.info(
                "sync loop stopped after %d iteration(s), %d attempt(s), %d failed",
                summary.iterations,
                summary.attempted,
                summary.failed,
            )
        except BaseException as exc:
            message = error_line(exc)
            bookkeeping(
                "loop status", lambda: repo.set_loop_status(db, state="crashed", message=message)
            )
            raise
        finally:
            self._stop.set()
            self.health.wait_probe(timeout=5.0)
            for rt in self._sources.values():
                rt.close()
            self._sources.clear()
            self._state_changes.close()
            self._lock.release()
        return summary

    # -- one iteration -----------------------------------------------------------------
    def iterate(self, summary: RunSummary, once: bool = False) -> None:
        """Discover what is due, then work through what is due, each source once."""
        self._iteration += 1
        summary.iterations += 1
        try:
            runtimes = self._refresh_sources(summary)
        except Exception as exc:  # noqa: BLE001 - e.g. a busy state DB: try again later
            logger.warning("reading the sources failed: %s", error_line(exc))
            runtimes = list(self._sources.values())
        now = time.monotonic()
        slack = COALESCE * self.settings.db_poll_interval_s
        for rt in runtimes:
            if once or rt.discovery_due(now, slack):
                self._discover(rt, summary, force=once, slack=slack)
        self._probe_store(runtimes)
        now = time.monotonic()
        if now + slack >= self._recheck_at:
            self._recheck(runtimes, now)
        busy = [rt for rt in runtimes if once or rt.live or rt.work_at <= now + slack]
        deadline = None if once else time.monotonic() + self.settings.iteration_budget_s
        workers = max(1, min(self.settings.workers, len(busy)))
        if workers == 1:
            results = [self._work(rt, deadline, summary) for rt in busy]
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="sync") as pool:
                results = list(pool.map(lambda rt: self._work(rt, deadline, summary), busy))
        attempted = sum(a for a, _ in results)
        failed = sum(f for _, f in results)
        summary.attempted += attempted
        summary.failed += failed
        if attempted or self._iteration == 1:  # the heartbeat records it otherwise
            bookkeeping(
                "loop status",
                lambda: repo.set_loop_status(self.runtime.state, iteration=self._iteration),
            )
        self.report(IterationFinished(self._iteration, attempted, failed))

    def _probe_store(self, runtimes: list[SourceRuntime]) -> None:
        """While the store is down, probe it when due (in the background: it wakes the
        loop); once it is back, the items that waited for it are pending again: every
        source looks for work."""
        if self.health.down:
            self._store_was_down = True
            self.health.ready()
        elif self._store_was_down:
            self._store_was_down = False
            for rt in runtimes:
                rt.work_at = 0.0

    def _recheck(self, runtimes: list[SourceRuntime], now: float) -> None:
        """Look at the items of all sources at once (one query): which have work due, and
        when the others will (retry and settle times, `etiket-sync retry` meanwhile)."""
        self._recheck_at = next_on_grid(now, self.settings.recheck_s)
        try:
            waiting = due_order.waiting(self.runtime.state, datetime.now(timezone.utc))
        except Exception as exc:  # noqa: BLE001 - e.g. a busy state DB: next time
            logger.warning("looking for due items failed: %s", error_line(exc))
            self._recheck_at = now + BUSY_BACKOFF_S
            return
        for rt in runtimes:
            seconds = waiting.get(rt.source_id)
            if seconds is not None:
                rt.work_at = min(rt.work_at, now + seconds)

    def _sources_signature(self) -> tuple[object, ...]:
        """Changes whenever a source is added, removed, paused or edited (one cheap
        aggregate query instead of reading every source row at every wake)."""
        with self.runtime.state.session() as s:
            row = s.execute(
                select(func.count(Source.id), func.max(Source.id), func.max(Source.updated))
            ).one()
        return tuple(row)

    def _active_sources(self) -> dict[int, Source]:
        return {
            s.id: s
            for s in repo.list_sources(self.runtime.state)
            if s.status != "paused" and (self.only_sources is None or s.name in self.only_sources)
        }

    def _matches(self, current: dict[int, Source]) -> bool:
        """Whether the runtimes (and the sources that failed to build) are ``current``."""
        return set(current) == set(self._sources) | set(self._broken) and all(
            source_version(src) == self._sources[sid].version
            for sid, src in current.items()
            if sid in self._sources
        )

    def _refresh_sources(self, summary: RunSummary) -> list[SourceRuntime]:
        """Match runtimes to the sources in the state DB (the CLI edits them live).

        The rows are read only when the sources table changed (or, every ``recheck_s``,
        to build again a source that failed to build)."""
        retry_broken = self._broken and time.monotonic() >= self._broken_retry_at
        if not self._state_changes.changed() and not retry_broken:
            return list(self._sources.values())  # nothing was committed since: no query
        self._reload_mappings()
        signature = self._sources_signature()
        if signature == self._sources_seen and not retry_broken:
            return list(self._sources.values())
        current = self._active_sources()
        for sid in list(self._sources):
            src = current.get(sid)
            if src is None or source_version(src) != self._sources[sid].version:
                self._sources.pop(sid).close()
        self._broken = {}
        for sid, src in current.items():
            if sid in self._sources:
                continue
            try:
                self._sources[sid] = SourceRuntime(
                    src, self.runtime, self.settings, self.wake, watch=not self._once
                )
            except Exception as exc:  # noqa: BLE001 - one bad source never stops the others
                self._broken[sid] = self._source_failed(
                    src.id, src.name, src.last_error, exc, summary
                )
        self._broken_retry_at = time.monotonic() + self.settings.recheck_s
        self._sources_seen = signature
        return list(self._sources.values())

    def _reload_mappings(self) -> None:
        """Give the runtimes the scope mappings as they are now (one query for all
        sources, after a commit): ``etiket-sync scopes map`` needs no restart."""
        if not self._sources:
            return
        mappings = repo.all_scope_mappings(self.runtime.state)
        for sid, rt in self._sources.items():
            rt.mappings = mappings.get(sid, {})

    def _sources_changed(self) -> bool:
        """Whether a source was added, removed, paused or edited since the runtimes were
        matched (our own status writes change the table too: then the rows tell)."""
        try:
            signature = self._sources_signature()
            if signature == self._sources_seen:
                return False
            if self._matches(self._active_sources()):
                self._sources_seen = signature
                return False
            return True
        except Exception:  # noqa: BLE001 - a busy DB: carry on, the sync records decide
            return False

    def _source_gone(self, source_id: int) -> bool:
        """Whether the source was removed or paused since the runtimes were matched."""
        with self.runtime.state.session() as s:
            status = s.scalar(select(Source.status).where(Source.id == source_id))
        return status is None or status == "paused"

    def _source_failed(
        self,
        source_id: int,
        name: str,
        previous: str | None,
        exc: BaseException,
        summary: RunSummary,
    ) -> str:
        """Record a source error (once per distinct error) unless the source is gone."""
        err = error_line(exc)
        try:
            if self._source_gone(source_id):
                logger.info("source %s was removed or paused meanwhile", name)
                return previous or ""
        except Exception:  # noqa: BLE001 - cannot tell: record it (guarded below)
            pass
        summary.source_errors[name] = err
        if previous != err:
            bookkeeping(
                f"source {name} error",
                lambda: repo.log_error(self.runtime.state, err, source_id=source_id),
            )
            logger.error("source %s: %s", name, err)
        bookkeeping(
            f"source {name} error",
            lambda: repo.set_source_fields(self.runtime.state, source_id, last_error=err),
        )
        self.report(SourceFailed(name, err))
        return err

    def _discover(
        self, rt: SourceRuntime, summary: RunSummary, force: bool, slack: float = 0.0
    ) -> None:
        try:
            new, changed = rt.discover(force_full=force, slack=slack)
        except Exception as exc:  # noqa: BLE001
            rt.failing = True
            rt.last_error = self._source_failed(rt.source_id, rt.name, rt.last_error, exc, summary)
            return
        fields: dict[str, object] = {}
        if rt.failing or not rt.discovered:
            if rt.last_error is not None:
                fields["last_error"] = None  # the source works (again)
            summary.source_errors.pop(rt.name, None)
        rt.failing, rt.discovered, rt.last_error = False, True, None
        if new or changed:
            fields["last_discovery"] = datetime.now(timezone.utc)
        if fields:
            bookkeeping(
                f"source {rt.name} status",
                lambda: repo.set_source_fields(self.runtime.state, rt.source_id, **fields),
            )
        if new or changed:
            self.report(SourceDiscovered(rt.name, new, changed, rt.count(ItemStatus.PENDING)))

    def _work(
        self, rt: SourceRuntime, deadline: float | None, summary: RunSummary
    ) -> tuple[int, int]:
        """Attempt due items of one source, each at most once this iteration."""
        attempted = failed = 0
        try:
            attempted, failed = self._work_items(rt, deadline)
        except Exception as exc:  # noqa: BLE001 - a busy DB, a removed source, a bug
            if is_database_busy(exc):
                logger.warning("source %s: %s; trying again soon", rt.name, error_line(exc))
            else:
                rt.last_error = self._source_failed(
                    rt.source_id, rt.name, rt.last_error, exc, summary
                )
            rt.work_at = time.monotonic() + BUSY_BACKOFF_S
        return attempted, failed

    def _work_items(self, rt: SourceRuntime, deadline: float | None) -> tuple[int, int]:
        db = self.runtime.state
        seen: set[int] = set()
        attempted = failed = 0
        while not self._stop.is_set():
            if deadline is not None and time.monotonic() > deadline:
                return attempted, failed
            now = datetime.now(timezone.utc)
            items = [
                i
                for i in due_order.due_items(db, rt.source_id, now, self._once)
                if i.id not in seen
            ]
            if not items:
                break
            for item in items:
                if self._stop.is_set() or (deadline is not None and time.monotonic() > deadline):
                    return attempted, failed
                if attempted and self._sources_changed():
                    return attempted, failed  # removed, paused or edited: re-read first
                if not self.health.ready():
                    # the store is unreachable: nothing more until the next probe; the
                    # due items wait for it (no attempt counted) and resume with it
                    self._hold_for_store(rt, [i for i in items if i.id not in seen])
                    self._store_was_down = True
                    rt.work_at = self.health.next_probe() or float("inf")
                    return attempted, failed
                seen.add(item.id)
                live = item.status == ItemStatus.LIVE.value
                if (
                    live
                    and not rt.live_due(item.identifier)
                    and rt.still_live(rt.to_sync_item(item))
                ):
                    continue  # paced: see SourceRuntime.after_attempt
                t0 = time.monotonic()
                status = sync_item(rt, item, self.settings, self.report, self.health)
                rt.after_attempt(item.identifier, status, time.monotonic() - t0)
                attempted += status != ItemStatus.WAITING.value  # not tried: no mapping
                failed += status == ItemStatus.FAILED.value
                rt.set_status(item.identifier, status)
        if self._stop.is_set():
            return attempted, failed
        # nothing more is due now: look again at the next retry or settle time, when
        # discovery finds something, or at the next look at all sources (_recheck)
        # (a pass runs only when there is a reason: discovery found something, _recheck
        # saw due items, a live item)
        rt.work_at = float("inf")
        nxt = due_order.next_due_in(db, rt.source_id, datetime.now(timezone.utc))
        if nxt is not None:  # what just failed, or waits to settle
            rt.work_at = time.monotonic() + nxt
        return attempted, failed

    def _hold_for_store(self, rt: SourceRuntime, items: list[Item]) -> None:
        message = f"{STORE_UNREACHABLE}: {self.health.error} (not attempted)"
        ids = [i.id for i in items]
        bookkeeping(
            "items waiting for the store",
            lambda: repo.hold_for_store(
                self.runtime.state, ids, message, self.health.next_probe_wall()
            ),
        )
        for i in items:
            if i.status != ItemStatus.LIVE.value:
                rt.set_status(i.identifier, ItemStatus.WAITING.value)

    # -- waiting -----------------------------------------------------------------------
    def _wait(self) -> None:
        """Sleep until the earliest deadline of any source, or a watch event."""
        now = time.monotonic()
        wake_at = min(
            [rt.next_wake(now) for rt in self._sources.values()]
            + [self._recheck_at, now + self.settings.recheck_s]
            + [t for t in [self.health.next_probe()] if t is not None]
        )
        timeout = wake_at - now
        if any(rt.live for rt in self._sources.values()):
            # a finished measurement is noticed at the next wake (still_live)
            timeout = min(timeout, self.settings.live_interval_s)
        if self._wake.wait(timeout=max(timeout, 0.01)):
            # batch a burst of events into one rescan
            self._stop.wait(self.settings.debounce_s)
        self._wake.clear()

    def _write_started(self) -> bool:
        repo.set_loop_status(
            self.runtime.state, last_heartbeat=datetime.now(timezone.utc), **self._started
        )
        self._started = {}
        return True

    def _heartbeat(self) -> None:
        db = self.runtime.state
        from etiket_sync_agent.services.agents import HeartbeatPublisher

        publish = HeartbeatPublisher(self.runtime)  # into the store, throttled, never raises
        publish()
        while not self._stop.wait(self.settings.heartbeat_s):
            publish()
            try:
                repo.set_loop_status(
                    db,
                    last_heartbeat=datetime.now(timezone.utc),
                    **{**self._started, "iteration": self._iteration},
                )
                self._started = {}
            except Exception as exc:  # noqa: BLE001 - a missed heartbeat is not fatal
                logger.warning("heartbeat failed: %s", error_line(exc))
