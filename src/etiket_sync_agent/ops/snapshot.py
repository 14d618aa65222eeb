"""One reading of everything operations watch: ``status`` plus the figures it lacks.

Metrics and alerts both read this, so they always agree with ``etiket-sync status
--json`` (the same service function builds its ``loop`` and ``sources`` parts) and with
each other. Each call is a few short read transactions on the state DB, one ``stats()``
of the store, and a ``disk_usage`` of the home.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from etiket_sync_agent.errors import error_line
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services.status import status
from etiket_sync_agent.state.models import ErrorLog, Item, Source
from etiket_sync_agent.state.status import ItemStatus


def _per_source(rt: Runtime) -> dict[str, dict[str, Any]]:
    """By source name: since when the oldest pending item waits, last success, items failed for
    good (no retry left), errors recorded."""
    out: dict[str, dict[str, Any]] = {}
    with rt.state.session() as s:
        names = dict(s.execute(select(Source.id, Source.name)).all())
        for name in names.values():
            out[name] = {
                "oldest_pending": None,
                "last_success": None,
                "failed_for_good": 0,
                "errors": 0,
            }
        for sid, oldest in s.execute(
            # updated, not created: a dataset that changed is pending again since then
            select(Item.source_id, func.min(Item.updated))
            .where(Item.status == ItemStatus.PENDING.value)
            .group_by(Item.source_id)
        ):
            out[names[sid]]["oldest_pending"] = oldest
        for sid, last in s.execute(
            select(Item.source_id, func.max(Item.last_sync)).group_by(Item.source_id)
        ):
            out[names[sid]]["last_success"] = last
        for sid, n in s.execute(
            select(Item.source_id, func.count())
            .where(Item.status == ItemStatus.FAILED.value, Item.next_retry.is_(None))
            .group_by(Item.source_id)
        ):
            out[names[sid]]["failed_for_good"] = n
        for sid, n in s.execute(
            select(ErrorLog.source_id, func.count())
            .where(ErrorLog.source_id.is_not(None))
            .group_by(ErrorLog.source_id)
        ):
            if sid in names:
                out[names[sid]]["errors"] = n
    return out


def failed_for_good(rt: Runtime, limit: int = 20) -> list[dict[str, Any]]:
    """Items that will not be retried (source, identifier, name, error), newest first,
    and the ids of all of them (for alerts that must not repeat themselves)."""
    with rt.state.session() as s:
        rows = s.execute(
            select(Item.id, Source.name, Item.identifier, Item.name, Item.last_error)
            .join(Source, Source.id == Item.source_id)
            .where(Item.status == ItemStatus.FAILED.value, Item.next_retry.is_(None))
            .order_by(Item.updated.desc())
        ).all()
    return [
        {"id": r[0], "source": r[1], "identifier": r[2], "name": r[3], "error": r[4]} for r in rows
    ]


def store_figures(rt: Runtime) -> dict[str, Any]:
    """``up`` and, when the store can count (the local store), datasets/files/bytes."""
    try:
        store = rt.store
        stats = getattr(store, "stats", None)
        if stats is None:
            store.list_scopes()  # reachable, cannot count
            return {"up": True}
        return {"up": True, **stats()}
    except Exception as exc:  # noqa: BLE001 - an unreachable store is a reading, not a crash
        return {"up": False, "error": error_line(exc)}


def disk_figures(rt: Runtime) -> dict[str, int]:
    usage = shutil.disk_usage(rt.home.data_dir)
    return {"total": usage.total, "free": usage.free}


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor (the spool folder is made when needed)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def spool_disk_figures(rt: Runtime) -> dict[str, Any]:
    """The disk holding the spool (``Home.spool_dir``): ``total``, ``free``, ``path`` and
    ``same_as_home`` (the same file system as the home: one disk, one alert)."""
    where = _existing(rt.home.spool_dir)
    usage = shutil.disk_usage(where)
    same = os.stat(where).st_dev == os.stat(rt.home.data_dir).st_dev
    return {"total": usage.total, "free": usage.free, "path": str(rt.home.spool_dir),
            "same_as_home": same}  # fmt: skip


def snapshot(rt: Runtime, *, with_store: bool = True) -> dict[str, Any]:
    """``status(rt)`` with, per source, ``oldest_pending`` / ``last_success`` (aware
    datetimes or None), ``failed_for_good`` and ``errors``; the store's figures; the
    disk of the home, ``spool_disk`` (:func:`spool_disk_figures`); and ``taken``."""
    data = status(rt)
    extra = _per_source(rt)
    for src in data["sources"]:
        src.update(
            extra.get(
                src["name"],
                {"oldest_pending": None, "last_success": None, "failed_for_good": 0, "errors": 0},
            )
        )
    # the loop's own view (``reachable``, ``unreachable_since``, ``waiting_items``) merged
    # with a reading taken now (``up``, and the figures where the store can count)
    engine_view = data.get("store") or {}
    data["store"] = {**engine_view, **store_figures(rt)} if with_store else None
    data["disk"] = disk_figures(rt)
    data["spool_disk"] = spool_disk_figures(rt)
    data["taken"] = datetime.now(timezone.utc)
    return data
