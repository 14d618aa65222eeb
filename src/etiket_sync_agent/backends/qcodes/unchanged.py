"""Answers read from a QCoDeS database, reused while its files have not changed.

Discovery asks every second for new runs and live checks ask for the newest run; a lab PC
has dozens of databases that change a few times a day. While the database file and its
``-wal`` keep their stat (:func:`~.reader.settled_state`) the answers cannot have
changed, so they are given again without opening the database. A stat that cannot vouch
for that (a file written within the last seconds) is never remembered, and a remembered
answer is asked again after ``max_age_s`` all the same.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etiket_sync_agent.backends.qcodes.reader import DatabaseState, settled_state

#: a remembered answer is read again from the database after this long all the same
RECHECK_S = 30.0


@dataclass(frozen=True)
class _Entry:
    state: DatabaseState
    key: Hashable
    value: Any
    when: float


class UnchangedAnswers:
    """One remembered answer per ``slot`` (what was asked) of one database."""

    MISSING: Any = object()

    def __init__(self, path: Path, max_age_s: float = RECHECK_S) -> None:
        self.path = path
        self.max_age_s = max_age_s
        self._entries: dict[str, _Entry] = {}

    def state(self) -> DatabaseState | None:
        """The files' stat now; None when it cannot vouch for unchanged data."""
        return settled_state(self.path)

    def lookup(self, slot: str, key: Hashable, state: DatabaseState | None) -> Any:
        """The answer remembered for ``slot`` and ``key`` if the files are still in
        ``state`` (taken by the caller with :meth:`state`), else :attr:`MISSING`."""
        entry = self._entries.get(slot)
        if (
            state is None
            or entry is None
            or entry.state != state
            or entry.key != key
            or time.monotonic() - entry.when >= self.max_age_s
        ):
            return self.MISSING
        return entry.value

    def remember(self, slot: str, key: Hashable, state: DatabaseState | None, value: Any) -> None:
        """Keep ``value``, read after the files were in ``state`` (taken before reading:
        a write while reading makes the next stat differ)."""
        if state is None:
            self._entries.pop(slot, None)
        else:
            self._entries[slot] = _Entry(state, key, value, time.monotonic())
