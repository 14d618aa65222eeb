"""Private copies of WAL databases left with a ``-wal`` but no ``-shm``, shared while unchanged.

Such a database cannot be read in place without creating its ``-shm`` (see
:mod:`.sqlite_open`), so it is read from a copy of the database and its ``-wal`` in a
private folder. Nobody writes the database in that state (a writer creates the ``-shm``
first), so one copy serves every read while both files keep their stat
(:func:`.file_state.database_state`): discovery polls, live checks and the sync of every
run then cost no copying, where a copy per read moved the whole database - gigabytes for
a big one - several times a second.

A copy nobody uses is removed after :data:`KEEP_S` seconds, when the files change, and
at exit; :func:`drop_unused` removes the unused ones now. The copies' folders are named
after the process (``etiket-qcodes-<pid>-...``): those of a process that no longer runs
(killed before it could clean up) are removed when this one makes its first copy.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .file_state import DatabaseState, database_state

#: an unused copy is kept this long for the next read
KEEP_S = 60.0

_lock = threading.Lock()
_current: dict[Path, Snapshot] = {}
_retired: list[Snapshot] = []  # superseded copies still read by someone
_sweeper: threading.Timer | None = None


@dataclass(eq=False)
class Snapshot:
    """A private copy of ``source`` (and its ``-wal``) as they were in ``state``."""

    source: Path
    state: DatabaseState
    folder: Path
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)

    @property
    def path(self) -> Path:
        return self.folder / self.source.name


def _side(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


PREFIX = "etiket-qcodes-"
_swept = False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


def sweep_leftovers(folder: Path | None = None) -> list[Path]:
    """Remove the copies left in ``folder`` (default: the temp folder) by processes that
    no longer run; returns what was removed. POSIX only: elsewhere a process cannot be
    probed without side effects, and nothing is removed."""
    if os.name != "posix":
        return []
    removed = []
    for entry in Path(folder or tempfile.gettempdir()).glob(f"{PREFIX}*-*"):
        pid = entry.name[len(PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _copy(source: Path, attempts: int = 5) -> Snapshot:
    """Copy the database and its ``-wal``; copy again if they change meanwhile.

    Raises:
        FileNotFoundError: a file vanished (a writer opened and checkpointed it).
    """
    global _swept
    if not _swept:
        _swept = True
        sweep_leftovers()
    for attempt in range(attempts):
        before = database_state(source)
        folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
        try:
            target = folder / source.name
            shutil.copyfile(source, target)
            shutil.copyfile(_side(source, "-wal"), _side(target, "-wal"))
            if database_state(source) == before or attempt == attempts - 1:
                return Snapshot(source, before, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        shutil.rmtree(folder, ignore_errors=True)
    raise AssertionError("unreachable")


def acquire(source: Path) -> Snapshot:
    """A copy of ``source`` as it is now: the kept one while the files are unchanged, else
    a new one. Give it back with :func:`release`.

    Raises:
        FileNotFoundError: the ``-wal`` (or the database) vanished while it was copied.
    """
    state = database_state(source)
    with _lock:
        snap = _current.get(source)
        if snap is not None and snap.state == state and snap.path.exists():
            snap.users += 1
            snap.last_used = time.monotonic()
            return snap
    fresh = _copy(source)
    with _lock:
        old = _current.pop(source, None)
        if old is not None:
            _retire(old)
        _current[source] = fresh
        fresh.users += 1
        _start_sweeper()
    return fresh


def release(snap: Snapshot) -> None:
    """One reader is done with ``snap``; a superseded copy goes once nobody reads it."""
    with _lock:
        snap.users -= 1
        snap.last_used = time.monotonic()
        if snap in _retired and snap.users <= 0:
            _retired.remove(snap)
            shutil.rmtree(snap.folder, ignore_errors=True)


def forget(source: Path) -> None:
    """The database left the no-``-shm`` state (a writer opened it): drop its copy."""
    with _lock:
        old = _current.pop(source, None)
        if old is not None:
            _retire(old)


def _retire(snap: Snapshot) -> None:
    """Remove ``snap`` now if unused, else when its last reader releases it (lock held)."""
    if snap.users <= 0:
        shutil.rmtree(snap.folder, ignore_errors=True)
    else:
        _retired.append(snap)


def _start_sweeper() -> None:
    global _sweeper
    if _sweeper is None:
        _sweeper = threading.Timer(KEEP_S, _sweep)
        _sweeper.daemon = True
        _sweeper.start()


def _sweep() -> None:
    global _sweeper
    with _lock:
        _sweeper = None
        _drop(lambda snap: time.monotonic() - snap.last_used >= KEEP_S)
        if _current:
            _start_sweeper()


def _drop(expired) -> None:  # noqa: ANN001 - a predicate on Snapshot
    for source, snap in list(_current.items()):
        if snap.users <= 0 and expired(snap):
            del _current[source]
            shutil.rmtree(snap.folder, ignore_errors=True)


def drop_unused() -> None:
    """Remove every copy nobody reads now (at shutdown, or to free the disk space)."""
    with _lock:
        _drop(lambda snap: True)


def held() -> list[Path]:
    """The folders of the copies kept now (for tests and benchmarks)."""
    with _lock:
        return [s.folder for s in (*_current.values(), *_retired)]


atexit.register(drop_unused)
