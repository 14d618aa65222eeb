"""``read_run_xarray``: a run as the xarray Dataset QCoDeS 0.58's ``to_xarray_dataset()`` gives.

Per tree the layout comes from :mod:`.tree_layout`; the trees are merged like QCoDeS does
(a name that is a coordinate in one tree and a variable in another becomes a coordinate,
then ``xr.merge(compat="equals", join="outer")``); then every coordinate and variable gets
its parameter's spec (``name``, ``paramtype``, ``label``, ``unit``, ``inferred_from``,
``depends_on``, plus ``units``/``long_name``) and the dataset gets QCoDeS' attributes.

Intentional differences from QCoDeS (all in favour of the stored data):

* numeric values are the stored doubles, not SQLite's 15-digit rendering of them;
* schema v0 runs get the GUID QCoDeS' upgrade would derive (QCoDeS 0.58 cannot open
  those files with its default config);
* a run whose description lists no parameters but whose result table has columns
  (the 2017 prototype format) exposes each column as a standalone parameter over an
  ``index`` dimension, where QCoDeS returns an empty dataset;
* where QCoDeS' merge of the trees fails (two trees hold a shared inferred parameter on
  different rows, e.g. the v2/v3 fixture databases), the first tree's values are kept
  instead of failing;
* ``standalones`` in the ``run_description`` attribute are in a stable order (QCoDeS
  orders them by string hash, which varies between processes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .connections import with_connection
from .errors import QCoDeSFormatError
from .result_table import DEFAULT_BATCH_ROWS, ResultTable, open_result_table
from .run_description import to_storage_json
from .runs import RunMetadata, links_to_str, load_run_metadata
from .schema import read_schema
from .sqlite_open import ReadOnlyConnection, read_transaction
from .tree_data import TooLargeForMemory, TreeData, read_tree
from .tree_layout import log_warning, tree_to_dataset

if TYPE_CHECKING:
    import xarray as xr

_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def load_run(
    conn: ReadOnlyConnection,
    run: int | str,
    *,
    max_rows: int | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    defer_shaped: bool = False,
    memory_limit: int | None = None,
) -> tuple[RunMetadata, list[TreeData]]:
    """Metadata and the data of every tree of ``run`` on an open connection.

    ``defer_shaped``, ``memory_limit``: see :func:`.tree_data.read_tree` (for streaming
    writers).

    The run row, its description and the row bound of its result table are read in one
    snapshot; the data up to that bound is then read in short statements, so a writer
    appending meanwhile is neither blocked nor seen half-way.
    """
    meta, table = load_run_head(conn, run, max_rows=max_rows)
    desc = meta.description
    if table is None and len(desc.interdeps):
        raise QCoDeSFormatError(
            f"run {meta.run_id} in {conn.source_path}: its result table "
            f"{meta.info.result_table_name!r} is missing"
        )
    try:
        trees = [
            read_tree(
                conn,
                table,
                desc,
                top,
                batch_rows=batch_rows,
                defer_shaped=defer_shaped,
                memory_limit=memory_limit,
            )
            for top in desc.interdeps.top_level_parameters
        ]
    except TooLargeForMemory as big:
        big.meta, big.table = meta, table  # the same snapshot, for the streaming writer
        raise
    return meta, trees


def load_run_head(
    conn: ReadOnlyConnection, run: int | str, *, max_rows: int | None = None
) -> tuple[RunMetadata, ResultTable | None]:
    """The run's metadata and its result table with the row bound fixed (one snapshot)."""
    schema = read_schema(conn)
    with read_transaction(conn):
        meta = load_run_metadata(conn, schema, run)
        table = open_result_table(conn, meta.info.result_table_name, max_rows=max_rows)
    return meta, table


