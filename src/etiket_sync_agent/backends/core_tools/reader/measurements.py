"""Rows of ``global_measurement_overview``: discovery, metadata, progress, fingerprints."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import CoreToolsDataError
from .schema import Schema

NEW_FORMAT_MARK = "New measurement_parameters"


@dataclass(frozen=True)
class Listed:
    """A measurement found by discovery."""

    id: int
    uuid: int
    project: str
    scope: str | None
    name: str = ""

    @property
    def scope_identifier(self) -> str:
        """The column ``scope`` when present and set, else ``CT_PROJECT_<project>``."""
        return self.scope or f"CT_PROJECT_{self.project}"


@dataclass(frozen=True)
class Measurement:
    """One overview row, decoded."""

    id: int
    uuid: int
    exp_name: str
    set_up: str
    project: str
    sample: str
    start_time: datetime | None
    stop_time: datetime | None
    completed: bool
    starred: bool
    keywords: list[str] = field(default_factory=list)
    metadata: Any = None
    snapshot: Any = None
    data_table: str | None = None  # old format: the measurement's own table
    scope: str | None = None
    created_by: str | None = None


def _set_up_filter(set_up: str | None, args: list[Any]) -> str:
    if set_up:
        args.append(set_up)
        return " AND set_up = %s"
    return ""


def list_after(cur: Any, schema: Schema, after_id: int, set_up: str | None) -> list[Listed]:
    """Measurements with ``id > after_id`` (of ``set_up`` if given), by id."""
    scope = "scope" if schema.has_scope else "NULL"
    args: list[Any] = [after_id]
    where = _set_up_filter(set_up, args)
    cur.execute(
        f"SELECT id, uuid, project, {scope}, left(exp_name, 500) "  # noqa: S608
        f"FROM global_measurement_overview WHERE id > %s{where} ORDER BY id",
        args,
    )
    return [
        Listed(int(r[0]), int(r[1]), r[2] or "", r[3] or None, r[4] or "") for r in cur.fetchall()
    ]


def fingerprints(cur: Any, schema: Schema, set_up: str | None) -> dict[str, str]:
    """uuid -> md5 of what a user may edit after the run (name, star, keywords) and of
    whether it completed, computed by the server."""
    parts = ["exp_name", "completed::text"]
    for col in ("starred", "keywords", "stop_time", "scope"):
        if schema.has(col):
            parts.append(f"coalesce({col}::text, '')")
    args: list[Any] = []
    where = _set_up_filter(set_up, args)
    cur.execute(
        f"SELECT uuid, md5(concat_ws('|', {', '.join(parts)})) "  # noqa: S608
        f"FROM global_measurement_overview WHERE true{where}",
        args,
    )
    return {str(r[0]): r[1] for r in cur.fetchall()}


def _json_bytes(value: Any) -> Any:
    """core-tools keeps metadata and snapshot as JSON text in BYTEA columns."""
    if value is None:
        return None
    if isinstance(value, memoryview):
        value = bytes(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value  # kept as text: better than losing it
    return value


def _keywords(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return [value]
    if isinstance(value, dict):
        return [str(k) for k in value]
    if isinstance(value, list | tuple):
        return [v if isinstance(v, str) else json.dumps(v) for v in value if v is not None]
    return [str(value)]


def read_measurement(cur: Any, schema: Schema, uuid: int) -> Measurement:
    """The overview row of ``uuid`` (CoreToolsDataError if it is gone)."""
    optional = {
        "stop_time": "stop_time::timestamptz",
        "starred": "starred",
        "keywords": "keywords",
        "metadata": "metadata",
        "snapshot": "snapshot",
        "exp_data_location": "exp_data_location",
        "sync_location": "sync_location",
        "scope": "scope",
        "creasted_by": "creasted_by",
    }
    cols = [optional[c] if schema.has(c) else "NULL" for c in optional]
    cur.execute(
        "SELECT id, uuid, exp_name, set_up, project, sample, start_time::timestamptz, "
        f"completed, {', '.join(cols)} FROM global_measurement_overview "  # noqa: S608
        "WHERE uuid = %s",
        (uuid,),
    )
    row = cur.fetchone()
    if row is None:
        raise CoreToolsDataError(
            f"measurement uuid {uuid} is no longer in the database", retryable=False
        )
    (id_, uuid_, name, set_up, project, sample, start, completed) = row[:8]
    stop, starred, keywords, metadata, snapshot, location, sync_loc, scope, creator = row[8:]
    new_format = sync_loc == NEW_FORMAT_MARK or (schema.has_parameters_table and not location)
    return Measurement(
        id=int(id_),
        uuid=int(uuid_),
        exp_name=name or "",
        set_up=set_up or "",
        project=project or "",
        sample=sample or "",
        start_time=start,
        stop_time=stop,
        completed=bool(completed),
        starred=bool(starred),
        keywords=_keywords(keywords),
        metadata=_json_bytes(metadata),
        snapshot=_json_bytes(snapshot),
        data_table=None if new_format else location,
        scope=scope,
        created_by=creator,
    )


def progress(cur: Any, schema: Schema, uuid: int) -> tuple[bool, int] | None:
    """(completed, sum of write cursors) of a new-format measurement; None if gone.

    Old-format measurements report their cursors from their own table (0 if unreadable).
    """
    extra = "exp_data_location, sync_location" if schema.has("sync_location") else "NULL, NULL"
    cur.execute(
        f"SELECT completed, {extra} FROM global_measurement_overview WHERE uuid = %s",  # noqa: S608
        (uuid,),
    )
    row = cur.fetchone()
    if row is None:
        return None
    completed, location, sync_loc = row
    if schema.has_parameters_table and (sync_loc == NEW_FORMAT_MARK or not location):
        cur.execute(
            "SELECT coalesce(sum(write_cursor), 0) FROM measurement_parameters WHERE exp_uuid = %s",
            (uuid,),
        )
        return bool(completed), int(cur.fetchone()[0])
    return bool(completed), 0
