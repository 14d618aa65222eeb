"""Scope mappings of a source: which store scope receives the datasets whose backend
reports a given scope identifier (e.g. core-tools' ``CT_PROJECT_<project>``).

``etiket-sync scopes map SOURCE IDENTIFIER SCOPE`` calls :func:`map_scope`. A new mapping
puts the source's items of that identifier that wait for it (status ``waiting``, or
``failed`` as older versions left them) back in the queue. Datasets already in the store
stay in the scope they went to. A running agent uses a new mapping at its next wake (it
reloads the mappings after every change of the state database).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from etiket_sync_agent.dbtypes import utcnow
from etiket_sync_agent.errors import ConfigError, NotFoundError
from etiket_sync_agent.plugins.items import ItemStatus, ScopeRequirement
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.state import repository as repo
from etiket_sync_agent.state.models import Item, ScopeMapping, Source

#: the status of items held back until their identifier is mapped (see the engine's
#: ``SourceRuntime.waiting_for``); requeued by a mapping, like failed ones
WAITING = ItemStatus.WAITING.value


def _mappable_source(rt: Runtime, source_name: str) -> Source:
    src = repo.get_source(rt.state, source_name)
    cls = rt.registry.backend(src.backend)
    if not (cls.supports_scope_mapping or cls.scope_requirement is ScopeRequirement.DISABLED):
        raise ConfigError(
            f"source {source_name!r} (backend {src.backend!r}) does not use scope mappings",
            hint="its datasets go to the scope given with `add-source --scope`",
        )
    return src


def _mapping(session: Session, source_id: int, identifier: str) -> ScopeMapping | None:
    return session.scalars(
        select(ScopeMapping).where(
            ScopeMapping.source_id == source_id, ScopeMapping.identifier == identifier
        )
    ).one_or_none()


def map_scope(rt: Runtime, source_name: str, identifier: str, scope: str) -> dict[str, Any]:
    """Map ``identifier`` of source ``source_name`` to the existing store scope ``scope``
    (replacing an earlier mapping of that identifier).

    Returns ``{"source", "identifier", "scope", "requeued"}`` where ``requeued`` counts
    the waiting and failed items of that identifier put back in the queue. Raises NotFoundError for
    an unknown source or scope, ConfigError for an empty identifier or a source whose
    backend does not map scopes.
    """
    identifier = identifier.strip()
    if not identifier:
        raise ConfigError("the scope identifier must not be empty")
    src = _mappable_source(rt, source_name)
    if rt.store.get_scope(scope) is None:
        raise NotFoundError(
            f"scope {scope!r} does not exist",
            hint=f"create it with `etiket-sync scopes create {scope}`",
        )
    with rt.state.session() as s, s.begin():
        row = _mapping(s, src.id, identifier)
        if row is None:
            s.add(ScopeMapping(source_id=src.id, identifier=identifier, scope=scope))
        else:
            row.scope = scope
        res = s.execute(
            update(Item)
            .where(
                Item.source_id == src.id,
                Item.scope_identifier == identifier,
                Item.status.in_([ItemStatus.FAILED.value, WAITING]),
            )
            .values(
                status=ItemStatus.PENDING.value,
                waiting_for=None,
                attempts=0,
                next_retry=None,
                last_error=None,
                updated=utcnow(),
            )
        )
        requeued = res.rowcount or 0
    return {"source": source_name, "identifier": identifier, "scope": scope, "requeued": requeued}


def unmap_scope(rt: Runtime, source_name: str, identifier: str) -> None:
    """Remove the mapping of ``identifier`` (NotFoundError if there is none). Items of
    that identifier not yet synchronized wait for a new mapping again."""
    src = _mappable_source(rt, source_name)
    with rt.state.session() as s, s.begin():
        row = _mapping(s, src.id, identifier)
        if row is None:
            raise NotFoundError(
                f"source {source_name!r} has no mapping for {identifier!r}",
                hint=f"`etiket-sync scopes mappings {source_name}` lists them",
            )
        s.delete(row)


def list_scope_mappings(rt: Runtime, source_name: str) -> dict[str, Any]:
    """``{"mapped": {identifier: scope}, "unmapped": {identifier: number of items}}``."""
    src = _mappable_source(rt, source_name)
    return {
        "mapped": repo.scope_mappings(rt.state, src.id),
        "unmapped": unmapped_identifiers(rt, source_name),
    }


def unmapped_identifiers(rt: Runtime, source_name: str) -> dict[str, int]:
    """Scope identifiers of the source's items that have no mapping, with how many items
    carry each (what ``items`` and ``status`` show as waiting for a scope mapping)."""
    src = repo.get_source(rt.state, source_name)
    mapped = repo.scope_mappings(rt.state, src.id)
    with rt.state.session() as s:
        rows = s.execute(
            select(Item.scope_identifier, func.count())
            .where(Item.source_id == src.id, Item.scope_identifier.is_not(None))
            .group_by(Item.scope_identifier)
        ).all()
    return {ident: int(n) for ident, n in rows if ident not in mapped}
