"""Scopes: the work functions run inside the catalog's transactions."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from etiket_sync_agent.dbtypes import utcnow
from etiket_sync_agent.store.catalog import Dataset, Scope
from etiket_sync_agent.store.interface import ScopeInfo
from etiket_sync_agent.store.local import lookups as q
from etiket_sync_agent.store.local.infos import scope_info


def create_scope(session: Session, name: str, description: str) -> ScopeInfo:
    scope = q.scope_by_name(session, name)
    if scope is None:
        scope = Scope(name=name, description=description, created=utcnow())
        session.add(scope)
        session.flush()
    return scope_info(scope, q.count_datasets(session, scope.id))


def get_scope(session: Session, name: str) -> ScopeInfo | None:
    scope = q.scope_by_name(session, name)
    return None if scope is None else scope_info(scope, q.count_datasets(session, scope.id))


def list_scopes(session: Session) -> list[ScopeInfo]:
    counts = select(Dataset.scope_id, func.count().label("n")).group_by(Dataset.scope_id).subquery()
    query = (
        select(Scope, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.scope_id == Scope.id)
        .order_by(Scope.name)
    )
    return [scope_info(scope, n) for scope, n in session.execute(query)]
