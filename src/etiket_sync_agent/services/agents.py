"""Agents as a lab's shared store sees them: each agent publishes a heartbeat with its
per-source counts into the catalog; a lab's dataset browser lists them.

The engine's heartbeat calls a :class:`HeartbeatPublisher` every few seconds; it writes at
most every ``interval_s`` (default :data:`REPORT_INTERVAL_S`, or
``$ETIKET_SYNC_REPORT_INTERVAL_S``), in its own thread, so an unreachable store never
delays or fails the loop.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from etiket_sync_agent.errors import error_line
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services.times import iso
from etiket_sync_agent.store.interface import AgentReport

logger = logging.getLogger(__name__)

REPORT_INTERVAL_S = 30.0
INTERVAL_ENV = "ETIKET_SYNC_REPORT_INTERVAL_S"
#: an agent silent for this many report intervals (and at least SILENT_AFTER_S: it
#: reports at its loop's heartbeats, every few seconds) is shown as silent
SILENT_AFTER_INTERVALS = 3
SILENT_AFTER_S = 60.0
#: the per-source fields an agent publishes (never its config: it may hold secrets)
SOURCE_FIELDS = ("backend", "status", "scope", "items", "last_error")
#: at most this many failed items (identifier, name, error line) per source
FAILED_EXAMPLES = 5


def report_interval() -> float:
    try:
        return max(float(os.environ.get(INTERVAL_ENV, REPORT_INTERVAL_S)), 0.1)
    except ValueError:
        return REPORT_INTERVAL_S


def agent_id(host: str, home: str) -> str:
    """Stable id of the agent of ``home`` on ``host`` (the same after every restart)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"etiket-sync://{host}/{home}"))


def build_report(
    rt: Runtime, state: str = "running", started: datetime | None = None
) -> AgentReport:
    """This home's agent as a report: its sources with their item counts."""
    from importlib.metadata import version

    from etiket_sync_agent.services.sources import list_items, list_sources

    host = socket.gethostname()
    home = str(rt.home.data_dir)
    sources = {}
    for s in list_sources(rt):
        sources[s["name"]] = {k: s.get(k) for k in SOURCE_FIELDS}
        if s["items"].get("failed"):
            # a few failed items' error lines: a lab browser has no other way to see them
            sources[s["name"]]["failed_items"] = [
                {k: i.get(k) for k in ("identifier", "name", "last_error")}
                for i in list_items(rt, s["name"], "failed", FAILED_EXAMPLES)
            ]
    return AgentReport(
        agent_id=agent_id(host, home),
        host=host,
        home=home,
        version=version("etiket_sync_agent"),
        state=state,
        heartbeat=datetime.now(timezone.utc),
        started=started,
        sources=sources,
    )


class HeartbeatPublisher:
    """Call it as often as you like: every ``interval_s`` it publishes this agent's report
    into the store, in a background thread. Never raises; a failure is logged once per
    streak and tried again at the next interval."""

    def __init__(self, rt: Runtime, interval_s: float | None = None) -> None:
        self.rt = rt
        self.interval_s = report_interval() if interval_s is None else interval_s
        self.started = datetime.now(timezone.utc)
        self._next = 0.0
        self._thread: threading.Thread | None = None
        self._failing = False

    def __call__(self) -> None:
        now = time.monotonic()
        if now < self._next or (self._thread is not None and self._thread.is_alive()):
            return
        self._next = now + self.interval_s
        self._thread = threading.Thread(target=self.publish, name="agent-report", daemon=True)
        self._thread.start()

    def publish(self) -> bool:
        """Publish now, in this thread; whether it worked."""
        try:
            self.rt.store.report_agent(build_report(self.rt, started=self.started))
        except Exception as exc:  # noqa: BLE001 - the store may be down: never fatal
            if not self._failing:
                logger.warning("publishing the agent's heartbeat failed: %s", error_line(exc))
            self._failing = True
            return False
        if self._failing:
            logger.info("publishing the agent's heartbeat works again")
        self._failing = False
        return True


def list_agents(rt: Runtime, now: datetime | None = None) -> list[dict[str, Any]]:
    """The agents that report into this home's store, as data: their heartbeat (time
    and ``age_s``), ``silent`` when no heartbeat came for a few report intervals,
    and each source's status and item counts as the agent last reported them, with a
    few of its failed items (``failed_items``: identifier, name, error line)."""
    now = now or datetime.now(timezone.utc)
    silent_after = max(SILENT_AFTER_INTERVALS * report_interval(), SILENT_AFTER_S)
    rows = []
    for a in rt.store.list_agents():
        age = max((now - a.heartbeat).total_seconds(), 0.0)
        rows.append(
            {
                "agent_id": a.agent_id,
                "host": a.host,
                "home": a.home,
                "version": a.version,
                "state": a.state,
                "started": iso(a.started),
                "heartbeat": iso(a.heartbeat),
                "age_s": round(age, 1),
                "silent": age > silent_after,
                "sources": [
                    {
                        "name": name,
                        **{k: s.get(k) for k in SOURCE_FIELDS},
                        "failed_items": s.get("failed_items") or [],
                    }
                    for name, s in sorted(a.sources.items())
                ],
            }
        )
    return rows
