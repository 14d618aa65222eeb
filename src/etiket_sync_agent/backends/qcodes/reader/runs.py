"""The runs of a QCoDeS database: listing, discovery and per-run metadata.

Works on every schema version 0..9 without upgrading anything: columns a version lacks
get the value QCoDeS' upgrade would give them (see :mod:`.schema`).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .connections import with_connection
from .errors import QCoDeSFormatError, QCoDeSRunNotFoundError
from .interdeps import InterDependencies
from .run_description import (
    RunDescription,
    description_from_layouts,
    description_from_result_table,
    parse_run_description,
)
from .schema import (
    STANDARD_RUN_COLUMNS,
    SchemaInfo,
    quote_identifier,
    read_schema,
    table_exists,
)
from .sqlite_open import ReadOnlyConnection, read_transaction, translate_errors

#: QCoDeS' v0->v1 upgrade builds GUIDs for old runs from this sample code and the run
#: timestamp (location and work station 0, QCoDeS' defaults).
_UPGRADE_GUID_SAMPLE = 0xDEAFCAFE


@dataclass(frozen=True)
class RunInfo:
    """One row of ``runs`` (with its experiment), cheap enough to list for every run.

    ``guid_synthesized`` is True when the database predates GUIDs (schema v0) or the run
    has none, and ``guid`` was derived from the run timestamp as QCoDeS' upgrade does.
    ``result_rows`` is the number of rows in the result table (its highest id; QCoDeS only
    appends), None when the table is missing. ``metadata`` holds the non-NULL user
    metadata columns (``DataSet.add_metadata``, e.g. ``inspectr_tag``).
    """

    run_id: int
    exp_id: int | None
    name: str
    exp_name: str | None
    sample_name: str | None
    guid: str
    guid_synthesized: bool
    result_table_name: str
    result_counter: int | None
    captured_run_id: int
    captured_counter: int | None
    run_timestamp: float | None
    completed_timestamp: float | None
    is_completed: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    result_rows: int | None = None


@dataclass(frozen=True)
class RunMetadata:
    """Everything about a run except its data.

    ``snapshot`` is the raw station snapshot JSON (None when absent); ``description`` the
    parameters, their relations and shapes; ``parent_dataset_links`` the links to parent
    datasets as dicts (``head``, ``tail``, ``edge_type``, ``description``).
    """

    info: RunInfo
    description: RunDescription
    snapshot: str | None
    parent_dataset_links: list[dict[str, str]]
    schema_version: int
    parameters_column: str | None = None

    @property
    def run_id(self) -> int:
        return self.info.run_id

    @property
    def guid(self) -> str:
        return self.info.guid

    def snapshot_dict(self) -> dict[str, Any] | None:
        """The snapshot parsed from JSON (None when absent or not valid JSON)."""
        if not self.snapshot:
            return None
        try:
            value = json.loads(self.snapshot)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


def synthesize_guid(run_timestamp: float | None) -> str:
    """The GUID QCoDeS' v0->v1 upgrade gives a run (sample ``deafcafe``, default location
    and work station 0, time = run timestamp in ms)."""
    timeint = round((run_timestamp or 0.0) * 1000)
    t = f"{timeint:016x}"
    return f"{_UPGRADE_GUID_SAMPLE:08x}-0000-0000-{t[:4]}-{t[4:]}"


def _as_float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


#: columns only a run's full metadata needs: snapshots can be megabytes per run
_HEAVY_RUN_COLUMNS = frozenset({"parameters", "run_description", "snapshot", "parent_datasets"})


def _run_select(schema: SchemaInfo, heavy: bool) -> tuple[str, list[str]]:
    """SELECT over runs+experiments with NULL for the columns this schema lacks (and,
    unless ``heavy``, for the big ones a :class:`RunInfo` does not need)."""
    wanted = list(STANDARD_RUN_COLUMNS)
    extra = list(schema.metadata_columns)
    parts = [
        f"runs.{quote_identifier(c)}"
        if schema.has_run_column(c) and (heavy or c not in _HEAVY_RUN_COLUMNS)
        else "NULL"
        for c in (*wanted, *extra)
    ]
    sql = (
        f"SELECT {', '.join(parts)}, experiments.name, experiments.sample_name"
        " FROM runs LEFT JOIN experiments ON runs.exp_id = experiments.exp_id"
    )
    return sql, [*wanted, *extra, "exp_name", "sample_name"]


def _row_to_info(row: dict[str, Any], schema: SchemaInfo) -> RunInfo:
    guid = row["guid"]
    synthesized = not isinstance(guid, str) or not guid
    run_ts = _as_float(row["run_timestamp"])
    captured_run_id = row["captured_run_id"]
    captured_counter = row["captured_counter"]
    if not schema.has_run_column("captured_run_id"):
        captured_run_id, captured_counter = row["run_id"], row["result_counter"]
    metadata = {c: row[c] for c in schema.metadata_columns if row[c] is not None}
    return RunInfo(
        run_id=int(row["run_id"]),
        exp_id=row["exp_id"],
        name=row["name"] if row["name"] is not None else "",
        exp_name=row["exp_name"],
        sample_name=row["sample_name"],
        guid=synthesize_guid(run_ts) if synthesized else guid,
        guid_synthesized=synthesized,
        result_table_name=row["result_table_name"] or "",
        result_counter=row["result_counter"],
        captured_run_id=captured_run_id if captured_run_id is not None else int(row["run_id"]),
        captured_counter=captured_counter,
        run_timestamp=run_ts,
        completed_timestamp=_as_float(row["completed_timestamp"]),
        is_completed=bool(row["is_completed"]),
        metadata=metadata,
    )


def _result_rows(conn: ReadOnlyConnection, name: str) -> int | None:
    try:
        value = conn.execute(f"SELECT max(rowid) FROM {quote_identifier(name)}").fetchone()[0]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return int(value or 0)


def _query_runs(
    conn: ReadOnlyConnection,
    schema: SchemaInfo,
    where: str = "",
    params: tuple[Any, ...] = (),
    *,
    with_row_counts: bool = True,
    heavy: bool = False,
) -> list[tuple[RunInfo, dict[str, Any]]]:
    """Runs matching ``where`` with their raw row; call inside :func:`read_transaction`.

    ``heavy`` also reads the snapshot, description and links (for full metadata).
    """
    sql, names = _run_select(schema, heavy)
    out = []
    with translate_errors(conn.source_path, "the runs table"):
        rows = conn.execute(f"{sql} {where} ORDER BY runs.run_id", params).fetchall()
        for values in rows:
            row = dict(zip(names, values, strict=True))
            info = _row_to_info(row, schema)
            if with_row_counts:
                count = _result_rows(conn, info.result_table_name)
                info = replace(info, result_rows=count)
            out.append((info, row))
    return out


def list_runs(
    conn_or_path: ReadOnlyConnection | str | Path, *, with_row_counts: bool = True
) -> list[RunInfo]:
    """All runs of the database, by run id.

    ``with_row_counts`` adds ``result_rows`` (one indexed ``max(rowid)`` per run).

    Raises:
        QCoDeSFormatError: not a QCoDeS database.
        QCoDeSDatabaseBusy: locked by a writer.
    """

    def read(conn: ReadOnlyConnection) -> list[RunInfo]:
        schema = read_schema(conn)
        with read_transaction(conn):
            found = _query_runs(conn, schema, with_row_counts=with_row_counts)
        return [info for info, _ in found]

    return with_connection(conn_or_path, read)


def newest_run(
    conn_or_path: ReadOnlyConnection | str | Path, *, with_row_counts: bool = True
) -> RunInfo | None:
    """The run with the highest run id (None for an empty database): what live sync
    watches, without listing every run (one primary-key lookup)."""

    def read(conn: ReadOnlyConnection) -> RunInfo | None:
        schema = read_schema(conn)
        with read_transaction(conn):
            found = _query_runs(
                conn,
                schema,
                "WHERE runs.run_id = (SELECT max(run_id) FROM runs)",
                with_row_counts=with_row_counts,
            )
        return found[0][0] if found else None

    return with_connection(conn_or_path, read)


def runs_since(
    conn_or_path: ReadOnlyConnection | str | Path,
    last_run_id: int,
    *,
    with_row_counts: bool = False,
) -> list[RunInfo]:
    """Runs with ``run_id > last_run_id`` (discovery of new runs; uses the primary key)."""

    def read(conn: ReadOnlyConnection) -> list[RunInfo]:
        schema = read_schema(conn)
        with read_transaction(conn):
            found = _query_runs(
                conn,
                schema,
                "WHERE runs.run_id > ?",
                (int(last_run_id),),
                with_row_counts=with_row_counts,
            )
        return [info for info, _ in found]

    return with_connection(conn_or_path, read)


def runs_after(
    conn_or_path: ReadOnlyConnection | str | Path, run_id: int, guid: str
) -> tuple[bool, list[RunInfo]]:
    """Discovery continuing from the run (``run_id``, ``guid``) seen last.

    Returns ``(True, runs with a higher run id)`` when the database still holds that run
    (one primary-key lookup), else ``(False, every run)``: the file was replaced (run ids
    restarted with other runs) or the run is gone, so every run it holds now is new to
    the caller. Both from one read snapshot.
    """

    def read(conn: ReadOnlyConnection) -> tuple[bool, list[RunInfo]]:
        schema = read_schema(conn)
        with read_transaction(conn):
            found = _query_runs(
                conn, schema, "WHERE runs.run_id = ?", (int(run_id),), with_row_counts=False
            )
            if found and found[0][0].guid.lower() == guid.lower():
                newer = _query_runs(
                    conn, schema, "WHERE runs.run_id > ?", (int(run_id),), with_row_counts=False
                )
                return True, [info for info, _ in newer]
            everything = _query_runs(conn, schema, with_row_counts=False)
        return False, [info for info, _ in everything]

    return with_connection(conn_or_path, read)


def _query_by_guid(
    conn: ReadOnlyConnection, schema: SchemaInfo, guid: str
) -> list[tuple[RunInfo, dict[str, Any]]]:
    """The run with this GUID. QCoDeS has no index on ``runs.guid`` and a scan reads every
    run's row (snapshots included), so the connection remembers the run id of each GUID
    (from one scan of the two columns) and the run is read by its primary key, its GUID
    checked against the one asked for."""
    known = conn.guid_run_ids.get(guid)
    if known is None and schema.has_run_column("guid"):
        with translate_errors(conn.source_path, "the runs table"):
            rows = conn.execute("SELECT guid, run_id FROM runs WHERE guid IS NOT NULL")
            conn.guid_run_ids.update((str(g), int(i)) for g, i in rows)
        known = conn.guid_run_ids.get(guid)
    if known is not None:
        found = _query_runs(conn, schema, "WHERE runs.run_id = ?", (known,), heavy=True)
        if found and found[0][0].guid == guid:
            return found
        conn.guid_run_ids.pop(guid, None)  # the run ids changed (another file?): look it up
    if schema.has_run_column("guid"):
        found = _query_runs(conn, schema, "WHERE runs.guid = ?", (guid,), heavy=True)
        if found:
            conn.guid_run_ids[guid] = found[0][0].run_id
            return found
    # maybe a GUID we synthesize for a schema v0 database (or for a run without one)
    everything = _query_runs(conn, schema, with_row_counts=False)
    conn.guid_run_ids.update((info.guid, info.run_id) for info, _ in everything)
    match = [info.run_id for info, _ in everything if info.guid == guid.lower()]
    if not match:
        return []
    return _query_runs(conn, schema, "WHERE runs.run_id = ?", (match[0],), heavy=True)


def load_run_metadata(conn: ReadOnlyConnection, schema: SchemaInfo, run: int | str) -> RunMetadata:
    """Metadata of run ``run`` (a run id, or a GUID string) on an open connection.

    Call it inside :func:`read_transaction` to get the run row and its description from
    one snapshot.

    Raises:
        QCoDeSRunNotFoundError: no such run.
        QCoDeSFormatError: the run's description is broken.
    """
    if isinstance(run, str) and not run.isdigit():
        found = _query_by_guid(conn, schema, run)
    else:
        found = _query_runs(conn, schema, "WHERE runs.run_id = ?", (int(run),), heavy=True)
    if not found:
        raise QCoDeSRunNotFoundError(f"run {run} not found in {conn.source_path}")
    info, row = found[0]
    where = f" of run {info.run_id} in {conn.source_path}"
    with translate_errors(conn.source_path, f"the description of run {info.run_id}"):
        desc = _description(conn, schema, info, row, where)
    return RunMetadata(
        info=info,
        description=desc,
        snapshot=row["snapshot"] if isinstance(row["snapshot"], str) else None,
        parent_dataset_links=_parse_links(row["parent_datasets"], where),
        schema_version=schema.user_version,
        parameters_column=row["parameters"],
    )


def _description(
    conn: ReadOnlyConnection,
    schema: SchemaInfo,
    info: RunInfo,
    row: dict[str, Any],
    where: str,
) -> RunDescription:
    table = info.result_table_name if table_exists(conn, info.result_table_name) else None
    if schema.description_from_layouts:
        desc = (
            description_from_layouts(conn, info.run_id, table)
            if schema.has_layouts
            else RunDescription(interdeps=InterDependencies(), source="empty")
        )
    elif isinstance(row["run_description"], str):
        desc = parse_run_description(row["run_description"], where)
    else:
        desc = RunDescription(interdeps=InterDependencies(), source="empty")
    if len(desc.interdeps) == 0 and table is not None:
        fallback = description_from_result_table(conn, table)
        if fallback is not None:
            return fallback
    return desc


def _parse_links(raw: Any, where: str) -> list[dict[str, str]]:
    if raw is None or raw == "[]":
        return []
    try:
        links = [json.loads(item) for item in json.loads(raw)]
        return [
            {
                "head": link["head"],
                "tail": link["tail"],
                "edge_type": link["edge_type"],
                "description": link.get("description", ""),
            }
            for link in links
        ]
    except (TypeError, ValueError, KeyError) as exc:
        raise QCoDeSFormatError(f"malformed parent dataset links{where}") from exc


def links_to_str(links: list[dict[str, str]]) -> str:
    """Parent links serialized as QCoDeS stores and exports them (a JSON list of JSON)."""
    return json.dumps([json.dumps(link) for link in links])


def read_run_metadata(conn_or_path: ReadOnlyConnection | str | Path, run: int | str) -> RunMetadata:
    """Metadata of one run (by run id or GUID), read in one short read transaction.

    Takes a path or a connection from :func:`open_readonly` (see :func:`with_connection`).

    Raises:
        QCoDeSRunNotFoundError: no such run.
        QCoDeSFormatError: not a QCoDeS database, or the run's description is broken.
        QCoDeSDatabaseBusy: locked by a writer.
    """

    def read(conn: ReadOnlyConnection) -> RunMetadata:
        schema = read_schema(conn)
        with read_transaction(conn):
            return load_run_metadata(conn, schema, run)

    return with_connection(conn_or_path, read)
