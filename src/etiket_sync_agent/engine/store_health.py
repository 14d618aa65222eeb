"""Whether the dataset store can be reached, as the loop sees it (offline-first).

A lab network drops; a PostgreSQL catalog restarts; an S3 server is down for an hour. None
of that is the fault of the item being synchronized, so:

* A call into the store that fails because the store cannot be reached raises
  :class:`~etiket_sync_agent.errors.StoreUnreachableError` (the worker's store proxy
  turns driver errors into it: :meth:`StoreHealth.classify`); the item becomes
  ``waiting`` for the ``store`` with no attempt counted, and its converted files are kept
  in the spool (:mod:`etiket_sync_agent.engine.spool`).
* From then on the loop does not run one due item after another into the wall: before
  each item it asks :meth:`StoreHealth.ready`; due items wait for the store too (no
  attempt counted). The store is probed cheaply (a catalog read and, for a bucket, a HEAD
  of it), in a background thread, when the probe is due — 2 s after the failure, doubling
  up to 30 s (``RetryPolicy.store_probe_*``). Discovery goes on meanwhile.
* When a probe succeeds every item waiting for the store is put back (``pending``; live
  ones stay live) and synchronized by itself.

The state is kept in the ``loop_status`` row (``store_unreachable_since``,
``store_error``) so that ``status`` and the alert rules see it from other processes, and
so that a restarted agent still knows since when the store is down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from etiket_sync_agent.engine.failures import chain, store_unreachable_reason
from etiket_sync_agent.engine.guards import bookkeeping
from etiket_sync_agent.engine.retry_policy import RetryPolicy
from etiket_sync_agent.errors import StoreError, StoreUnreachableError, error_line
from etiket_sync_agent.state import repository as repo

if TYPE_CHECKING:
    from etiket_sync_agent.runtime import Runtime

logger = logging.getLogger(__name__)

STORE_HINT = "the items wait and resume by themselves once the store answers again"


def probe(runtime: Runtime) -> None:
    """Check cheaply that the store answers: one catalog read, the bucket's HEAD (S3) or
    the blob folder's presence (local). Raises :class:`StoreUnreachableError`."""
    try:
        store = runtime.store  # opened again if it could not be opened before
        store.get_scope("default")
        blobs = getattr(store, "blobs", None)
        check = getattr(blobs, "check_reachable", None)
        if check is not None:
            check()
        else:
            root = getattr(blobs, "root", None)
            if root is not None and not Path(root).is_dir():
                raise StoreUnreachableError(f"the store folder {root} is not there")
    except StoreUnreachableError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever it is, the store does not answer
        raise StoreUnreachableError(
            f"the store cannot be reached: {error_line(exc)}", hint=STORE_HINT
        ) from exc


