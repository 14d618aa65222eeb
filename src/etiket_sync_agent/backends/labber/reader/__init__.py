"""Read Labber log files (HDF5) directly: Labber's own API is not needed.

Public API:

* :func:`read_labber_header` - the file-level facts (name, time, tags, star, logs and
  whether they are completed), cheap: for live checks and metadata;
* :func:`read_labber_file` - the header plus every log (the root one and each ``Log_N``)
  read into memory as xarray Datasets on the step grid, with their configuration;
* :func:`is_log_candidate` - whether a file name can be a Labber log.

Files are opened read-only without HDF5 file locks; torn reads (Labber writing at the
same moment) are retried (:mod:`.opening`). Errors: :class:`LabberReadError` (with
``retryable``), :class:`NotALabberLog`, :class:`LabberFormatError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..discovery import is_log_candidate
from .errors import LabberFormatError, LabberReadError, NotALabberLog
from .header import LabberHeader, LogEntry, appended_log_keys, read_header
from .log import LogContent, read_log
from .opening import open_log, read_with_retries

__all__ = [
    "LabberFile",
    "LabberFormatError",
    "LabberHeader",
    "LabberReadError",
    "LogContent",
    "LogEntry",
    "NotALabberLog",
    "is_log_candidate",
    "open_log",
    "read_labber_file",
    "read_labber_header",
]


@dataclass
class LabberFile:
    header: LabberHeader
    logs: list[LogContent]


def read_labber_header(path: Path) -> LabberHeader:
    """The header of the Labber log at ``path`` (see :class:`LabberHeader`); a snapshot
    if Labber is writing it."""
    return read_with_retries(path, lambda f: read_header(f, path.stem), stable=False)


def read_labber_file(path: Path, *, live: bool = False) -> LabberFile:
    """Every log of the file at ``path``, read into memory (the file is closed after).

    ``live``: the file may still be written: a snapshot is read (see
    :func:`.opening.read_with_retries`) and incomplete logs are not warned about.
    """

    def read(f: Any) -> LabberFile:
        header = read_header(f, path.stem)
        logs = [read_log(f, "", live=live)]
        logs += [read_log(f[key], key, live=live) for key in appended_log_keys(f)]
        return LabberFile(header, logs)

    return read_with_retries(path, read, stable=not live)
