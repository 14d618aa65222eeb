"""Add, list, show, pause, resume, remove sources; retry their failed items."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from etiket_sync_agent.errors import AmbiguousError, ConfigError, NotFoundError
from etiket_sync_agent.plugins.config import build_config, config_to_json, redact
from etiket_sync_agent.plugins.items import ScopeRequirement
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services.times import iso, iso_record
from etiket_sync_agent.state import repository as repo
from etiket_sync_agent.state.models import Item, ScopeMapping, Source

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def parse_settings(pairs: list[str], config_file: Path | None) -> dict[str, Any]:
    """``key=value`` pairs (later ones win) on top of a JSON/YAML config file."""
    raw: dict[str, Any] = {}
    if config_file is not None:
        try:
            text = config_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc.strerror}") from None
        import yaml

        try:
            loaded = yaml.safe_load(text) if config_file.suffix != ".json" else json.loads(text)
        except (yaml.YAMLError, json.JSONDecodeError) as exc:
            raise ConfigError(f"config file {config_file} is not valid: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {config_file} must hold a mapping of keys to values")
        raw.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        raw[key.strip()] = value
    return raw


def add_source(
    rt: Runtime,
    backend: str,
    name: str,
    *,
    scope: str | None = None,
    settings: dict[str, Any] | None = None,
    scope_mappings: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Validate everything, then write the source (nothing is written on any error)."""
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid source name {name!r}",
            hint="use letters, digits, '_', '-' and '.', starting with a letter or digit",
        )
    cls = rt.registry.backend(backend)
    config = build_config(cls.config_class, settings or {})
    req: ScopeRequirement = cls.scope_requirement
    if req is ScopeRequirement.REQUIRED and not scope:
        raise ConfigError(
            f"backend {backend!r} needs a scope",
            hint="pass --scope NAME (see `etiket-sync scopes list`)",
        )
    if req is ScopeRequirement.DISABLED and scope:
        raise ConfigError(f"backend {backend!r} chooses scopes itself: --scope is not allowed")
    if scope_mappings and not (cls.supports_scope_mapping or req is ScopeRequirement.DISABLED):
        raise ConfigError(f"backend {backend!r} does not support scope mappings")
    for s in filter(None, [scope, *(scope_mappings or {}).values()]):
        if rt.store.get_scope(s) is None:
            raise NotFoundError(
                f"scope {s!r} does not exist",
                hint=f"create it with `etiket-sync scopes create {s}`",
            )
    identity = cls(config, name).source_identity()
    db = rt.state
    with db.session() as s, s.begin():
        if s.scalars(select(Source).where(Source.name == name)).first():
            raise ConfigError(
                f"a source called {name!r} already exists",
                hint="choose another name, or `etiket-sync sources remove` it first",
            )
        if identity:
            other = _overlapping_source(s.scalars(select(Source)).all(), identity)
            if other:
                raise ConfigError(
                    f"source {other.name!r} already synchronizes this ({other.identity})",
                    hint="the same data cannot be added twice (nor a folder inside or around it)",
                )
        src = Source(
            name=name,
            backend=backend,
            config=config_to_json(config),
            identity=identity,
            default_scope=scope,
            status="active",
        )
        s.add(src)
        s.flush()
        for ident, target in (scope_mappings or {}).items():
            s.add(ScopeMapping(source_id=src.id, identifier=ident, scope=target))
    return show_source(rt, name)


def _overlapping_source(sources: list[Source], identity: str) -> Source | None:
    """The source whose identity equals ``identity`` or, for identities of the form
    ``<backend>:<absolute path>``, whose path is inside or around this one (same backend)."""
    backend, _, path = identity.partition(":")
    for other in sources:
        if other.identity == identity:
            return other
        obackend, _, opath = (other.identity or "").partition(":")
        if backend == obackend and _nested(Path(path), Path(opath)):
            return other
    return None


def _nested(a: Path, b: Path) -> bool:
    if not (a.is_absolute() and b.is_absolute()):
        return False
    return a == b or a in b.parents or b in a.parents


#: the item counts of a source, always all of them, always in this order
COUNT_KEYS = ("total", "pending", "live", "synchronized", "failed", "waiting")


