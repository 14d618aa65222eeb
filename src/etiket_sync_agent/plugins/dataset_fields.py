"""The store metadata a backend gives a dataset, as one value.

A backend's metadata module maps its format to :class:`DatasetFields`; the sync method
hands it to :meth:`SyncContext.save_dataset`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class DatasetFields:
    """``name`` (required), ``alt_uid`` (what identifies the dataset across re-adds and
    moves: a GUID, a TUID, ...), ``description``, ``collected`` (timezone-aware),
    ``tags``, flat ``attributes``, ``ranking`` (1 starred, -1 hidden), ``creator``."""

    name: str
    alt_uid: str | None = None
    description: str = ""
    collected: datetime | None = None
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    ranking: int = 0
    creator: str | None = None
