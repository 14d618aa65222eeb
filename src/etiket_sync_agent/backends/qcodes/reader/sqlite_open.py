"""Open a QCoDeS SQLite file strictly read-only, without side effects on the user's files.

``sqlite3.connect("file:...?mode=ro")`` alone is not enough: for a database in WAL mode
SQLite creates ``-wal``/``-shm`` files next to it when nobody has it open. So we look at
the file first and pick one of three ways in:

* **rollback-journal database** (header bytes 18/19 == 1): ``mode=ro``. A reader takes a
  SHARED lock only while a statement runs; callers keep statements short (the result
  table is read in row batches), so a writer is never held up for long.
* **WAL database, no ``-wal`` file** (nobody has it open; the last writer checkpointed and
  removed its side files): ``mode=ro&immutable=1``. SQLite then takes no locks and
  creates no files. The bytes cannot change under us unless a writer opens the file
  meanwhile, which :meth:`ReadOnlyConnection.snapshot_still_valid` detects (a ``-wal``
  appears or the size/mtime changes); ``connections.read_with_retry`` then reads again.
* **WAL database with ``-wal`` and ``-shm``** (a writer has it open, or crashed): ``mode=ro``.
  The side files already exist, nothing is created. A reader never writes the ``-wal``
  nor the database; it only takes read locks and updates its read mark in the ``-shm``
  (the shared-memory index that all connections cooperate through: that is how SQLite
  lets readers and a writer work concurrently, and its content is rebuilt from the
  ``-wal`` whenever needed). A read-only connection can neither checkpoint nor delete the
  ``-wal`` on close. One visible effect: if the writer closes while we read, it cannot
  take the exclusive lock it needs to remove its ``-wal``/``-shm``; they stay until the
  next writer opens the database, which is harmless.
* **WAL database with a ``-wal`` but no ``-shm``** (left behind by a crash or a copy):
  opening it read-only would create the ``-shm`` and reading without it would ignore
  committed data in the ``-wal``. We read a copy of the database and its ``-wal`` in a
  private temporary folder, shared by every read while the two files are unchanged
  (:mod:`.snapshots`).

We never run anything that writes (``PRAGMA query_only`` is set as a second guard), never
change the journal mode and never upgrade the schema.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

from . import snapshots
from .errors import QCoDeSDatabaseBusy, QCoDeSFormatError
from .file_state import database_state

SQLITE_MAGIC = b"SQLite format 3\x00"
DEFAULT_BUSY_TIMEOUT_S = 5.0

OpenMode = Literal["ro", "immutable", "copy"]
T = TypeVar("T")

# SQLite primary result codes that mean "someone else holds a lock, try again later".
_BUSY_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
# SQLITE_READONLY_RECOVERY / _CANTLOCK / _ROLLBACK / _CANTINIT: a read-only connection
# must wait for a writer to recover the WAL, roll back a hot journal or set up the -shm.
_RETRYABLE_EXTENDED = {264, 520, 776, 1288}
# SQLITE_CORRUPT, SQLITE_NOTADB
_FORMAT_CODES = {11, 26}


class ReadOnlyConnection(sqlite3.Connection):
    """A connection made by :func:`open_readonly`; remembers how the file was opened."""

    source_path: Path
    open_mode: OpenMode
    wal: bool  # the database is in WAL journal mode
    _snapshot: snapshots.Snapshot | None  # the private copy read in ``copy`` mode
    _stat: tuple[int, int] | None
    _identity: tuple[int, int]
    #: GUID -> run id, filled by the run lookup (QCoDeS has no index on runs.guid)
    guid_run_ids: dict[str, int]
    #: ((user_version, schema_version), SchemaInfo) of the last read_schema
    schema_cache: tuple[tuple[int, int], Any] | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guid_run_ids = {}
        self.schema_cache = None
        self.closed = False  # readable from any thread without touching SQLite

    def snapshot_still_valid(self) -> bool:
        """True unless this is an ``immutable`` open and the file may have changed since.

        Call it after a read: when False, what was read may be torn and must be read again
        (a writer opened the database meanwhile; a fresh :func:`open_readonly` will then
        use ``mode=ro``).
        """
        if self.open_mode != "immutable":
            return True
        if _side_file(self.source_path, "-wal").exists():
            return False
        try:
            return _stat_key(self.source_path) == self._stat
        except OSError:
            return False

    def copy_still_current(self) -> bool:
        """For a ``copy`` open: True while the user's database and ``-wal`` are unchanged
        since the copy and no ``-shm`` appeared (no writer opened it)."""
        snap = getattr(self, "_snapshot", None)
        if snap is None or _side_file(self.source_path, "-shm").exists():
            return False
        try:
            return database_state(self.source_path) == snap.state
        except OSError:
            return False

    def is_same_file(self) -> bool:
        """True while ``source_path`` still names the file this connection opened (not
        replaced by another file since)."""
        try:
            st = self.source_path.stat()
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self._identity

    def __exit__(self, *exc_info: object) -> bool:  # type: ignore[override]
        # sqlite3.Connection's own __exit__ only ends a transaction; ours closes.
        self.close()
        return False

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.closed = True
            snap, self._snapshot = getattr(self, "_snapshot", None), None
            if snap is not None:
                snapshots.release(snap)


def _side_file(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _stat_key(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def read_header(path: Path) -> bytes:
    """Return the first 100 bytes of ``path`` after checking it is an SQLite 3 file.

    Raises:
        QCoDeSFormatError: missing, not a regular file, empty or not SQLite.
    """
    if not path.exists():
        raise QCoDeSFormatError(f"not a QCoDeS database: {path} does not exist")
    if not path.is_file():
        raise QCoDeSFormatError(f"not a QCoDeS database: {path} is not a file")
    with path.open("rb") as fh:
        header = fh.read(100)
    if len(header) == 0:
        raise QCoDeSFormatError(f"not a QCoDeS database: {path} is empty")
    if not header.startswith(SQLITE_MAGIC):
        raise QCoDeSFormatError(
            f"not an SQLite file: {path} (no 'SQLite format 3' header)",
            hint="a QCoDeS source must point at the .db file QCoDeS writes",
        )
    return header


def is_wal_header(header: bytes) -> bool:
    """True when the database header says the file is in WAL journal mode."""
    return len(header) >= 20 and header[18] == 2 and header[19] == 2


def open_readonly(
    path: str | Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S
) -> ReadOnlyConnection:
    """Open ``path`` read-only without creating, changing or locking-out anything.

    Contract: the database file and any ``-wal``/``-journal`` next to it are never written,
    no side file is created next to it (see the module docstring for the WAL case), the
    schema and journal mode are left alone. The connection is in autocommit mode, so a
    read lock lives only as long as one statement (or an explicit ``BEGIN``...``COMMIT``
    the caller keeps short). ``busy_timeout`` is how long a statement waits for a writer's
    lock before :class:`QCoDeSDatabaseBusy` is raised (through :func:`translate_errors`).

    Raises:
        QCoDeSFormatError: not an SQLite file.
        QCoDeSDatabaseBusy: the file is locked.
    """
    source = Path(path).expanduser().resolve()
    header, mode, snap = _choose_mode(source)
    target = source if snap is None else snap.path

    query = "mode=ro&immutable=1" if mode == "immutable" else "mode=ro"
    stat = _stat_key(source) if mode == "immutable" else None
    try:
        with translate_errors(source):
            conn = sqlite3.connect(
                f"{target.as_uri()}?{query}",
                uri=True,
                timeout=busy_timeout,
                isolation_level=None,
                factory=ReadOnlyConnection,
                check_same_thread=False,
            )
            assert isinstance(conn, ReadOnlyConnection)
            conn.source_path = source
            conn.open_mode = mode
            conn.wal = is_wal_header(header)
            conn._snapshot = snap
            conn._stat = stat
            st = source.stat()
            conn._identity = (st.st_dev, st.st_ino)
            conn.execute("PRAGMA query_only = 1")
            # Touch the schema now so that "file is not a database" surfaces here.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        if snap is not None:
            snapshots.release(snap)
        raise
    return conn


def _choose_mode(
    source: Path, attempts: int = 5
) -> tuple[bytes, OpenMode, snapshots.Snapshot | None]:
    """(header, open mode, the private copy to read in ``copy`` mode) for ``source``.

    The side files can come and go while we look (a writer opening or closing the
    database): a ``-wal`` that vanishes while it is copied makes us look again.
    """
    for attempt in range(attempts):
        header = read_header(source)
        if not is_wal_header(header):
            mode: OpenMode = "ro"
        elif not _side_file(source, "-wal").exists():
            mode = "immutable"
        elif _side_file(source, "-shm").exists():
            mode = "ro"
        else:
            try:
                return header, "copy", snapshots.acquire(source)
            except FileNotFoundError:
                if attempt == attempts - 1 or not source.exists():
                    raise
                continue
        snapshots.forget(source)  # out of the no--shm state: a kept copy is stale
        return header, mode, None
    raise AssertionError("unreachable")


@contextlib.contextmanager
def translate_errors(path: Path, what: str = "") -> Iterator[None]:
    """Turn sqlite3 errors into the reader's error classes.

    "database is locked"/busy and a hot journal become :class:`QCoDeSDatabaseBusy`
    (retryable); a corrupt or non-database file becomes :class:`QCoDeSFormatError`.
    Other sqlite3 errors become :class:`QCoDeSFormatError` mentioning ``what``.
    """
    try:
        yield
    except sqlite3.Error as exc:
        code = getattr(exc, "sqlite_errorcode", None)
        primary = code & 0xFF if isinstance(code, int) else None
        message = str(exc)
        context = f" while reading {what}" if what else ""
        if (
            primary in _BUSY_CODES
            or code in _RETRYABLE_EXTENDED
            or "locked" in message
            or "busy" in message
        ):
            raise QCoDeSDatabaseBusy(f"database is locked: {path}{context} ({message})") from exc
        if primary in _FORMAT_CODES or "not a database" in message:
            raise QCoDeSFormatError(
                f"not an SQLite database (or corrupt): {path} ({message})"
            ) from exc
        raise QCoDeSFormatError(f"cannot read {path}{context}: {message}") from exc


@contextlib.contextmanager
def read_transaction(conn: ReadOnlyConnection) -> Iterator[None]:
    """One short read transaction: the statements inside see one consistent snapshot.

    Keep it short: in a rollback-journal database a writer cannot commit while it is open.
    """
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")
