"""Store metadata of a Labber log: name, time, tags, attributes, ranking, alt_uid."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from etiket_sync_agent.plugins.dataset_fields import DatasetFields

if TYPE_CHECKING:
    from etiket_sync_agent.backends.labber.reader import LabberHeader


def alt_uid(header: LabberHeader) -> str:
    """What identifies a log wherever its file is: its name and creation time (to the
    microsecond, as Labber stores it). Moving or re-adding a file never duplicates it."""
    return f"labber:{header.log_name}@{header.creation_time:.6f}"


def dataset_fields(header: LabberHeader, set_up: str) -> DatasetFields:
    attributes: dict[str, Any] = {"labber_version": header.version}
    if header.user:
        attributes["user"] = header.user
    if header.project:
        attributes["project"] = header.project
    if set_up:
        attributes["set-up"] = set_up
    return DatasetFields(
        name=header.log_name,
        alt_uid=alt_uid(header),
        description=header.comment,
        collected=datetime.fromtimestamp(header.creation_time, timezone.utc),
        tags=list(dict.fromkeys(header.tags)),
        attributes=attributes,
        ranking=1 if header.star else 0,
        creator=header.user or None,
    )
