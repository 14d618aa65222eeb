"""Write a QCoDeS run as a NetCDF4/HDF5 file with the agent's NetCDF writer
(:mod:`etiket_sync_agent.netcdf`, which documents the adjustments NetCDF needs).

The dataset is :func:`read_run_xarray`'s. The measured values of complete shaped runs
(``set_shapes``, the doNd case) are streamed from the database into the file in row
batches, so exporting a multi-GB run needs only tens of MB of memory. Other runs are
built in memory first - which takes about three times their values' size at the peak -
unless their values exceed ``memory_limit``: a numeric run is then written as **flat
columns**, streamed like the shaped ones (every parameter of a tree becomes a variable
along that tree's ``index`` dimension - ``<top>_index`` when the run has several trees -
with QCoDeS' attributes, and the dataset attribute ``etiket_layout`` says so); a run with
array, complex or text values over the limit is refused with
:class:`QCoDeSRunTooLarge`. Nothing is lost in the flat layout: it holds every stored
value; arranging it on a grid is left to the reader of the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from etiket_sync_agent.netcdf import can_write, to_netcdf_ready, write_netcdf

from .connections import with_connection
from .errors import QCoDeSFormatError, QCoDeSRunTooLarge
from .export import assemble_dataset, dataset_attrs, load_run, variable_attrs
from .result_table import (
    DEFAULT_BATCH_ROWS,
    LayoutChanged,
    ResultTable,
    StridedColumn,
    count_not_null,
    iter_float_column,
)
from .runs import RunMetadata
from .sqlite_open import ReadOnlyConnection
from .tree_data import TooLargeForMemory, TreeData
from .tree_layout import log_warning

#: Raw values a run may have to be arranged in memory (the peak is about three times this).
DEFAULT_MEMORY_LIMIT = 256 * 2**20


def _stream_into(
    conn: ReadOnlyConnection, source: StridedColumn, batch_rows: int
) -> Callable[[Any], None]:
    """A filler writing ``source`` into an h5py dataset, whole leading-axis slabs at a time."""

    def fill(h5ds: Any) -> None:
        row_shape = tuple(h5ds.shape[1:])
        row = int(np.prod(row_shape, dtype=np.int64))
        pos = 0
        for block in source.iter_blocks(conn, batch_rows, align=row):
            n = block.size // row
            h5ds[pos : pos + n] = block.reshape((n, *row_shape))
            pos += n

    return fill


def write_run_netcdf(
    conn_or_path: ReadOnlyConnection | str | Path,
    run: int | str,
    out_path: str | Path,
    *,
    max_rows: int | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
    warn: Callable[[str], None] | None = None,
) -> Path:
    """Write run ``run`` (id or GUID) of a database to ``out_path`` as NetCDF4 via h5netcdf.

    Takes the database's path or a connection from :func:`open_readonly`.

    ``xarray.open_dataset(out_path, engine="h5netcdf")`` reads it back with the values,
    coordinates and attributes of :func:`read_run_xarray` (adjusted as the module docstring
    says). Large shaped runs are streamed from the database into the file in batches of
    ``batch_rows`` rows, so memory stays far below the size of the data. Returns
    ``out_path``.

    ``memory_limit`` (bytes, None = no limit): runs whose values are larger are written
    as flat columns (numeric runs; see the module docstring) and ``warn`` is told why.
    ``warn`` also gets every data warning (see :func:`.export.assemble_dataset`); without
    it they are logged.

    Raises:
        QCoDeSRunNotFoundError, QCoDeSFormatError, QCoDeSDatabaseBusy: as
            :func:`read_run_xarray`.
        QCoDeSRunTooLarge: array/complex/text values over ``memory_limit``.
    """

    data_warn = warn or log_warning

    def assemble(conn: ReadOnlyConnection, meta: RunMetadata, trees: list[TreeData]) -> Any:
        return assemble_dataset(meta, trees, database=conn.source_path, warn=data_warn)

    def write(conn: ReadOnlyConnection) -> Path:
        try:
            meta, trees = load_run(
                conn,
                run,
                max_rows=max_rows,
                batch_rows=batch_rows,
                defer_shaped=True,
                memory_limit=memory_limit,
            )
        except TooLargeForMemory as big:
            return _write_flat(conn, out_path, big, memory_limit, batch_rows, data_warn)
        try:
            deferred = [t for t in trees if t.deferred is not None]
            ds = assemble(conn, meta, trees)
            if deferred and not can_write(to_netcdf_ready(ds)):
                for tree in deferred:
                    shape = tree.arrays[tree.top].shape
                    tree.arrays[tree.top] = tree.deferred.read(conn, batch_rows).reshape(shape)
                ds, deferred = assemble(conn, meta, trees), []
            fill = {t.top: _stream_into(conn, t.deferred, batch_rows) for t in deferred}
            return write_netcdf(ds, out_path, fill=fill)
        except LayoutChanged:  # rows not where the plan expected them: read it all
            try:
                meta, trees = load_run(
                    conn, run, max_rows=max_rows, batch_rows=batch_rows, memory_limit=memory_limit
                )
            except TooLargeForMemory as big:
                return _write_flat(conn, out_path, big, memory_limit, batch_rows, data_warn)
            return write_netcdf(assemble(conn, meta, trees), out_path)

    return with_connection(conn_or_path, write)


def _write_flat(
    conn: ReadOnlyConnection,
    out_path: str | Path,
    big: TooLargeForMemory,
    memory_limit: int | None,
    batch_rows: int,
    warn: Callable[[str], None] | None,
) -> Path:
    """Stream every tree of the run into the file as flat columns (see the module doc),
    from the snapshot ``load_run`` read (``big.meta``, ``big.table``)."""
    import xarray as xr

    meta, table = big.meta, big.table
    limit_mib = f"{(memory_limit or 0) / 2**20:.0f} MiB"
    where = f"run {meta.run_id} in {conn.source_path}"
    if not big.numeric:
        raise QCoDeSRunTooLarge(
            f"{where} holds ~{big.n_bytes / 2**20:.0f} MiB of array/text values in tree"
            f" {big.top!r}, more than the memory limit of {limit_mib} allows to convert",
            hint="raise the source's in_memory_limit_mb if this PC has the memory to spare",
        )
    interdeps = meta.description.interdeps
    tops = interdeps.top_level_parameters
    specs = {ps["name"]: ps for ps in interdeps.old_style_paramspecs()}
    data_vars: dict[str, Any] = {}
    fill: dict[str, Callable[[Any], None]] = {}
    taken: set[str] = set()
    for top in tops:
        _, deps, inferred = interdeps.tree(top)
        dim = "index" if len(tops) == 1 else f"{top}_index"
        n_rows = 0 if table is None else count_not_null(conn, table, top)
        for name in (top, *deps, *inferred):
            if table is not None and name not in table.columns:
                raise QCoDeSFormatError(
                    f"{where}: result table {table.name!r} has no column for {name!r}"
                )
            var_name = name if name not in taken else f"{name}_{top}"
            taken.add(var_name)
            placeholder = np.broadcast_to(np.float64(np.nan), (n_rows,))
            data_vars[var_name] = xr.Variable((dim,), placeholder, variable_attrs(specs[name]))
            if n_rows and table is not None:
                fill[var_name] = _stream_column(conn, table, name, top, n_rows, batch_rows)
    ds = xr.Dataset(data_vars)
    ds.attrs.update(dataset_attrs(meta))
    ds.attrs["etiket_layout"] = (
        f"flat columns: the run's values (~{big.n_bytes / 2**20:.0f} MiB in tree {big.top!r})"
        f" exceed the memory limit of {limit_mib} for arranging them as QCoDeS does; every"
        " parameter is stored as a column along its tree's index dimension"
    )
    if warn is not None:
        warn(
            f"{where}: too large to arrange in memory (~{big.n_bytes / 2**20:.0f}"
            f" MiB > {limit_mib}): stored as flat columns along an index dimension"
        )
    return write_netcdf(ds, out_path, fill=fill)


def _stream_column(
    conn: ReadOnlyConnection,
    table: ResultTable,
    column: str,
    top: str,
    n_rows: int,
    batch_rows: int,
) -> Callable[[Any], None]:
    def fill(h5ds: Any) -> None:
        pos = 0
        for block in iter_float_column(conn, table, column, not_null=top, batch_rows=batch_rows):
            if pos + block.size > n_rows:
                raise QCoDeSFormatError(f"result table {table.name!r} grew below its bound")
            h5ds[pos : pos + block.size] = block
            pos += block.size
        if pos != n_rows:
            raise QCoDeSFormatError(
                f"result table {table.name!r}: {pos} rows of {column!r} where {n_rows} were counted"
            )

    return fill
