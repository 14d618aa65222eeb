"""Catalog rows to the store interface's dataclasses."""

from __future__ import annotations

from typing import Any

from etiket_sync_agent.store.catalog import Dataset, File, FileVersion, Scope
from etiket_sync_agent.store.interface import (
    DatasetInfo,
    FileInfo,
    FileStatus,
    FileVersionInfo,
    ScopeInfo,
)
from etiket_sync_agent.store.local.lookups import DATASETS, VERSIONS


def scope_info(scope: Scope, n_datasets: int) -> ScopeInfo:
    return ScopeInfo(scope.name, scope.description, scope.created, int(n_datasets))


def _columns(row: Any, table: Any) -> dict[str, Any]:
    """A model object's column values (row mappings of the Core hot paths pass through)."""
    if isinstance(row, dict):
        return row
    return {c.key: getattr(row, c.key) for c in table.columns}


def version_info(row: FileVersion | dict[str, Any]) -> FileVersionInfo:
    v = _columns(row, VERSIONS)
    return FileVersionInfo(
        v["version"], v["size"], v["sha256"], FileStatus(v["status"]), v["created"], v["modified"]
    )


def file_info(row: File) -> FileInfo:
    versions = tuple(version_info(v) for v in row.versions)
    return FileInfo(row.name, row.filename, row.file_type, row.generator, versions)


def dataset_info(row: Dataset, files: Any) -> DatasetInfo:
    return dataset_info_from(_columns(row, DATASETS), row.scope.name, files)


def dataset_info_from(row: dict[str, Any], scope: str, files: Any = ()) -> DatasetInfo:
    """From the datasets table's column values."""
    return DatasetInfo(
        uuid=row["uuid"],
        alt_uid=row["alt_uid"],
        scope=scope,
        name=row["name"],
        description=row["description"],
        collected=row["collected"],
        tags=tuple(row["tags"]),
        attributes=dict(row["attributes"]),
        ranking=row["ranking"],
        creator=row["creator"],
        source=row["source"],
        created=row["created"],
        modified=row["modified"],
        files=tuple(file_info(f) for f in files),
    )
