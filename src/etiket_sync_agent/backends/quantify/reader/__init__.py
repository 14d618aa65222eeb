"""Reading Quantify datadirs without quantify: TUIDs, dataset files, snapshots, liveness.

The backend (``backends/quantify/backend.py``) only orchestrates; everything about the
format lives here. Dataset files are always read from a private copy (see
:mod:`.private_copy`), never opened with HDF5 where the writer writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from etiket_sync_agent.backends.quantify.reader.dataset_file import open_dataset_file
from etiket_sync_agent.backends.quantify.reader.errors import (
    FileBusyError,
    FileVanishedError,
    QuantifyFormatError,
)
from etiket_sync_agent.backends.quantify.reader.grid import Progress, progress, to_xarray
from etiket_sync_agent.backends.quantify.reader.newer import NewerMeasurements
from etiket_sync_agent.backends.quantify.reader.private_copy import FileStamp, read_private_copy
from etiket_sync_agent.backends.quantify.reader.snapshot import SnapshotInfo, read_snapshot
from etiket_sync_agent.backends.quantify.reader.tuid import parse_folder_name, tuid_time

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "DatasetRead",
    "FileBusyError",
    "FileStamp",
    "FileVanishedError",
    "NewerMeasurements",
    "Progress",
    "QuantifyFormatError",
    "SnapshotInfo",
    "parse_folder_name",
    "read_dataset",
    "read_progress",
    "read_snapshot",
    "tuid_time",
    "warm_up",
]


@dataclass
class DatasetRead:
    """A dataset file read from a consistent private copy and gridded."""

    ds: xr.Dataset
    format: str  # "netCDF3" or "NetCDF4/HDF5"
    layout: str  # "flat", "1d" or "grid"
    progress: Progress
    stamp: FileStamp  # of the source file when it was copied


def read_dataset(src: Path, scratch: Path, rel: str | None = None) -> DatasetRead:
    """Read ``src`` (``dataset.hdf5`` or a processed dataset) through a private copy in
    ``scratch``; the values are loaded, the copy is gone when this returns."""
    rel = rel or src.name

    def read(copy: Path) -> tuple[xr.Dataset, str, str, Progress]:
        with open_dataset_file(copy, rel) as f:
            gridded = to_xarray(f)
            return gridded.ds, f.format, gridded.layout, gridded.progress

    (ds, fmt, layout, prog), stamp = read_private_copy(src, scratch, read, rel=rel)
    return DatasetRead(ds, fmt, layout, prog, stamp)


def read_progress(src: Path, scratch: Path, patience_s: float = 2.0) -> tuple[Progress, FileStamp]:
    """How many points of ``src`` are measured (gettables only, no gridding); gives up
    soon (FileBusyError) on a file being rewritten: the caller treats that as live."""

    def read(copy: Path) -> Progress:
        with open_dataset_file(copy, src.name) as f:
            return progress(f)

    return read_private_copy(src, scratch, read, patience_s=patience_s)


def warm_up() -> None:
    """Import what a sync needs (xarray, and what xarray imports on first use, the NetCDF
    writer). The engine paces live passes by their duration, so the first live pass
    must not pay for lazy imports."""
    import numpy as np
    import xarray as xr

    import etiket_sync_agent.netcdf  # noqa: F401

    xr.Dataset({"warm": ("up", np.zeros(1))})
