"""Has a database changed? The identity and stat of its file and its ``-wal``.

SQLite writes a commit either into the database file (rollback journal) or into the
``-wal`` (WAL mode; a checkpoint later copies it into the database file), so a database
whose two files have the same inode, size and mtime as before holds the same data. The
ctime is left out: SQLite running as root re-owns the ``-wal`` at every open (``fchown``
to the database's owner), even read-only, which changes its ctime but not its data.
Reading that from two ``stat`` calls lets a caller skip a query (discovery polls every
second) or reuse a private copy (:mod:`.snapshots`). The ``-shm`` is left out: readers
write it too.

A stat taken while a writer is still busy can miss a second write in the same timestamp
tick (coarse file-system clocks), so :func:`settled_state` refuses to vouch for files
modified within :data:`RACY_S` seconds of the stat (as git does for its index).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

#: files modified this recently are not trusted to be unchanged by an equal stat
RACY_S = 2.0

#: (device, inode, size, mtime ns) of one file; None when it does not exist
FileKey = tuple[int, int, int, int] | None
#: the keys of the database file and of its ``-wal``
DatabaseState = tuple[FileKey, FileKey]


def file_key(path: Path) -> FileKey:
    """The stat key of ``path`` (None when missing)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def database_state(path: Path) -> DatabaseState:
    """The stat keys of the database ``path`` and of its ``-wal``.

    Raises:
        OSError: the files cannot be stat'ed (other than missing).
    """
    return file_key(path), file_key(path.with_name(path.name + "-wal"))


def settled_state(path: Path, racy_s: float | None = None) -> DatabaseState | None:
    """:func:`database_state` if an equal state later proves the data unchanged: None when
    the database is missing, cannot be stat'ed, or one of its files was modified less than
    ``racy_s`` (default :data:`RACY_S`) seconds ago (or has a time in the future)."""
    racy_s = RACY_S if racy_s is None else racy_s
    now = time.time_ns()
    try:
        state = database_state(path)
    except OSError:
        return None
    if state[0] is None:
        return None
    for key in state:
        if key is not None and now - key[3] < racy_s * 1e9:
            return None
    return state