def _counts(counts: dict[str, int] | None) -> dict[str, int]:
    return {k: int((counts or {}).get(k, 0)) for k in COUNT_KEYS}


def _source_json(rt: Runtime, src: Source, counts: dict[str, int] | None = None) -> dict[str, Any]:
    """A source as data; the keys are always these, in this order."""
    try:
        config_class = rt.registry.backend(src.backend).config_class
    except Exception:  # noqa: BLE001 - a missing plugin must not hide the source
        config_class = None
    status = src.status
    if status == "active" and src.last_error:
        status = "error"
    return {
        "name": src.name,
        "backend": src.backend,
        "status": status,
        "scope": src.default_scope,
        "config": redact(config_class, src.config or {}),
        "last_error": src.last_error,
        "last_discovery": iso(src.last_discovery),
        "created": iso(src.created),
        "items": _counts(counts),
    }


def list_sources(rt: Runtime) -> list[dict[str, Any]]:
    counts = repo.item_counts(rt.state)
    return [_source_json(rt, s, counts.get(s.id)) for s in repo.list_sources(rt.state)]


def show_source(rt: Runtime, name: str) -> dict[str, Any]:
    src = repo.get_source(rt.state, name)
    out = _source_json(rt, src, repo.item_counts(rt.state).get(src.id))
    out["scope_mappings"] = repo.scope_mappings(rt.state, src.id)
    return out


def edit_source(
    rt: Runtime, name: str, settings: dict[str, Any], *, resync: bool = False
) -> dict[str, Any]:
    """Change config values of a source; the rest of its config stays.

    The merged config is validated by the backend's config class and nothing is written
    on any error. A source cannot be pointed at other data (its identity, e.g. the
    database file, must stay): its items and manifest belong to that data. A running
    agent picks the change up at its next iteration. The new settings apply to datasets
    synchronized from now on; ``resync`` queues the source's synchronized items again so
    that datasets already in the store get them too. The returned source has
    ``"requeued"``: how many items were queued again.
    """
    if not settings:
        raise ConfigError("nothing to change", hint="pass --set key=value or --config-file FILE")
    src = repo.get_source(rt.state, name)
    cls = rt.registry.backend(src.backend)
    config = build_config(cls.config_class, {**(src.config or {}), **settings})
    identity = cls(config, name).source_identity()
    if (identity or None) != (src.identity or None):
        raise ConfigError(
            f"this change points source {name!r} at other data ({identity})",
            hint="add a new source for other data; its items belong to what it syncs now",
        )
    with rt.state.session() as s, s.begin():
        s.execute(update(Source).where(Source.id == src.id).values(config=config_to_json(config)))
        requeued = 0
        if resync:
            res = s.execute(
                update(Item)
                .where(Item.source_id == src.id, Item.status == "synchronized")
                .values(status="pending", attempts=0, next_retry=None)
            )
            requeued = res.rowcount or 0
    return {**show_source(rt, name), "requeued": requeued}


def set_paused(rt: Runtime, name: str, paused: bool) -> dict[str, Any]:
    src = repo.get_source(rt.state, name)
    repo.set_source_fields(rt.state, src.id, status="paused" if paused else "active")
    return show_source(rt, name)


def remove_source(rt: Runtime, name: str) -> None:
    """Forget the source and its items; datasets already in the store stay there."""
    src = repo.get_source(rt.state, name)
    with rt.state.session() as s, s.begin():
        obj = s.get(Source, src.id)
        if obj is not None:
            s.delete(obj)


def retry(rt: Runtime, name: str, refs: list[str] | None = None) -> int:
    """Put failed items of the source back in the queue; returns how many.

    ``refs`` name items as :func:`resolve_item` does (identifier, label, dataset uuid
    prefix, name prefix); an unknown or ambiguous one is an error and nothing is queued.
    """
    src = repo.get_source(rt.state, name)
    identifiers = [resolve_item(rt, src, ref).identifier for ref in refs or ()]
    n = repo.reset_failed(rt.state, src.id, identifiers or None)
    if identifiers and n == 0:
        raise NotFoundError(
            f"item(s) {', '.join(identifiers)} of {name!r} have not failed",
            hint=f"`etiket-sync items {name} --status failed` lists the failed ones",
        )
    return n


