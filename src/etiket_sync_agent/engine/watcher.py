"""File-system event hints for file sources (watchdog), with a self-made polling fallback.

The handler only records changed paths and wakes the loop; the engine rescans the
datasets those paths belong to. Open and read-only-close events are filtered out: the
agent's own reads would otherwise wake it forever, and on big trees they overflow the
kernel queue while watchdog sets up its watches (measured with watchdog 7.1).

watchdog fails silently at the inotify watch limit, so the engine counts the folders it
scanned against the limit and does not start a watcher (it polls instead) when the tree
would not fit.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

# watchdog 7.1 warns when a new folder's inotify callback is re-registered, with the repr
# of every watched path in the message (megabytes on big trees); no event is lost.
warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning)

INOTIFY_LIMIT_FILE = Path("/proc/sys/fs/inotify/max_user_watches")
#: share of the user's inotify watches one source may take
WATCH_BUDGET = 0.5


def inotify_watch_limit() -> int | None:
    try:
        return int(INOTIFY_LIMIT_FILE.read_text().strip())
    except (OSError, ValueError):
        return None


def watch_fits(n_dirs: int) -> tuple[bool, str]:
    """Whether a recursive watch on ``n_dirs`` folders is expected to work here."""
    limit = inotify_watch_limit()
    if limit is None:
        return True, "no inotify limit on this platform"
    if n_dirs + 1 > limit * WATCH_BUDGET:
        return False, (
            f"{n_dirs} folders exceed {int(WATCH_BUDGET * 100)}% of the inotify watch limit "
            f"({limit}, /proc/sys/fs/inotify/max_user_watches): polling instead"
        )
    return True, f"{n_dirs} folders within the inotify limit {limit}"


class FolderWatcher:
    """Collects changed paths under ``root`` and calls ``wake()`` when there are some."""

    def __init__(self, root: Path, wake: Callable[[], None]) -> None:
        self.root = root
        self._wake = wake
        self._lock = threading.Lock()
        self._paths: set[str] = set()
        self._overflow = False
        self._observer = None

    def start(self) -> None:
        """Start watching; raises OSError when the platform refuses (e.g. limits)."""
        from watchdog import events as ev
        from watchdog.observers import Observer

        watcher = self

        class _Handler(ev.FileSystemEventHandler):
            def on_any_event(self, event: ev.FileSystemEvent) -> None:
                watcher._add(os.fsdecode(event.src_path))
                dest = getattr(event, "dest_path", "")
                if dest:
                    watcher._add(os.fsdecode(dest))

        wanted = [
            ev.FileCreatedEvent,
            ev.FileModifiedEvent,
            ev.FileClosedEvent,
            ev.FileMovedEvent,
            ev.FileDeletedEvent,
            ev.DirCreatedEvent,
            ev.DirMovedEvent,
            ev.DirDeletedEvent,
            ev.DirModifiedEvent,
        ]
        observer = Observer()
        observer.daemon = True
        observer.schedule(_Handler(), os.fspath(self.root), recursive=True, event_filter=wanted)
        observer.start()
        self._observer = observer

    def _add(self, path: str) -> None:
        with self._lock:
            if len(self._paths) < 100_000:
                self._paths.add(path)
            else:  # a storm of events: a full rescan is cheaper than remembering them
                self._overflow = True
        self._wake()

    def drain(self) -> tuple[set[Path], bool]:
        """The changed paths since the last call, and whether a full rescan is needed."""
        with self._lock:
            paths, overflow = self._paths, self._overflow
            self._paths, self._overflow = set(), False
        return {Path(p) for p in paths}, overflow

    @property
    def pending(self) -> bool:
        """Whether changed paths wait to be drained (read without taking the lock)."""
        return bool(self._paths) or self._overflow

    @property
    def alive(self) -> bool:
        return self._observer is not None and self._observer.is_alive()

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