class StoreHealth:
    """The loop's view of the store: reachable, or down since when (thread-safe)."""

    def __init__(
        self, runtime: Runtime, policy: RetryPolicy, wake: Callable[[], None] = lambda: None
    ) -> None:
        self.runtime = runtime
        self.policy = policy
        self._wake = wake
        self._probing = False
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self.down_since: datetime | None = None
        self.error: str | None = None
        self._failed_probes = 0
        self._next_probe = 0.0  # monotonic

    # -- what the loop asks ------------------------------------------------------------
    @property
    def down(self) -> bool:
        return self.down_since is not None

    def next_probe(self) -> float | None:
        """Monotonic time of the next probe while the store is down and no probe runs,
        else None (a running probe wakes the loop when it ends)."""
        return self._next_probe if self.down and not self._probing else None

    def next_probe_wall(self) -> datetime:
        """The next probe as a wall-clock time (what a waiting item shows as its retry)."""
        delay = max(0.0, self._next_probe - time.monotonic())
        return datetime.fromtimestamp(time.time() + delay, timezone.utc)

    def restore(self) -> None:
        """At start: carry on from what the last run recorded. If items still wait for
        the store (or it was down), the store is probed now, in this thread (a one-shot
        run must not end before the items can resume): reachable, they are put back at
        once; else it stays down since then and is probed again later."""
        row = repo.loop_status(self.runtime.state)
        waiting = repo.store_waiting_count(self.runtime.state)
        since = None if row is None else row.store_unreachable_since
        if not waiting and since is None:
            return
        with self._lock:
            self.down_since = since or datetime.now(timezone.utc)
            self.error = (row.store_error if row is not None else None) or "not checked yet"
            self._probing = True
        self._probe_once()

    def ready(self) -> bool:
        """Whether items may be synchronized now (the store is up). While it is down, a
        due probe is started in the background — a store that does not answer may take
        the drivers' timeouts to say so, and the loop must go on discovering meanwhile —
        and False is returned; when the probe finds the store, every waiting item is put
        back and the loop is woken (``wake``)."""
        if not self.down:
            return True
        with self._lock:
            if not self.down:
                return True
            if self._probing or time.monotonic() < self._next_probe:
                return False
            self._probing = True
        self._thread = threading.Thread(target=self._probe_once, name="store-probe", daemon=True)
        self._thread.start()
        return False

    def wait_probe(self, timeout: float | None = None) -> None:
        """Wait for a running probe to end (for a loop that stops)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _probe_once(self) -> None:
        try:
            probe(self.runtime)
        except StoreUnreachableError as exc:
            with self._lock:
                self._failed_probes += 1
                self._schedule()
                self._record(exc.message)
            logger.debug("store still unreachable: %s", exc.message)
        except Exception:  # noqa: BLE001 - never leave the probe stuck
            logger.exception("probing the store")
            with self._lock:
                self._schedule()
        else:
            with self._lock:
                self._up()
        finally:
            self._probing = False
            self._wake()

    # -- what the worker reports -------------------------------------------------------
    def classify(self, exc: BaseException) -> str | None:
        """Why ``exc``, raised by a call into the store, means the store is unreachable,
        or None. Errors that do not tell by themselves (a ``StoreError``, an ``OSError``
        of a store folder, an SQLite catalog that cannot be opened) are decided by a
        probe made now."""
        reason = store_unreachable_reason(exc)
        if reason is not None:
            return reason
        if not _ambiguous(exc):
            return None
        try:
            probe(self.runtime)
        except StoreUnreachableError as unreachable:
            return unreachable.message
        return None

    def mark_down(self, reason: str) -> None:
        """The store was found unreachable (by an item's sync)."""
        with self._lock:
            if not self.down:
                self.down_since = datetime.now(timezone.utc)
                self._failed_probes = 0
                logger.warning("the dataset store is unreachable: %s", reason)
                bookkeeping(
                    "store status",
                    lambda: repo.log_error(self.runtime.state, f"store unreachable: {reason}"),
                )
                self._schedule()
            self._record(reason)

    # -- inside --------------------------------------------------------------------------
    def _schedule(self) -> None:
        delay = self.policy.next_probe_in(self._failed_probes)
        self._next_probe = time.monotonic() + delay

    def _record(self, reason: str) -> None:
        changed = reason != self.error
        self.error = reason
        if changed or self._failed_probes <= 1:
            since = self.down_since
            bookkeeping(
                "store status",
                lambda: repo.set_loop_status(
                    self.runtime.state, store_unreachable_since=since, store_error=reason
                ),
            )

    def _up(self) -> bool:
        since = self.down_since
        try:
            resumed = repo.resume_store_waiting(self.runtime.state)
            repo.set_loop_status(self.runtime.state, store_unreachable_since=None, store_error=None)
        except Exception as exc:  # noqa: BLE001 - a busy state DB: at the next probe
            logger.warning("resuming the items waiting for the store: %s", error_line(exc))
            self._schedule()
            return False
        self.down_since = None
        self.error = None
        self._failed_probes = 0
        seconds = 0.0 if since is None else (datetime.now(timezone.utc) - since).total_seconds()
        logger.warning(
            "the dataset store is reachable again (down for %.0f s); %s item(s) resume",
            seconds,
            resumed,
        )
        return True


def _ambiguous(exc: BaseException) -> bool:
    for e in chain(exc):
        if isinstance(e, (StoreError, OSError)):
            return True
        if type(e).__name__ == "OperationalError":  # sqlalchemy/sqlite3: may be a lost file
            return True
    return False
