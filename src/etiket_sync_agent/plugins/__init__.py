"""The plugin SDK: everything a backend or converter author imports.

Stable public names::

    from etiket_sync_agent.plugins import (
        DatabaseBackend, FileBackend, ScopeRequirement, NewItem, SyncItem,
        SyncContext, SyncRecord, FileConverter, DatasetError,
    )
"""

from etiket_sync_agent.errors import ConfigError, DatasetError
from etiket_sync_agent.plugins.base import (
    DATASET_INFO_FILE,
    DatabaseBackend,
    FileBackend,
    SyncBackend,
)
from etiket_sync_agent.plugins.context import HDF5_NETCDF, SyncContext, write_netcdf
from etiket_sync_agent.plugins.converter import FileConverter
from etiket_sync_agent.plugins.items import ItemStatus, NewItem, ScopeRequirement, SyncItem
from etiket_sync_agent.plugins.record import SyncRecord

__all__ = [
    "ConfigError",
    "DATASET_INFO_FILE",
    "DatabaseBackend",
    "DatasetError",
    "FileBackend",
    "FileConverter",
    "HDF5_NETCDF",
    "ItemStatus",
    "NewItem",
    "ScopeRequirement",
    "SyncBackend",
    "SyncContext",
    "SyncItem",
    "SyncRecord",
    "write_netcdf",
]
