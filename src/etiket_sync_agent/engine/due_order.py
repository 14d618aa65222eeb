"""Which items of a source are due, in which order, and when the next one will be.

The order (live first, then pending by priority — newest first —, then failed items
whose retry time has come) is the query ``state.repository.due_items``; this module adds
the engine's rules on top:

* ``--once`` does not wait: a pending item is due even when a stopped ``run`` left it a
  settle time in the future (failed items still wait for their retry time).
* A source with nothing due is not asked again until its next retry or settle time, or
  until the next look at all sources at once (:func:`waiting`, every ``recheck_s``: finds
  items put back by ``etiket-sync retry`` from another process), so an idle home costs
  no queries per source.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import case, func, select

from etiket_sync_agent.plugins.items import ItemStatus
from etiket_sync_agent.state import repository as repo
from etiket_sync_agent.state.db import StateDB
from etiket_sync_agent.state.models import Item

#: "any time": the bound that makes every pending item due in --once mode
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=timezone.utc)


def due_items(db: StateDB, source_id: int, now: datetime, once: bool = False) -> list[Item]:
    """The due items of a source, in the order they are attempted."""
    if not once:
        return repo.due_items(db, source_id, now)
    return [
        i
        for i in repo.due_items(db, source_id, _FAR_FUTURE)
        if i.status != ItemStatus.FAILED.value or i.next_retry is None or i.next_retry <= now
    ]


def next_due_in(db: StateDB, source_id: int, now: datetime) -> float | None:
    """Seconds until the next pending or failed item of the source becomes due (its
    retry or settle time), None if none is waiting."""
    with db.session() as s:
        nxt = s.scalar(
            select(func.min(Item.next_retry)).where(
                Item.source_id == source_id,
                Item.status.in_([ItemStatus.PENDING.value, ItemStatus.FAILED.value]),
                Item.next_retry > now,
            )
        )
    if nxt is None:
        return None
    if nxt.tzinfo is None:
        nxt = nxt.replace(tzinfo=timezone.utc)
    return max(0.0, (nxt - now) / timedelta(seconds=1))


def waiting(db: StateDB, now: datetime) -> dict[int, float]:
    """Per source id with live, pending or failed items: seconds until the first of them is
    due (0: now). One query for all sources; sources without such items are left out."""
    due_now = (
        (Item.status == ItemStatus.LIVE.value)
        | ((Item.status == ItemStatus.PENDING.value) & Item.next_retry.is_(None))
        | (Item.next_retry <= now)
    )
    with db.session() as s:
        rows = s.execute(
            select(
                Item.source_id,
                func.max(case((due_now, 1), else_=0)),
                func.min(Item.next_retry),
            )
            .where(
                Item.status.in_(
                    [ItemStatus.LIVE.value, ItemStatus.PENDING.value, ItemStatus.FAILED.value]
                )
            )
            .group_by(Item.source_id)
        ).all()
    out = {}
    for source_id, any_due, first in rows:
        if any_due:
            out[source_id] = 0.0
        elif first is not None:
            if first.tzinfo is None:
                first = first.replace(tzinfo=timezone.utc)
            out[source_id] = max(0.0, (first - now) / timedelta(seconds=1))
    return out
