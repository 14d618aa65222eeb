"""What identifies a Labber file and its logs: root attributes, tags, appended logs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import NotALabberLog
from .h5values import text, texts

_APPENDED = re.compile(r"Log_(\d+)")


@dataclass(frozen=True)
class LogEntry:
    """One measurement log of a file: the root one (``key`` "") or an appended ``Log_N``."""

    key: str
    has_data: bool
    completed: bool  # ``Data`` attribute ``Completed`` (False without data)
    creation_time: float | None

    @property
    def label(self) -> str:
        return self.key or "Log_1"


@dataclass(frozen=True)
class LabberHeader:
    """The file-level facts of a Labber log (cheap to read: attributes only)."""

    version: str
    log_name: str
    creation_time: float
    comment: str = ""
    star: bool | None = None
    tags: list[str] = field(default_factory=list)
    user: str = ""
    project: str = ""
    logs: tuple[LogEntry, ...] = ()

    @property
    def has_data(self) -> bool:
        return any(log.has_data for log in self.logs)

    @property
    def completed(self) -> bool:
        """Every log with data is marked completed (the running one is the last)."""
        return all(log.completed for log in self.logs if log.has_data)


def appended_log_keys(f: Any) -> list[str]:
    """``Log_2``, ``Log_3``, ... in numeric order."""
    keys = [(int(m.group(1)), k) for k in f if (m := _APPENDED.fullmatch(k))]
    return [k for _, k in sorted(keys)]


def _log_entry(group: Any, key: str) -> LogEntry:
    data = group.get("Data")
    has_data = data is not None and "Data" in data
    completed = bool(np.asarray(data.attrs.get("Completed", False)).any()) if has_data else False
    ctime = group.attrs.get("creation_time")
    return LogEntry(key, has_data, completed, float(ctime) if ctime is not None else None)


def read_header(f: Any, fallback_name: str) -> LabberHeader:
    """The header of the open file ``f``. Raises :class:`NotALabberLog` for HDF5 files
    Labber did not write (no ``version``/``creation_time`` at the root)."""
    attrs = f.attrs
    if "version" not in attrs or "creation_time" not in attrs:
        raise NotALabberLog(
            "not written by Labber: the file has no 'version' and 'creation_time' attributes "
            "at its root (a look-alike or another HDF5 file)"
        )
    try:
        creation_time = float(np.asarray(attrs["creation_time"]).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        raise NotALabberLog(
            f"not a Labber log: its creation_time {attrs['creation_time']!r} is not a time"
        ) from None
    tags_group = f.get("Tags")
    tag_attrs = tags_group.attrs if tags_group is not None else {}
    star = attrs.get("star")
    logs = [_log_entry(f, "")] + [_log_entry(f[k], k) for k in appended_log_keys(f)]
    return LabberHeader(
        version=text(attrs["version"]),
        log_name=text(attrs.get("log_name", "")) or fallback_name,
        creation_time=creation_time,
        comment=text(attrs.get("comment", "")),
        star=None if star is None else bool(np.asarray(star).any()),
        tags=texts(tag_attrs.get("Tags")),
        user=", ".join(texts(tag_attrs.get("User"))),
        project=", ".join(texts(tag_attrs.get("Project"))),
        logs=tuple(logs),
    )
