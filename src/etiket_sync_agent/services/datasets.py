"""Scopes and datasets of the store, as plain data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from etiket_sync_agent.errors import ConfigError
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.store.interface import DatasetInfo


def _iso(dt: Any) -> str | None:
    return dt.isoformat() if dt else None


def list_scopes(rt: Runtime) -> list[dict[str, Any]]:
    return [
        {
            "name": s.name,
            "description": s.description,
            "datasets": s.n_datasets,
            "created": _iso(s.created),
        }
        for s in rt.store.list_scopes()
    ]


def create_scope(rt: Runtime, name: str, description: str = "") -> dict[str, Any]:
    if not name.strip() or len(name) > 200 or any(c in name for c in "/\\\0"):
        raise ConfigError(f"invalid scope name {name!r}")
    s = rt.store.create_scope(name.strip(), description)
    return {"name": s.name, "description": s.description, "created": _iso(s.created)}


def list_datasets(
    rt: Runtime, scope: str | None = None, source: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    return [
        {
            "uuid": d.uuid,
            "name": d.name,
            "scope": d.scope,
            "collected": _iso(d.collected),
            "source": d.source,
        }
        for d in rt.store.list_datasets(scope=scope, source=source, limit=limit)
    ]


def dataset_json(d: DatasetInfo) -> dict[str, Any]:
    return {
        "uuid": d.uuid,
        "alt_uid": d.alt_uid,
        "name": d.name,
        "description": d.description,
        "scope": d.scope,
        "collected": _iso(d.collected),
        "tags": list(d.tags),
        "attributes": d.attributes,
        "ranking": d.ranking,
        "creator": d.creator,
        "source": d.source,
        "created": _iso(d.created),
        "modified": _iso(d.modified),
        "files": [
            {
                "name": f.name,
                "filename": f.filename,
                "type": f.file_type,
                "generator": f.generator,
                "version": f.latest.version,
                "size": f.latest.size,
                "sha256": f.latest.sha256,
                "status": f.latest.status.value,
                "versions": len(f.versions),
            }
            for f in d.files
        ],
    }


def show_dataset(rt: Runtime, uuid: str) -> dict[str, Any]:
    return dataset_json(rt.store.get_dataset(uuid))


def export_dataset(rt: Runtime, uuid: str, target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    return rt.store.export_dataset(uuid, target)
