"""The sync record: what happened during one attempt to synchronize an item.

Backends log into it with ``with record.task("reading metadata"): ...``; a task that
raises is marked failed with its error, and the error propagates. The record is stored
on the item (the last few attempts) and shown by ``etiket-sync items``.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class TaskEntry:
    name: str
    started: str
    duration_s: float = 0.0
    ok: bool = True
    error: str | None = None
    logs: list[str] = field(default_factory=list)


@dataclass
class SyncRecord:
    """An append-only log of tasks for one attempt."""

    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    mode: str = "normal"
    tasks: list[TaskEntry] = field(default_factory=list)
    outcome: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    traceback: str | None = None
    #: the read-back check of each NetCDF file the SDK wrote and stored (file, variables,
    #: values compared, seconds); a file that failed it fails the attempt instead
    verified_files: list[dict[str, Any]] = field(default_factory=list)

    @contextmanager
    def task(self, name: str) -> Iterator[TaskEntry]:
        entry = TaskEntry(name=name, started=datetime.now(timezone.utc).isoformat())
        self.tasks.append(entry)
        t0 = time.perf_counter()
        try:
            yield entry
        except BaseException as exc:
            entry.ok = False
            entry.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            entry.duration_s = round(time.perf_counter() - t0, 6)

    def log(self, message: str) -> None:
        """Add a line to the current task (or a free-standing one)."""
        logger.debug(message)
        if not self.tasks:
            self.tasks.append(TaskEntry(name="log", started=self.started))
        self.tasks[-1].logs.append(message)

    def warn(self, message: str) -> None:
        """Something the user should know that did not stop the sync (shown by `items`)."""
        logger.warning(message)
        self.warnings.append(message)
        self.log(f"warning: {message}")

    def fail(self, exc: BaseException) -> None:
        self.outcome = "failed"
        self.error = f"{type(exc).__name__}: {exc}"
        self.traceback = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[
            -4000:
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