def assemble_dataset(
    meta: RunMetadata,
    trees: list[TreeData],
    *,
    fast: bool = True,
    database: Path | None = None,
    warn: Callable[[str], None] = log_warning,
) -> xr.Dataset:
    """Build the QCoDeS-shaped Dataset from loaded trees (``fast=False``: pandas route only).

    ``warn`` is told, in one line naming the run (and ``database``), about every choice
    that changes what is stored compared with the database (trees that disagree, an
    inferred parameter left out); by default they are logged.

    Raises:
        QCoDeSFormatError: the data cannot be arranged (QCoDeS fails on such runs too).
    """
    import xarray as xr

    desc = meta.description
    of = f" of {database}" if database is not None else ""
    where = f"run {meta.run_id}{of} ({meta.info.result_table_name!r})"

    def warn_here(message: str) -> None:
        warn(f"{where}: {message}")

    try:
        parts = [tree_to_dataset(desc, tree, fast=fast, warn=warn_here) for tree in trees]
        coords: set[Hashable] = set()
        variables: set[Hashable] = set()
        for part in parts:
            coords.update(part.coords)
            variables.update(part.data_vars)
        conflicting = coords & variables
        if conflicting:
            parts = [
                part.set_coords([v for v in conflicting if v in part.data_vars]) for part in parts
            ]
        try:
            ds = xr.merge(parts, compat="equals", join="outer")
        except xr.MergeError as exc:
            # QCoDeS gives up here (e.g. an inferred parameter shared by two trees with
            # different rows). Keep the data: the first tree's version of a shared name wins.
            warn_here(f"trees disagree ({exc}); keeping the first tree's values")
            ds = xr.merge(parts, compat="override", join="outer")
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise QCoDeSFormatError(f"cannot arrange the data of {where}: {exc}") from exc

    specs = {ps["name"]: ps for ps in desc.interdeps.old_style_paramspecs()}
    for name in list(ds.coords):
        if name not in ("index", "multi_index") and name in specs:
            ds.coords[name].attrs.update(variable_attrs(specs[str(name)]))
    for name in list(ds.data_vars):
        if name in specs:
            ds.data_vars[name].attrs.update(variable_attrs(specs[str(name)]))
    ds.attrs.update(dataset_attrs(meta))
    return ds


def variable_attrs(spec: dict[str, Any]) -> dict[str, Any]:
    attrs = dict(spec)
    attrs["units"] = spec.get("unit", "")
    attrs["long_name"] = spec.get("label", "")
    return attrs


def _local_time(ts: float | None) -> str:
    return time.strftime(_TIME_FORMAT, time.localtime(ts)) if ts is not None else ""


def dataset_attrs(meta: RunMetadata) -> dict[str, Any]:
    """The dataset attributes QCoDeS' export sets, in its order (metadata columns last)."""
    info = meta.info
    attrs: dict[str, Any] = {
        "ds_name": info.name,
        "sample_name": info.sample_name,
        "exp_name": info.exp_name,
        "snapshot": meta.snapshot or "null",
        "guid": info.guid,
        "run_timestamp": _local_time(info.run_timestamp),
        "completed_timestamp": _local_time(info.completed_timestamp),
        "captured_run_id": info.captured_run_id,
        "captured_counter": info.captured_counter,
        "run_id": info.run_id,
        "run_description": to_storage_json(meta.description),
        "parent_dataset_links": links_to_str(meta.parent_dataset_links),
        "run_timestamp_raw": info.run_timestamp if info.run_timestamp is not None else -1,
        "completed_timestamp_raw": (
            info.completed_timestamp if info.completed_timestamp is not None else -1
        ),
    }
    attrs.update(info.metadata)
    return attrs


def read_run_xarray(
    conn_or_path: ReadOnlyConnection | str | Path,
    run: int | str,
    *,
    max_rows: int | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    warn: Callable[[str], None] = log_warning,
) -> xr.Dataset:
    """The run (by run id or GUID) as QCoDeS' ``load_by_id(run).to_xarray_dataset()`` gives it.

    Same variables, coordinates/dimensions, values, dtypes and attributes (see the module
    docstring for the few intentional differences). Safe on a live run: it sees the rows
    written so far, as one consistent prefix, and can be called again as rows arrive.
    ``max_rows`` reads only the first ``max_rows`` rows of the result table. Takes a path
    or a connection from :func:`open_readonly` (see :func:`.connections.with_connection`).
    ``warn`` is told about data warnings (see :func:`assemble_dataset`; default: the log).

    Raises:
        QCoDeSRunNotFoundError: no such run.
        QCoDeSFormatError: not a QCoDeS database, or the run is malformed.
        QCoDeSDatabaseBusy: locked by a writer for too long (retryable).
    """

    def read(conn: ReadOnlyConnection) -> tuple[RunMetadata, list[TreeData], Path]:
        meta, trees = load_run(conn, run, max_rows=max_rows, batch_rows=batch_rows)
        return meta, trees, conn.source_path

    meta, trees, database = with_connection(conn_or_path, read)
    return assemble_dataset(meta, trees, database=database, warn=warn)
