"""The dataset store: where synchronized datasets and their files end up.

``interface.DatasetStore`` states the contract; ``local.LocalStore`` is the embedded
default (SQLite catalog + content-addressed blobs); the same catalog runs on PostgreSQL.
Use :func:`open_store` to get the store configured for a home.
"""

from etiket_sync_agent.store.factory import open_store
from etiket_sync_agent.store.interface import (
    DatasetInfo,
    DatasetSpec,
    DatasetStore,
    FileInfo,
    FileStatus,
    FileVersionInfo,
    ScopeInfo,
)

__all__ = [
    "DatasetInfo",
    "DatasetSpec",
    "DatasetStore",
    "FileInfo",
    "FileStatus",
    "FileVersionInfo",
    "ScopeInfo",
    "open_store",
]
