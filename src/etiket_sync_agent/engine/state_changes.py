"""Whether anything was committed to the state database since the last look, for a few
microseconds: SQLite's ``PRAGMA data_version`` on a read-only connection of our own.

The loop re-reads the sources only after a commit (the CLI adding, pausing, editing or
removing one; our own heartbeat and status writes count too, which is cheap), instead of
asking the database at every wake.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class StateChanges:
    """``changed()``: True when another connection committed since the previous call (or
    when it cannot tell: then the caller asks the database)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        self._lock = threading.Lock()

    def changed(self) -> bool:
        if self.path is None:
            return True
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = sqlite3.connect(
                        f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
                    )
                version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error:
                self._close()
                return True
            changed = version != self._version
            self._version = version
            return changed

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn, self._version = None, None

    def close(self) -> None:
        with self._lock:
            self._close()
