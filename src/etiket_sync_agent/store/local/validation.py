"""Checks of what callers hand the store: names, file paths, dataset metadata."""

from __future__ import annotations

import numbers
from datetime import datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from etiket_sync_agent.dbtypes import to_utc
from etiket_sync_agent.errors import StoreError
from etiket_sync_agent.store.interface import DatasetSpec, FileStatus


def check_text(what: str, value: str | None, max_len: int, required: bool = False) -> Any:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise StoreError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > max_len:
        raise StoreError(f"{what} is longer than {max_len} characters: {value[:40]!r}...")
    return value


def check_file_name(name: str) -> str:
    """A relative ``/``-separated path that stays inside its dataset."""
    check_text("file name", name, 1024, required=True)
    parts = name.split("/")
    if (
        "\\" in name
        or "\0" in name
        or PurePosixPath(name).is_absolute()
        or PureWindowsPath(name).drive
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise StoreError(
            f"invalid file name {name!r}",
            hint="use a relative path with '/' separators and no '.', '..' or empty parts",
        )
    return name


def upload_values(
    name: str,
    filename: str | None,
    file_type: str,
    generator: str | None,
    status: FileStatus,
) -> tuple[str, dict[str, Any], FileStatus]:
    """An upload's file name, its file row's metadata and its status, validated."""
    name = check_file_name(name)
    meta = {
        "filename": check_text("filename", filename or name.rsplit("/", 1)[-1], 255),
        "file_type": check_text("file type", file_type, 64),
        "generator": check_text("generator", generator, 255),
    }
    return name, meta, FileStatus(status)


def dataset_values(spec: DatasetSpec) -> dict[str, Any]:
    """The spec's metadata, validated, as column values."""
    if spec.collected is not None and not isinstance(spec.collected, datetime):
        raise StoreError(f"collected must be a datetime, got {spec.collected!r}")
    if isinstance(spec.tags, str) or not all(isinstance(t, str) for t in spec.tags):
        raise StoreError(f"tags must be a list of strings, got {spec.tags!r}")
    if isinstance(spec.ranking, bool) or not isinstance(spec.ranking, numbers.Integral):
        raise StoreError(f"ranking must be an integer, got {spec.ranking!r}")
    return {
        "alt_uid": check_text("alt_uid", spec.alt_uid, 255),
        "name": check_text("dataset name", spec.name, 1024, required=True),
        "description": spec.description or "",
        "collected": None if spec.collected is None else to_utc(spec.collected),
        "tags": list(spec.tags),
        "attributes": {
            check_text("attribute name", k, 255, required=True): _scalar(k, v)
            for k, v in spec.attributes.items()
        },
        "ranking": int(spec.ranking),
        "creator": check_text("creator", spec.creator, 255),
        "source": check_text("source", spec.source, 255),
    }


def _scalar(key: str, value: Any) -> str | int | float | bool | None:
    """A JSON scalar; numpy-like numbers become Python ones."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise StoreError(
        f"attribute {key!r} must be a string, number or boolean, got {type(value).__name__}"
    )
