"""Read QCoDeS SQLite databases directly, read-only, without importing qcodes.

Public API:

* :func:`open_readonly` - open a database without side effects on the user's files;
* :func:`validate_database` - is this a QCoDeS database we can read (for ``add-source``)?
* :func:`list_runs`, :func:`runs_since`, :func:`runs_after`, :func:`newest_run` - the
  runs, cheaply (discovery, live sync; :func:`runs_after` notices a replaced file);
* :func:`settled_state` - the stat of the database and its ``-wal``: equal = unchanged;
* :func:`read_run_metadata` - one run's metadata, description and snapshot;
* :func:`read_run_xarray` - one run as QCoDeS' ``to_xarray_dataset()`` gives it;
* :func:`write_run_netcdf` - that dataset written as NetCDF4 (h5netcdf).

The reading functions take a path or a connection from :func:`open_readonly`. With a
path, the connection is kept idle for a moment afterwards when that holds nothing (see
:mod:`.connections`; :func:`close_idle_connections` closes them), so repeated calls skip
SQLite's schema parse; a caller reading many runs can also hold one connection::

    with open_readonly(path) as conn:
        for info in runs_since(conn, last):
            write_run_netcdf(conn, info.run_id, out_dir / f"{info.guid}.nc")

Errors: :class:`QCoDeSFormatError` (not retryable), :class:`QCoDeSDatabaseBusy`
(retryable), :class:`QCoDeSRunNotFoundError`, :class:`QCoDeSRunTooLarge`.
"""

from __future__ import annotations

from .connections import close_idle_connections
from .errors import (
    QCoDeSDatabaseBusy,
    QCoDeSFormatError,
    QCoDeSRunNotFoundError,
    QCoDeSRunTooLarge,
)
from .export import read_run_xarray
from .file_state import DatabaseState, settled_state
from .interdeps import InterDependencies, ParamSpec
from .netcdf import write_run_netcdf
from .run_description import RunDescription
from .runs import (
    RunInfo,
    RunMetadata,
    list_runs,
    newest_run,
    read_run_metadata,
    runs_after,
    runs_since,
)
from .schema import SchemaInfo, validate_database
from .sqlite_open import ReadOnlyConnection, open_readonly

__all__ = [
    "DatabaseState",
    "InterDependencies",
    "ParamSpec",
    "QCoDeSDatabaseBusy",
    "QCoDeSFormatError",
    "QCoDeSRunNotFoundError",
    "QCoDeSRunTooLarge",
    "ReadOnlyConnection",
    "RunDescription",
    "RunInfo",
    "RunMetadata",
    "SchemaInfo",
    "close_idle_connections",
    "list_runs",
    "newest_run",
    "open_readonly",
    "read_run_metadata",
    "read_run_xarray",
    "runs_after",
    "runs_since",
    "settled_state",
    "validate_database",
    "write_run_netcdf",
]