#: an identifier, uuid or name prefix must be this long to be taken as a prefix
MIN_PREFIX = 4
#: candidates listed when a reference is ambiguous
SHOW_CANDIDATES = 10


def resolve_item(rt: Runtime, src: Source, ref: str) -> Item:
    """The item of ``src`` that ``ref`` names, as people name it.

    In this order: the exact identifier; the exact label (a QCoDeS run id); then the
    one item whose identifier, dataset uuid or name starts with ``ref`` (prefixes of at
    least ``MIN_PREFIX`` characters for identifiers and uuids). NotFoundError if none;
    AmbiguousError listing the candidates if several.
    """
    ref = ref.strip()
    found = repo.find_items(rt.state, src.id, identifier=ref, limit=1)
    if found:
        return found[0]
    by_label = repo.find_items(rt.state, src.id, label=ref, limit=SHOW_CANDIDATES + 1)
    if len(by_label) == 1:
        return by_label[0]
    candidates: dict[int, Item] = {i.id: i for i in by_label}
    if not by_label and ref:
        limit = SHOW_CANDIDATES + 1
        if len(ref) >= MIN_PREFIX:
            for i in repo.find_items(rt.state, src.id, uuid_prefix=ref, limit=limit):
                candidates[i.id] = i
            for i in _identifier_prefix(rt, src.id, ref, limit):
                candidates[i.id] = i
        for i in repo.find_items(rt.state, src.id, name_prefix=ref, limit=limit):
            candidates[i.id] = i
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    if not candidates:
        raise NotFoundError(
            f"no item {ref!r} in source {src.name!r}",
            hint="give an identifier, run id, dataset id or name from "
            f"`etiket-sync items {src.name}`",
        )
    shown = sorted(candidates.values(), key=lambda i: (-i.priority, -i.id))[:SHOW_CANDIDATES]
    more = " ..." if len(candidates) > SHOW_CANDIDATES else ""
    raise AmbiguousError(
        f"{ref!r} matches several items of {src.name!r}: "
        + "; ".join(_describe(i) for i in shown)
        + more,
        hint="give more characters, the identifier or the dataset id",
    )


def _identifier_prefix(rt: Runtime, source_id: int, prefix: str, limit: int) -> list[Item]:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with rt.state.session() as s:
        return list(
            s.scalars(
                select(Item)
                .where(
                    Item.source_id == source_id, Item.identifier.like(escaped + "%", escape="\\")
                )
                .limit(limit)
            )
        )


def _describe(item: Item) -> str:
    parts = [item.identifier]
    if item.label and item.label != item.identifier:
        parts.append(f"label {item.label}")
    if item.name:
        parts.append(repr(item.name))
    parts.append(f"dataset {item.dataset_uuid[:8]}")
    return ", ".join(parts)


ITEM_STATUSES = ("pending", "live", "synchronized", "failed", "waiting")


def _item_json(item: Item) -> dict[str, Any]:
    """What ``items`` lists for one item; ``item`` shows the same keys and its records.

    ``failures`` counts the failed attempts since the item last synchronized (or was
    queued again); ``warnings`` are those of its last attempt.
    """
    return {
        "identifier": item.identifier,
        "label": item.label,
        "name": item.name,
        "status": item.status,
        "waiting_for": item.waiting_for if item.status in ("waiting", "live") else None,
        "dataset_uuid": item.dataset_uuid,
        "failures": item.attempts,
        "next_retry": iso(item.next_retry),
        "last_error": item.last_error,
        "warnings": list(item.last_warnings or []),  # the records are not loaded
        "last_sync": iso(item.last_sync),
        "sync_count": item.sync_count,
    }


def list_items(
    rt: Runtime, name: str, status: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    src = repo.get_source(rt.state, name)
    if status and status not in ITEM_STATUSES:
        raise ConfigError(f"unknown status {status!r}", hint=f"one of {', '.join(ITEM_STATUSES)}")
    return [_item_json(i) for i in repo.list_items(rt.state, src.id, status, limit)]


def show_item(rt: Runtime, name: str, ref: str) -> dict[str, Any]:
    """One item (found by :func:`resolve_item`): the keys of ``list_items`` + records."""
    src = repo.get_source(rt.state, name)
    item = resolve_item(rt, src, ref)
    return {**_item_json(item), "records": [iso_record(r) for r in item.records or []]}
