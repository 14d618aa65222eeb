"""How a reading call gets its connection: the caller's, a kept idle one, or a new one.

Reading functions take a path or an open :class:`ReadOnlyConnection`
(:func:`with_connection`). For a path, a fresh read of an ``immutable`` snapshot that a
writer invalidated is repeated (:func:`read_with_retry`).

Every new SQLite connection parses the whole schema on first use - one ``CREATE TABLE``
per run, ~2 ms per thousand runs - which dominates reading small runs one call at a time
and polling a large database for new runs. So a connection a path-based call has finished
with is kept for up to :data:`MAX_IDLE_S` seconds and handed to the next call on the same
file.

Only connections that hold nothing while idle are kept: ``immutable`` ones (a WAL
database nobody writes: no locks, no side files; checked for staleness before every reuse),
``copy`` ones (they read a private copy; kept while the user's files are unchanged) and
ones on rollback-journal databases (SQLite takes its locks per statement). A WAL
database that a writer has open is never kept idle, so the writer's clean-up of its
``-wal``/``-shm`` on close is never delayed. An idle connection still keeps the file
open (on Windows that blocks deleting it), which is why the idle time is short.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from . import snapshots
from .errors import QCoDeSDatabaseBusy, QCoDeSFormatError
from .sqlite_open import DEFAULT_BUSY_TIMEOUT_S, ReadOnlyConnection, open_readonly

T = TypeVar("T")

MAX_IDLE_S = 2.0

_lock = threading.Lock()
_idle: dict[tuple[Path, float], tuple[ReadOnlyConnection, float]] = {}
_sweeper: threading.Timer | None = None


def _keepable(conn: ReadOnlyConnection) -> bool:
    if not conn.is_same_file():
        return False
    if conn.open_mode == "immutable":
        return conn.snapshot_still_valid()
    if conn.open_mode == "copy":  # reads a private copy: good while the files are unchanged
        return conn.copy_still_current()
    return conn.open_mode == "ro" and not conn.wal


def borrow(path: str | Path, busy_timeout: float) -> ReadOnlyConnection:
    """An open connection to ``path``: a kept one if still good, else a new one."""
    key = (Path(path).expanduser().resolve(), busy_timeout)
    with _lock:
        entry = _idle.pop(key, None)
    if entry is not None:
        conn, since = entry
        if time.monotonic() - since < MAX_IDLE_S and _keepable(conn):
            return conn
        conn.close()
    return open_readonly(path, busy_timeout=busy_timeout)


def give_back(conn: ReadOnlyConnection, busy_timeout: float) -> None:
    """Return a borrowed connection: kept for the next call if it holds nothing idle."""
    global _sweeper
    if not _keepable(conn):
        conn.close()
        return
    key = (conn.source_path, busy_timeout)
    with _lock:
        previous = _idle.pop(key, None)
        _idle[key] = (conn, time.monotonic())
        if _sweeper is None:
            _sweeper = threading.Timer(MAX_IDLE_S, _sweep)
            _sweeper.daemon = True
            _sweeper.start()
    if previous is not None:
        previous[0].close()


def _sweep() -> None:
    global _sweeper
    now = time.monotonic()
    with _lock:
        expired = [k for k, (_, since) in _idle.items() if now - since >= MAX_IDLE_S]
        closing = [_idle.pop(k)[0] for k in expired]
        _sweeper = None
        if _idle:
            _sweeper = threading.Timer(MAX_IDLE_S, _sweep)
            _sweeper.daemon = True
            _sweeper.start()
    for conn in closing:
        conn.close()


def close_idle_connections() -> None:
    """Close every kept connection now and remove the private copies nobody reads (at
    shutdown, or before deleting/moving a file)."""
    with _lock:
        closing = [conn for conn, _ in _idle.values()]
        _idle.clear()
    for conn in closing:
        conn.close()
    snapshots.drop_unused()


def with_connection(
    conn_or_path: ReadOnlyConnection | str | Path, read: Callable[[ReadOnlyConnection], T]
) -> T:
    """Run ``read`` on the caller's open connection, or on a fresh one (see
    :func:`read_with_retry`) when given a path.

    Callers reading many runs of one database can also open one connection with
    :func:`open_readonly` (``with open_readonly(path) as conn: ...``), pass it to every
    call, and close it when done.

    Raises:
        QCoDeSDatabaseBusy: the caller's ``immutable`` connection went stale while reading
            (a writer opened the database): open a new connection and retry.
    """
    if not isinstance(conn_or_path, ReadOnlyConnection):
        return read_with_retry(conn_or_path, read)
    result = read(conn_or_path)
    if not conn_or_path.snapshot_still_valid():
        raise QCoDeSDatabaseBusy(
            f"{conn_or_path.source_path} changed while it was read; open a new connection"
        )
    return result


def read_with_retry(
    path: str | Path,
    read: Callable[[ReadOnlyConnection], T],
    *,
    attempts: int = 3,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S,
) -> T:
    """Run ``read(conn)`` on a connection to ``path`` (kept or new), return its result.

    If the connection was an ``immutable`` snapshot that a writer invalidated while we
    read, the read is repeated (the next open sees the ``-wal`` and uses ``mode=ro``).

    Raises:
        QCoDeSDatabaseBusy: the snapshot kept changing for ``attempts`` tries.
    """
    for attempt in range(attempts):
        conn = borrow(path, busy_timeout)
        try:
            try:
                result = read(conn)
            except (QCoDeSDatabaseBusy, QCoDeSFormatError):
                # a torn immutable snapshot can look locked or corrupt: read again
                if conn.snapshot_still_valid():
                    raise
            else:
                if conn.snapshot_still_valid():
                    return result
        finally:
            give_back(conn, busy_timeout)
        time.sleep(0.05 * (attempt + 1))
    raise QCoDeSDatabaseBusy(f"database kept changing while it was read: {path}")
