"""Backend base classes: the contract every sync backend (built-in or plugin) implements.

A backend is instantiated once per source with its validated config object
(``self.config``). The engine calls, from one worker thread at a time per source:

* discovery — ``DatabaseBackend.get_new_datasets`` or, for file backends, the engine's own
  folder scan under ``FileBackend.root_path()`` at ``level``;
* ``check_live_dataset(item)`` for the newest item when ``live_sync_implemented``;
* ``sync_dataset_live(item, ctx)`` repeatedly while the dataset is live (each call
  uploads what is there now with ``live=True`` and returns);
* ``sync_dataset_normal(item, ctx)`` once the dataset is complete (and again when a file
  dataset changes). It must be idempotent: the store deduplicates unchanged content.

Raise :class:`etiket_sync_agent.errors.DatasetError` (``retryable=False`` for input that
will never work) with a clear message; any other exception is recorded too, and retried.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from etiket_sync_agent.plugins.items import NewItem, ScopeRequirement, SyncItem

if TYPE_CHECKING:
    from etiket_sync_agent.plugins.context import SyncContext

DATASET_INFO_FILE = "_QH_dataset_info.yaml"


def default_accept(name: str) -> bool:
    """File-backend candidates whose names start with ``.`` or ``_`` are not datasets."""
    return not name.startswith((".", "_"))


class SyncBackend(ABC):
    """Common part of both backend kinds."""

    #: the name users pass to ``etiket-sync add-source`` (equals the entry-point name)
    sync_agent_name: ClassVar[str]
    #: a dataclass describing the source config (see ``plugins/config.py``)
    config_class: ClassVar[type]
    scope_requirement: ClassVar[ScopeRequirement] = ScopeRequirement.REQUIRED
    supports_scope_mapping: ClassVar[bool] = False
    live_sync_implemented: ClassVar[bool] = False
    #: "database" or "file"; set by the two base classes below
    kind: ClassVar[str]

    def __init__(self, config: Any, source_name: str = "") -> None:
        self.config = config
        self.source_name = source_name

    def check_live_dataset(self, item: SyncItem) -> bool:
        """Whether ``item`` is still being measured. Only asked when live sync is on."""
        return False

    @abstractmethod
    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        """Synchronize the complete dataset of ``item`` into the store through ``ctx``."""

    def sync_dataset_live(self, item: SyncItem, ctx: SyncContext) -> None:
        """Upload the current state of a live dataset (files with ``live=True``)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement live sync")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (connections) held for the source."""

    def creates_scopes_for_unmapped(self) -> bool:
        """Optional hook of scope-``DISABLED`` backends: whether an item whose scope
        identifier has no mapping goes to a store scope named after the identifier,
        created on first use (True, the default). False: such an item is not
        synchronized but gets the status ``waiting`` until ``etiket-sync scopes map``
        maps its identifier (the backend is not called for it meanwhile)."""
        return True

    def source_identity(self) -> str | None:
        """A string identifying what this source reads (e.g. a resolved database path).

        Two sources with the same identity cannot be added (no double syncing).
        """
        return None


class DatabaseBackend(SyncBackend):
    """A backend whose datasets are rows of a database (QCoDeS, core-tools, ...)."""

    kind: ClassVar[str] = "database"

    @abstractmethod
    def get_new_datasets(self, last_item: SyncItem | None) -> list[NewItem]:
        """Datasets created after ``last_item`` (the highest-priority known item; None at
        first). Returning already known identifiers is harmless: they are ignored."""

    def dataset_fingerprints(self) -> dict[str, str] | None:
        """Optional: identifier -> digest of each dataset's metadata, asked at start and on
        the rescan timer. A dataset whose digest changed is synchronized again (e.g. tags
        or stars edited after the run). None (the default) = never."""
        return None

    def change_token(self) -> Hashable | None:
        """Optional: a cheap value (e.g. size and mtime of the database file and its
        write-ahead log) that changes whenever ``get_new_datasets`` or
        ``dataset_fingerprints`` may answer differently. While it stays the same the
        engine does not ask them at the regular polls. None (the default) = always ask."""
        return None


class FileBackend(SyncBackend):
    """A backend whose datasets are folders (or single files) under a root folder.

    ``level``: -1 = every folder holding ``_QH_dataset_info.yaml``; 1 = each child of the
    root; N = entries at depth N; 0 (only with ``is_single_file``) = every regular file at
    any depth, in folders whose names do not start with ``.`` or ``_`` (symlinks are not
    followed; ``accepts`` picks the datasets). ``is_single_file``: datasets are files, not
    folders.
    """

    kind: ClassVar[str] = "file"
    level: ClassVar[int] = -1
    is_single_file: ClassVar[bool] = False

    @abstractmethod
    def root_path(self) -> Path:
        """The folder the engine scans and watches."""

    def source_identity(self) -> str:
        """``<backend>:<resolved root>``: a source of the same backend whose folder equals,
        contains or lies inside this one cannot be added."""
        return f"{self.sync_agent_name}:{Path(self.root_path()).resolve()}"

    def is_network_folder(self) -> bool:
        """True to poll the folder instead of relying on file-system events."""
        return bool(getattr(self.config, "is_server_folder", False))

    def accepts(self, path: Path) -> bool:
        """Whether a candidate at the right level is a dataset (default: names not
        starting with ``.`` or ``_``; the engine applies that default without calling)."""
        return default_accept(path.name)
