"""Read core-tools PostgreSQL databases directly (psycopg 3; core_tools is not needed).

Everything here is read-only: each call runs in its own ``READ ONLY`` transaction of a
:class:`Database`. The backend (``../backend.py``) decides what to read when.
"""

from .connection import ConnectionParams, Database
from .errors import (
    CoreToolsConnectionError,
    CoreToolsDataError,
    CoreToolsPermissionError,
    NotCoreToolsError,
    ScopeMappingMissing,
)
from .measurements import Listed, Measurement, fingerprints, list_after, progress, read_measurement
from .netcdf import LiveCache, write_measurement
from .schema import Schema, detect_schema

__all__ = [
    "ConnectionParams",
    "CoreToolsConnectionError",
    "CoreToolsDataError",
    "CoreToolsPermissionError",
    "Database",
    "Listed",
    "LiveCache",
    "Measurement",
    "NotCoreToolsError",
    "Schema",
    "ScopeMappingMissing",
    "detect_schema",
    "fingerprints",
    "list_after",
    "progress",
    "read_measurement",
    "write_measurement",
]
