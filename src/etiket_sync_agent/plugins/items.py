"""The item schemas exchanged between the engine and backends."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# re-exported for plugin authors (``from etiket_sync_agent.plugins import ItemStatus``);
# it belongs to the state, which does not import the plugin SDK
from etiket_sync_agent.state.status import ItemStatus

__all__ = ["ItemStatus", "NewItem", "ScopeRequirement", "SyncItem"]


class ScopeRequirement(str, enum.Enum):
    """Whether a source of this backend needs a scope.

    * ``REQUIRED``: ``add-source --scope S`` is mandatory; every dataset goes to S (or to
      the scope mapped from the item's scope identifier).
    * ``OPTIONAL``: a scope may be given; without it the store's ``default`` scope is used.
    * ``DISABLED``: the backend decides the scope of each item (``NewItem.scope_identifier``,
      mapped through the source's scope mappings); ``--scope`` is refused.
    """

    REQUIRED = "REQUIRED"
    OPTIONAL = "OPTIONAL"
    DISABLED = "DISABLED"


@dataclass(frozen=True)
class NewItem:
    """A dataset found by a database backend's ``get_new_datasets``.

    ``identifier`` is unique within the source and stable (a run id, a GUID, a path).
    Higher ``priority`` is synchronized first (use e.g. a timestamp or a run number).
    ``label`` is what people call the dataset (at most 200 characters: a QCoDeS run id
    "12", a core-tools id) and ``name`` its human name (at most 500: the run name); both
    are optional, shown by the CLI and used to look items up. A later discovery that
    gives other values updates them.
    """

    identifier: str
    priority: float = 0.0
    scope_identifier: str | None = None
    label: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class SyncItem:
    """One dataset of one source, as handed to a backend's sync methods.

    ``dataset_uuid`` is the store uuid the dataset must get (assigned once by the agent).
    ``scope`` is the resolved store scope. ``path`` is the dataset folder (or file) for
    file backends and None for database backends. ``state`` is what the backend saved
    with :meth:`SyncContext.save_state` at the item's last successful sync (empty before).
    ``label`` and ``name`` are what the backend gave in its ``NewItem`` (None if nothing).
    """

    id: int
    source_name: str
    identifier: str
    dataset_uuid: str
    scope: str
    scope_identifier: str | None = None
    priority: float = 0.0
    attempts: int = 0
    path: Path | None = None
    state: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None
    name: str | None = None
