"""Write a QCoDeS run as a NetCDF4/HDF5 file with the agent's NetCDF writer
(:mod:`etiket_sync_agent.netcdf`, which documents the adjustments NetCDF needs).

The dataset is :func:`read_run_xarray`'s. The measured values of complete shaped runs
(``set_shapes``, the doNd case) are streamed from the database into the file in row
batches, so exporting a multi-GB run needs only tens of MB of memory; other runs are
built in memory first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from etiket_sync_agent.netcdf import can_write, to_netcdf_ready, write_netcdf

from .connections import with_connection
from .export import assemble_dataset, load_run
from .result_table import DEFAULT_BATCH_ROWS, LayoutChanged, StridedColumn
from .sqlite_open import ReadOnlyConnection


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
) -> Path:
    """Write run ``run`` (id or GUID) of a database to ``out_path`` as NetCDF4 via h5netcdf.

    Takes the database's path or a connection from :func:`open_readonly`.

    ``xarray.open_dataset(out_path, engine="h5netcdf")`` reads it back with the values,
    coordinates and attributes of :func:`read_run_xarray` (adjusted as the module docstring
    says). Large shaped runs are streamed from the database into the file in batches of
    ``batch_rows`` rows, so memory stays far below the size of the data. Returns
    ``out_path``.

    Raises:
        QCoDeSRunNotFoundError, QCoDeSFormatError, QCoDeSDatabaseBusy: as
            :func:`read_run_xarray`.
    """

    def write(conn: ReadOnlyConnection) -> Path:
        meta, trees = load_run(
            conn, run, max_rows=max_rows, batch_rows=batch_rows, defer_shaped=True
        )
        try:
            deferred = [t for t in trees if t.deferred is not None]
            ds = assemble_dataset(meta, trees)
            if deferred and not can_write(to_netcdf_ready(ds)):
                for tree in deferred:
                    shape = tree.arrays[tree.top].shape
                    tree.arrays[tree.top] = tree.deferred.read(conn, batch_rows).reshape(shape)
                ds, deferred = assemble_dataset(meta, trees), []
            fill = {t.top: _stream_into(conn, t.deferred, batch_rows) for t in deferred}
            return write_netcdf(ds, out_path, fill=fill)
        except LayoutChanged:  # rows not where the plan expected them: read it all
            meta, trees = load_run(conn, run, max_rows=max_rows, batch_rows=batch_rows)
            return write_netcdf(assemble_dataset(meta, trees), out_path)

    return with_connection(conn_or_path, write)
