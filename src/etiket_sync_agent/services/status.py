"""The agent's status as data: loop heartbeat and per-source item counts."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta, timezone
from typing import Any

from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services.sources import list_sources
from etiket_sync_agent.state import repository as repo

STALE_AFTER = timedelta(seconds=30)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def loop_state(rt: Runtime) -> dict[str, Any]:
    row = repo.loop_status(rt.state)
    if row is None:
        return {"state": "never run", "pid": None, "last_heartbeat": None, "iteration": 0}
    state = row.state
    if state == "running":
        stale = row.last_heartbeat is None or (
            datetime.now(timezone.utc) - row.last_heartbeat > STALE_AFTER
        )
        dead = row.host == socket.gethostname() and row.pid and not _pid_alive(row.pid)
        if dead:
            state = "stopped (process gone)"
        elif stale:
            state = "unresponsive"
    return {
        "state": state,
        "pid": row.pid,
        "host": row.host,
        "started": row.started.isoformat() if row.started else None,
        "last_heartbeat": row.last_heartbeat.isoformat() if row.last_heartbeat else None,
        "iteration": row.iteration,
        "message": row.message,
    }


def status(rt: Runtime) -> dict[str, Any]:
    sources = [
        {k: s[k] for k in ("name", "backend", "status", "scope", "items", "last_error")}
        for s in list_sources(rt)
    ]
    return {"home": str(rt.home.data_dir), "loop": loop_state(rt), "sources": sources}
