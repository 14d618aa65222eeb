"""``etiket-sync run --once --dry-run``: what a real run would create or update in the store.

The real engine runs once, unchanged, against

* a private copy of the state database (SQLite's backup API, into a temp folder that is
  deleted afterwards), so discovery, the manifest and the items' states move as in a
  real run while the home's database is only read;
* a :class:`~etiket_sync_agent.store.recording.RecordingStore`, which reads the real
  catalog (a private copy of an SQLite catalog; read-only transactions on PostgreSQL)
  and keeps every write in memory.

Nothing under the home is written, created, migrated or locked: the copies are made
with read-only connections (``immutable`` when no other process has the file open, so
not even a ``-wal``/``-shm`` file appears; a running agent's ``-shm`` index sees our
read marks, as it does any reader's), the agent lock taken is the temp folder's, and
spool, scratch and log files go to the temp folder. So it runs beside a running agent.
A paused source named with ``--source`` is included: the "what if I enable it" view.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etiket_sync_agent.engine.events import (
    Event,
    ItemFinished,
    Reporter,
    SourceFailed,
    null_reporter,
)
from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.engine.settings import EngineSettings
from etiket_sync_agent.home import Home

if TYPE_CHECKING:
    from etiket_sync_agent.plugins.registry import Registry

FILE_ACTIONS = ("new", "new_version", "replaced", "finalized", "unchanged")
DATASET_ACTIONS = ("new", "updated", "unchanged")


def snapshot_sqlite(src: Path, dst: Path, attempts: int = 3) -> bool:
    """Copy the SQLite database ``src`` into ``dst`` consistently, writing nothing next
    to ``src``. False when ``src`` does not exist."""
    wal = src.with_name(src.name + "-wal")
    for _ in range(attempts):
        try:
            before = src.stat()
        except FileNotFoundError:
            return False
        # no -wal: nobody has it open and the file holds everything; immutable reads it
        # without creating -wal/-shm (a ro connection would leave both behind)
        immutable = not wal.exists()
        uri = src.resolve().as_uri() + "?mode=ro" + ("&immutable=1" if immutable else "")
        dst.unlink(missing_ok=True)
        with (
            closing(sqlite3.connect(uri, uri=True, timeout=30)) as s,
            closing(sqlite3.connect(dst)) as d,
        ):
            s.backup(d)
        after = src.stat()
        if not immutable or (
            not wal.exists()
            and (before.st_mtime_ns, before.st_size) == (after.st_mtime_ns, after.st_size)
        ):
            return True
    # an agent kept starting meanwhile: its -wal exists now, the ro path is safe
    return snapshot_sqlite(src, dst, attempts=1) if wal.exists() else False


def _catalog_copy(home: Home, work: Path) -> str | None:
    """The URL the recording store reads: a copy of an SQLite catalog (None when there
    is no store yet), or the configured server's URL."""
    from sqlalchemy.engine import make_url

    from etiket_sync_agent.db.engine import sqlite_url
    from etiket_sync_agent.store.config import effective

    config, _ = effective(home)
    config.check()
    url = config.catalog_url
    if url and not url.startswith("sqlite"):
        return url
    path = Path(make_url(url).database or "") if url else home.store_dir / "catalog.db"
    copy = work / "catalog.db"
    return sqlite_url(copy) if path.name and snapshot_sqlite(path, copy) else None


class _Problems:
    """Passes events on and keeps the items that failed or wait, and failing sources."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.rows: list[dict[str, Any]] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, ItemFinished) and event.status in ("failed", "waiting"):
            self.rows.append(
                {"source": event.source, "item": event.identifier, "status": event.status,
                 "error": event.error}
            )  # fmt: skip
        elif isinstance(event, SourceFailed):
            self.rows.append(
                {"source": event.source, "item": None, "status": "source_error",
                 "error": event.error}
            )  # fmt: skip
        self.reporter(event)


def dry_run(
    home: Home,
    only_sources: set[str] | None = None,
    *,
    reporter: Reporter = null_reporter,
    settings: EngineSettings | None = None,
    registry: Registry | None = None,
) -> dict[str, Any]:
    """Run the engine once against copies (see the module doc); the report: ``home``,
    ``sources`` (names run), ``scopes`` (to create), ``datasets`` (see
    :meth:`RecordingStore.changes`), ``problems`` and ``totals``. NotFoundError for a
    ``only_sources`` name that does not exist."""
    from etiket_sync_agent.errors import NotFoundError
    from etiket_sync_agent.runtime import Runtime
    from etiket_sync_agent.state import repository as repo
    from etiket_sync_agent.store.recording import RecordingStore, open_reader

    work = Path(tempfile.mkdtemp(prefix="etiket-sync-dry-run-"))
    quiet = logging.NullHandler()  # the engine's log lines have no file here: not on stderr
    pkg_log = logging.getLogger("etiket_sync_agent")
    pkg_log.addHandler(quiet)
    rt = None
    try:
        has_state = snapshot_sqlite(home.state_db, work / "state.db")
        if not has_state and only_sources:
            name = sorted(only_sources)[0]
            raise NotFoundError(f"no source {name!r}", hint="`etiket-sync sources list`")
        store = RecordingStore(open_reader(_catalog_copy(home, work), work / "store"))
        rt = Runtime(Home(data_dir=work, log_dir=work / "logs"), registry=registry, store=store)
        names: list[str] = []
        problems = _Problems(reporter)
        if has_state:
            for name in sorted(only_sources or ()):
                src = repo.get_source(rt.state, name)  # NotFoundError
                if src.status == "paused":  # in the copy only: "what if I resume it"
                    repo.set_source_fields(rt.state, src.id, status="active")
            names = [
                s.name
                for s in repo.list_sources(rt.state)
                if (s.name in only_sources if only_sources else s.status != "paused")
            ]
            SyncEngine(rt, settings, problems, only_sources=only_sources).run(once=True)
        return _report(home, names, store.changes(), problems.rows)
    finally:
        pkg_log.removeHandler(quiet)
        if rt is not None:
            rt.close()
        shutil.rmtree(work, ignore_errors=True)


def _report(
    home: Home, names: list[str], changes: dict[str, Any], problems: list[dict[str, Any]]
) -> dict[str, Any]:
    datasets = changes["datasets"]
    files = [f for d in datasets for f in d["files"]]
    totals = {
        "datasets": {a: sum(d["action"] == a for d in datasets) for a in DATASET_ACTIONS},
        "files": {a: sum(f["action"] == a for f in files) for a in FILE_ACTIONS},
        "bytes": sum(f["size"] for f in files if f["action"] != "unchanged"),
        "problems": len(problems),
    }
    return {
        "dry_run": True,
        "home": str(home.data_dir),
        "sources": names,
        "scopes": changes["scopes"],
        "datasets": datasets,
        "problems": problems,
        "totals": totals,
    }
