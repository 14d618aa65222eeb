"""The sync loop: discover, synchronize what is due, wait for a hint or a timer, repeat."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

from etiket_sync_agent.engine.events import (
    IterationFinished,
    Reporter,
    SourceDiscovered,
    SourceFailed,
    null_reporter,
)
from etiket_sync_agent.engine.settings import EngineSettings
from etiket_sync_agent.engine.source_runtime import SourceRuntime, source_version
from etiket_sync_agent.engine.worker import sync_item
from etiket_sync_agent.errors import AlreadyRunningError, error_line
from etiket_sync_agent.locking import FileLock
from etiket_sync_agent.plugins.items import ItemStatus
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.state import repository as repo
from etiket_sync_agent.state.models import Source

logger = logging.getLogger(__name__)


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
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = FileLock(runtime.home.lock_file)
        self._iteration = 0
        self._once = False

    # -- control -----------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish the item at hand and return."""
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def run(self, iterations: int = 0, once: bool = False) -> RunSummary:
        """Run ``iterations`` iterations (0 = until stopped). ``once``: discover
        everything, attempt every due item once, return."""
        if not self._lock.acquire():
            pid = self._lock.holder_pid()
            raise AlreadyRunningError(
                f"another etiket-sync agent is already running on this home (pid {pid})",
                hint="stop it first, or use another --home",
            )
        db = self.runtime.state
        summary = RunSummary()
        self._once = once or iterations == 1
        heartbeat = threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)
        try:
            repo.set_loop_status(
                db,
                state="running",
                pid=os.getpid(),
                host=socket.gethostname(),
                iteration=0,
                started=datetime.now(timezone.utc),
                last_heartbeat=datetime.now(timezone.utc),
                message=None,
            )
            heartbeat.start()
            logger.info(
                "sync loop started (pid %s, home %s)", os.getpid(), self.runtime.home.data_dir
            )
            while not self._stop.is_set():
                self.iterate(summary, once=once or iterations == 1)
                if once or (iterations and summary.iterations >= iterations):
                    break
                self._wait()
            repo.set_loop_status(db, state="stopped", last_heartbeat=datetime.now(timezone.utc))
            logger.info(
                "sync loop stopped after %d iteration(s), %d attempt(s), %d failed",
                summary.iterations,
                summary.attempted,
                summary.failed,
            )
        except BaseException as exc:
            repo.set_loop_status(db, state="crashed", message=error_line(exc))
            raise
        finally:
            self._stop.set()
            for rt in self._sources.values():
                rt.close()
            self._sources.clear()
            self._lock.release()
        return summary

    # -- one iteration -----------------------------------------------------------------
    def iterate(self, summary: RunSummary, once: bool = False) -> None:
        self._iteration += 1
        summary.iterations += 1
        runtimes = self._refresh_sources(summary)
        for rt in runtimes:
            self._discover(rt, summary, force=once)
        attempted = failed = 0
        deadline = None if once else time.monotonic() + self.settings.iteration_budget_s
        workers = max(1, min(self.settings.workers, len(runtimes)))
        if workers == 1:
            results = [self._work(rt, deadline) for rt in runtimes]
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="sync") as pool:
                results = list(pool.map(lambda rt: self._work(rt, deadline), runtimes))
        for a, f in results:
            attempted += a
            failed += f
        summary.attempted += attempted
        summary.failed += failed
        repo.set_loop_status(self.runtime.state, iteration=self._iteration)
        self.report(IterationFinished(self._iteration, attempted, failed))

    def _refresh_sources(self, summary: RunSummary) -> list[SourceRuntime]:
        """Match runtimes to the sources in the state DB (the CLI edits them live)."""
        db = self.runtime.state
        current: dict[int, Source] = {
            s.id: s
            for s in repo.list_sources(db)
            if s.status != "paused" and (self.only_sources is None or s.name in self.only_sources)
        }
        for sid in list(self._sources):
            src = current.get(sid)
            if src is None or source_version(src) != self._sources[sid].version:
                self._sources.pop(sid).close()
        for sid, src in current.items():
            if sid in self._sources:
                continue
            try:
                self._sources[sid] = SourceRuntime(
                    src, self.runtime, self.settings, self.wake, watch=not self._once
                )
            except Exception as exc:  # noqa: BLE001 - one bad source never stops the others
                self._source_failed(src.id, src.name, exc, summary)
        return list(self._sources.values())

    def _source_failed(
        self, source_id: int, name: str, exc: BaseException, summary: RunSummary
    ) -> None:
        err = error_line(exc)
        summary.source_errors[name] = err
        db = self.runtime.state
        prev = repo.get_source(db, name).last_error
        if prev != err:
            repo.log_error(db, err, source_id=source_id)
            logger.error("source %s: %s", name, err)
        repo.set_source_fields(db, source_id, last_error=err)
        self.report(SourceFailed(name, err))

    def _discover(self, rt: SourceRuntime, summary: RunSummary, force: bool) -> None:
        try:
            new, changed = rt.discover(force_full=force)
        except Exception as exc:  # noqa: BLE001
            rt.failing = True
            self._source_failed(rt.source_id, rt.name, exc, summary)
            return
        fields: dict[str, object] = {}
        if rt.failing or not rt.discovered:
            fields["last_error"] = None  # the source works (again)
            summary.source_errors.pop(rt.name, None)
        rt.failing, rt.discovered = False, True
        if new or changed or fields:
            fields["last_discovery"] = datetime.now(timezone.utc)
            repo.set_source_fields(self.runtime.state, rt.source_id, **fields)
            self.report(SourceDiscovered(rt.name, new, changed, rt.count(ItemStatus.PENDING)))

    def _work(self, rt: SourceRuntime, deadline: float | None) -> tuple[int, int]:
        """Attempt due items of one source, each at most once this iteration."""
        db = self.runtime.state
        seen: set[int] = set()
        attempted = failed = 0
        while not self._stop.is_set():
            if deadline is not None and time.monotonic() > deadline:
                break
            items = [
                i
                for i in repo.due_items(db, rt.source_id, datetime.now(timezone.utc))
                if i.id not in seen
            ]
            if not items:
                break
            for item in items:
                if self._stop.is_set() or (deadline is not None and time.monotonic() > deadline):
                    break
                seen.add(item.id)
                live = item.status == ItemStatus.LIVE.value
                if (
                    live
                    and not rt.live_due(item.identifier)
                    and rt.still_live(rt.to_sync_item(item))
                ):
                    continue  # paced: see SourceRuntime.after_attempt
                t0 = time.monotonic()
                status = sync_item(rt, item, self.settings, self.report)
                rt.after_attempt(item.identifier, status, time.monotonic() - t0)
                attempted += 1
                failed += status == ItemStatus.FAILED.value
                rt.set_status(item.identifier, status)
        return attempted, failed

    # -- waiting -----------------------------------------------------------------------
    def _wait(self) -> None:
        timeout = min(
            [rt.next_due() for rt in self._sources.values()] + [self.settings.heartbeat_s]
        )
        if any(rt.live for rt in self._sources.values()):
            timeout = min(timeout, self.settings.live_interval_s)
        if self._wake.wait(timeout=max(timeout, 0.05)):
            # batch a burst of events into one rescan
            time.sleep(self.settings.debounce_s)
        self._wake.clear()

    def _heartbeat(self) -> None:
        db = self.runtime.state
        while not self._stop.wait(self.settings.heartbeat_s):
            try:
                repo.set_loop_status(db, last_heartbeat=datetime.now(timezone.utc))
            except Exception:  # noqa: BLE001 - a missed heartbeat is not fatal
                logger.exception("heartbeat failed")
