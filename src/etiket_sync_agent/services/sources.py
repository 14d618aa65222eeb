"""Add, list, show, pause, resume, remove sources; retry their failed items."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from etiket_sync_agent.errors import ConfigError, NotFoundError
from etiket_sync_agent.plugins.config import build_config, config_to_json, redact
from etiket_sync_agent.plugins.items import ScopeRequirement
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.state import repository as repo
from etiket_sync_agent.state.models import ScopeMapping, Source

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


def _source_json(rt: Runtime, src: Source, counts: dict[str, int] | None = None) -> dict[str, Any]:
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
        "last_discovery": src.last_discovery.isoformat() if src.last_discovery else None,
        "created": src.created.isoformat(),
        "items": counts or {"total": 0, "pending": 0, "live": 0, "synchronized": 0, "failed": 0},
    }


def list_sources(rt: Runtime) -> list[dict[str, Any]]:
    counts = repo.item_counts(rt.state)
    return [_source_json(rt, s, counts.get(s.id)) for s in repo.list_sources(rt.state)]


def show_source(rt: Runtime, name: str) -> dict[str, Any]:
    src = repo.get_source(rt.state, name)
    out = _source_json(rt, src, repo.item_counts(rt.state).get(src.id))
    out["scope_mappings"] = repo.scope_mappings(rt.state, src.id)
    return out


def edit_source(rt: Runtime, name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Change config values of a source; the rest of its config stays.

    The merged config is validated by the backend's config class and nothing is written
    on any error. A source cannot be pointed at other data (its identity, e.g. the
    database file, must stay): its items and manifest belong to that data. A running
    agent picks the change up at its next iteration.
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
    repo.set_source_fields(rt.state, src.id, config=config_to_json(config))
    return show_source(rt, name)


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


def retry(rt: Runtime, name: str, identifiers: list[str] | None = None) -> int:
    """Put failed items of the source back in the queue; returns how many."""
    src = repo.get_source(rt.state, name)
    if identifiers:
        for ident in identifiers:
            repo.get_item(rt.state, src.id, ident)  # NotFoundError for a typo
    n = repo.reset_failed(rt.state, src.id, identifiers)
    if identifiers and n == 0:
        raise NotFoundError(f"item(s) {', '.join(identifiers)} of {name!r} have not failed")
    return n


def list_items(
    rt: Runtime, name: str, status: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    src = repo.get_source(rt.state, name)
    valid = {"pending", "live", "synchronized", "failed"}
    if status and status not in valid:
        raise ConfigError(f"unknown status {status!r}", hint=f"one of {', '.join(sorted(valid))}")
    out = []
    for item in repo.list_items(rt.state, src.id, status, limit):
        last = (item.records or [{}])[-1] if item.records else {}
        out.append(
            {
                "identifier": item.identifier,
                "status": item.status,
                "dataset_uuid": item.dataset_uuid,
                "attempts": item.attempts,
                "next_retry": item.next_retry.isoformat() if item.next_retry else None,
                "last_error": item.last_error,
                "warnings": last.get("warnings", []),
                "last_sync": item.last_sync.isoformat() if item.last_sync else None,
                "sync_count": item.sync_count,
            }
        )
    return out


def show_item(rt: Runtime, name: str, identifier: str) -> dict[str, Any]:
    src = repo.get_source(rt.state, name)
    item = repo.get_item(rt.state, src.id, identifier)
    return {
        "identifier": item.identifier,
        "status": item.status,
        "dataset_uuid": item.dataset_uuid,
        "attempts": item.attempts,
        "last_error": item.last_error,
        "records": item.records,
    }
