"""The qcodes backend: one dataset per run, live while the newest run is being measured."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Hashable
from pathlib import Path

from etiket_sync_agent.backends.qcodes.config import QCoDeSConfig
from etiket_sync_agent.backends.qcodes.metadata import dataset_fields
from etiket_sync_agent.backends.qcodes.reader import (
    RunInfo,
    list_runs,
    newest_run,
    read_run_metadata,
    runs_after,
    write_run_netcdf,
)
from etiket_sync_agent.backends.qcodes.unchanged import UnchangedAnswers
from etiket_sync_agent.plugins.base import DatabaseBackend
from etiket_sync_agent.plugins.context import HDF5_NETCDF, SyncContext
from etiket_sync_agent.plugins.items import NewItem, ScopeRequirement, SyncItem

GENERATOR = "etiket_sync_agent.qcodes"
DATA_FILE = "measured_data.hdf5"
#: an item's priority is ``generation * GENERATION_SPAN + run id``: the runs of a database
#: that replaced another at the same path (run ids restarting) form a new generation that
#: sorts after every run of the file it replaced
GENERATION_SPAN = 2**32

logger = logging.getLogger(__name__)

__all__ = ["QCoDeSBackend", "QCoDeSConfig", "run_priority", "split_priority"]


def run_priority(generation: int, run_id: int) -> float:
    """The item priority of run ``run_id`` of database file ``generation``."""
    return float(generation * GENERATION_SPAN + run_id)


def split_priority(priority: float) -> tuple[int, int]:
    """(generation, run id) of an item priority (older items: generation 0)."""
    generation, run_id = divmod(int(priority), GENERATION_SPAN)
    return generation, run_id


class QCoDeSBackend(DatabaseBackend):
    sync_agent_name = "qcodes"
    config_class = QCoDeSConfig
    scope_requirement = ScopeRequirement.REQUIRED
    supports_scope_mapping = False
    live_sync_implemented = True

    config: QCoDeSConfig

    def __init__(self, config: QCoDeSConfig, source_name: str = "") -> None:
        super().__init__(config, source_name)
        #: guid -> (row count, when it last changed): detects abandoned runs
        self._progress: dict[str, tuple[int | None, float]] = {}
        #: answers reused while the database files are unchanged (idle polls cost a stat)
        self._answers = UnchangedAnswers(self.path)
        #: items found before labels existed get theirs at the first discovery
        self._labelled = False
        self._replaced_seen: tuple[str, float] | None = None  # last_item it was logged for

    @property
    def path(self) -> Path:
        return Path(self.config.database_path)

    def source_identity(self) -> str:
        return f"qcodes:{self.path.resolve()}"

    def change_token(self) -> Hashable | None:
        """The stat of the database and its ``-wal``: while it stays equal, discovery and
        fingerprints would give the same answers (None: cannot tell, ask the database)."""
        return self._answers.state()

    def get_new_datasets(self, last_item: SyncItem | None) -> list[NewItem]:
        """The runs after ``last_item`` (every run of a database that replaced the one
        ``last_item`` came from). Without opening the database while its files are
        unchanged since the last call with the same ``last_item``."""
        anchor = None if last_item is None else (last_item.identifier, last_item.priority)
        state = self._answers.state()
        if self._answers.lookup("new", anchor, state) is not UnchangedAnswers.MISSING:
            return []
        found = self._discover(last_item)
        self._answers.remember("new", anchor, state, True)
        return found

    def _discover(self, last_item: SyncItem | None) -> list[NewItem]:
        if last_item is None:
            self._labelled = True
            return _new_items(list_runs(self.path, with_row_counts=False), 0)
        generation, run_id = split_priority(last_item.priority)
        same, runs = runs_after(self.path, run_id, last_item.identifier)
        if not same:
            if self._replaced_seen != (last_item.identifier, last_item.priority):
                self._replaced_seen = (last_item.identifier, last_item.priority)
                logger.warning(
                    "source %s: %s no longer holds run %d (GUID %s): the database was"
                    " replaced or runs were removed; its %d run(s) are discovered again"
                    " (known GUIDs are kept as they are)",
                    self.source_name,
                    self.path,
                    run_id,
                    last_item.identifier,
                    len(runs),
                )
            self._labelled = True
            return _new_items(runs, generation + 1)
        if not self._labelled and getattr(last_item, "label", None) is None:
            # items discovered before run ids/names were kept: list them all once
            runs = list_runs(self.path, with_row_counts=False)
        self._labelled = True
        return _new_items(runs, generation)

    def _last_write(self) -> float:
        """When the database (or its write-ahead log) was last modified."""
        times = []
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                times.append(Path(f"{self.path}{suffix}").stat().st_mtime)
        return max(times, default=0.0)

    def dataset_fingerprints(self) -> dict[str, str]:
        """Digest of each run's editable metadata (name, completion, tags such as
        ``inspectr_tag``): a star added later reaches the store."""
        state = self._answers.state()
        cached = self._answers.lookup("fingerprints", None, state)
        if cached is not UnchangedAnswers.MISSING:
            return dict(cached)
        out = {}
        for r in list_runs(self.path, with_row_counts=False):
            text = repr((r.name, r.is_completed, r.completed_timestamp, sorted(r.metadata.items())))
            out[r.guid] = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        self._answers.remember("fingerprints", None, state, dict(out))
        return out

    def _newest(self) -> RunInfo | None:
        """The newest run with its row count, reused while the files are unchanged."""
        state = self._answers.state()
        newest = self._answers.lookup("newest", None, state)
        if newest is UnchangedAnswers.MISSING:
            newest = newest_run(self.path, with_row_counts=True)
            self._answers.remember("newest", None, state, newest)
        return newest

    def check_live_dataset(self, item: SyncItem) -> bool:
        newest = self._newest()
        if newest is None:
            return False
        if newest.guid != item.identifier or newest.is_completed:
            self._progress.pop(item.identifier, None)
            return False
        if time.time() - self._last_write() > self.config.live_timeout_s:
            return False  # nothing has written the database for a long time: abandoned
        now = time.monotonic()
        rows, since = self._progress.get(item.identifier, (None, now))
        if rows != newest.result_rows or item.identifier not in self._progress:
            self._progress[item.identifier] = (newest.result_rows, now)
            return True
        # no new rows for a while: the writer is gone, finalize with what is there
        return now - since < self.config.live_timeout_s

    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        self._sync(item, ctx, live=False)

    def sync_dataset_live(self, item: SyncItem, ctx: SyncContext) -> None:
        self._sync(item, ctx, live=True)

    def _sync(self, item: SyncItem, ctx: SyncContext, live: bool) -> None:
        # path-based calls: the reader keeps an idle read-only connection for the next
        # call when that is safe, so the schema is not parsed again for every run
        conn = self.path
        with ctx.task("read run metadata"):
            meta = read_run_metadata(conn, item.identifier)
            fields = dataset_fields(
                meta, self.path, self.config.set_up, dict(self.config.static_attributes or {})
            )
        with ctx.task("create dataset"):
            ctx.save_dataset(fields)
        with ctx.scratch_dir() as tmp:
            with ctx.task("write NetCDF"):
                out = write_run_netcdf(
                    conn,
                    item.identifier,
                    tmp / DATA_FILE,
                    memory_limit=int(self.config.in_memory_limit_mb * 2**20),
                    # data warnings go on the item's record, naming source, database, run
                    warn=lambda message: ctx.warn(f"source {self.source_name}: {message}"),
                )
            with ctx.task("upload"):
                ctx.upload_file(
                    out, name=DATA_FILE, file_type=HDF5_NETCDF, generator=GENERATOR, live=live
                )


def _new_items(runs: list[RunInfo], generation: int) -> list[NewItem]:
    """One item per run: findable by its run id (label) and the first line of its name."""
    return [
        NewItem(
            r.guid,
            priority=run_priority(generation, r.run_id),
            label=str(r.run_id),
            name=(r.name.splitlines() or [""])[0].strip() or None,
        )
        for r in runs
    ]
