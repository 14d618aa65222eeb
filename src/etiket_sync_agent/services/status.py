"""The agent's status as data: loop heartbeat, the store as the loop sees it, and
per-source item counts.

``status()`` (what ``status --json`` prints and the web page's ``/api/status`` serves)::

    {"home": str,
     "loop": {...},                     # loop_state()
     "store": {"reachable": bool,       # False while the loop finds the store unreachable
               "unreachable_since": iso | None,   # when it was first found unreachable
               "error": str | None,     # the last reason, one line, redacted
               "waiting_items": int},   # items waiting for it (all sources)
     "sources": [{"name", "backend", "status", "scope", "items", "last_error",
                  "unmapped", "waiting_for_store"}, ...]}

``store`` is the running loop's view (kept in the state DB, so it is readable from any
process, and a stopped agent shows what it last saw); an alert rule "store unreachable
for longer than T" compares ``unreachable_since`` with now. Items waiting for the store
have ``status`` ``waiting`` (a live one stays ``live``) and ``waiting_for`` ``store``;
items waiting for a scope mapping have ``waiting_for`` ``scope_mapping``: per source,
``items.waiting`` counts both, ``waiting_for_store`` the former, ``unmapped`` the latter
by identifier.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta, timezone
from typing import Any

from etiket_sync_agent.plugins.config import redact_text
from etiket_sync_agent.plugins.items import ScopeRequirement
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services.scope_mappings import unmapped_identifiers
from etiket_sync_agent.services.sources import list_sources
from etiket_sync_agent.services.times import iso
from etiket_sync_agent.state import repository as repo

STALE_AFTER = timedelta(seconds=30)

#: the values of ``loop.state`` (``loop.state_text`` says the same for people)
LOOP_STATES = ("never_run", "running", "stopped", "crashed", "gone", "stale")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def loop_state(rt: Runtime) -> dict[str, Any]:
    """The loop as data. ``state`` is one of :data:`LOOP_STATES`:

    ``running``; ``stopped`` (it ended cleanly); ``crashed`` (it ended on an error, see
    ``message``); ``gone`` (it says running but its process no longer exists: killed);
    ``stale`` (running, but no heartbeat for ``STALE_AFTER``: hung, or on another host);
    ``never_run``. ``state_text`` is the phrase for people.
    """
    keys = ("state", "state_text", "pid", "host", "started", "last_heartbeat", "iteration")
    row = repo.loop_status(rt.state)
    if row is None:
        return dict.fromkeys(keys) | {
            "state": "never_run",
            "state_text": "never run",
            "iteration": 0,
            "message": None,
        }
    state = row.state if row.state in LOOP_STATES else "stopped"
    text = state
    if state == "running":
        age = (
            None if row.last_heartbeat is None else datetime.now(timezone.utc) - row.last_heartbeat
        )
        dead = row.host == socket.gethostname() and row.pid and not _pid_alive(row.pid)
        if dead:
            state, text = "gone", "stopped (process gone)"
        elif age is None or age > STALE_AFTER:
            state = "stale"
            text = "not responding" + (
                f" (no heartbeat for {int(age.total_seconds())} s)" if age is not None else ""
            )
    return {
        "state": state,
        "state_text": text,
        "pid": row.pid,
        "host": row.host,
        "started": iso(row.started),
        "last_heartbeat": iso(row.last_heartbeat),
        "iteration": row.iteration,
        "message": row.message,
    }


def store_state(rt: Runtime) -> dict[str, Any]:
    """The store as the sync loop last saw it (see the module docstring)."""
    row = repo.loop_status(rt.state)
    since = None if row is None else row.store_unreachable_since
    return {
        "reachable": since is None,
        "unreachable_since": iso(since),
        "error": None if row is None or since is None else redact_text(row.store_error or ""),
        "waiting_items": repo.store_waiting_count(rt.state),
    }


#: the keys of each source in ``status``, in this order
STATUS_SOURCE_KEYS = (
    "name",
    "backend",
    "status",
    "scope",
    "items",
    "last_error",
    "unmapped",
    "waiting_for_store",
)


def status(rt: Runtime) -> dict[str, Any]:
    """Loop state, the store as the loop sees it, and, per source, item counts,
    ``unmapped``: the scope identifiers of its items that have no scope mapping, with how
    many items carry each (empty for sources whose backend does not use mappings), and
    ``waiting_for_store``: how many of its items wait for the store."""
    by_source = repo.store_waiting_by_source(rt.state)
    sources = [
        {k: s[k] for k in STATUS_SOURCE_KEYS[:-2]}
        | {"unmapped": _unmapped(rt, s), "waiting_for_store": by_source.get(s["name"], 0)}
        for s in list_sources(rt)
    ]
    return {
        "home": str(rt.home.data_dir),
        "loop": loop_state(rt),
        "store": store_state(rt),
        "sources": sources,
    }


def _unmapped(rt: Runtime, source: dict[str, Any]) -> dict[str, int]:
    try:
        cls = rt.registry.backend(source["backend"])
    except Exception:  # noqa: BLE001 - a missing plugin must not hide the source
        return {}
    if not (cls.supports_scope_mapping or cls.scope_requirement is ScopeRequirement.DISABLED):
        return {}
    return unmapped_identifiers(rt, source["name"])
