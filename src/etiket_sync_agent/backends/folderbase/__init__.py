"""folderbase: every folder holding ``_QH_dataset_info.yaml`` is a dataset."""

from etiket_sync_agent.backends.folderbase.backend import FolderBaseBackend, FolderBaseConfig
from etiket_sync_agent.backends.folderbase.dataset_info import (
    DatasetInfoFile,
    generate_dataset_info,
    read_dataset_info,
)

__all__ = [
    "DatasetInfoFile",
    "FolderBaseBackend",
    "FolderBaseConfig",
    "generate_dataset_info",
    "read_dataset_info",
]
