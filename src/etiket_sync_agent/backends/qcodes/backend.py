"""The qcodes backend: one dataset per run, live while the newest run is being measured."""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from etiket_sync_agent.backends.qcodes.metadata import dataset_fields
from etiket_sync_agent.backends.qcodes.reader import (
    list_runs,
    newest_run,
    read_run_metadata,
    runs_since,
    validate_database,
    write_run_netcdf,
)
from etiket_sync_agent.errors import ConfigError, DatasetError
from etiket_sync_agent.plugins.base import DatabaseBackend
from etiket_sync_agent.plugins.context import HDF5_NETCDF, SyncContext
from etiket_sync_agent.plugins.items import NewItem, ScopeRequirement, SyncItem

GENERATOR = "etiket_sync_agent.qcodes"
DATA_FILE = "measured_data.hdf5"


@dataclass
class QCoDeSConfig:
    database_path: Path = field(metadata={"help": "the QCoDeS .db file"})
    set_up: str = field(default="", metadata={"help": "name of the measurement set-up"})
    static_attributes: dict = field(
        default_factory=dict, metadata={"help": "JSON object of attributes for every run"}
    )
    live_timeout_s: float = field(
        default=600.0,
        metadata={"help": "an unfinished run without new rows for this long is finalized"},
    )
    in_memory_limit_mb: float = field(
        default=256.0,
        metadata={
            "help": "runs with more values than this (MiB) are not arranged in memory"
            " (peak ~3x): numeric ones are streamed as flat columns"
        },
    )

    def validate(self) -> None:
        if not self.in_memory_limit_mb > 0:
            raise ConfigError(f"in_memory_limit_mb must be positive, got {self.in_memory_limit_mb}")
        if self.live_timeout_s < 0:
            raise ConfigError(f"live_timeout_s must not be negative, got {self.live_timeout_s}")
        path = Path(self.database_path).expanduser().resolve()
        if path.suffix.lower() != ".db":
            raise ConfigError(f"database_path {path} is not a .db file")
        if not path.is_file():
            raise ConfigError(f"database_path {path} does not exist")
        try:
            validate_database(path)
        except DatasetError as exc:
            raise ConfigError(exc.message, hint=exc.hint) from None
        self.database_path = path


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

    @property
    def path(self) -> Path:
        return Path(self.config.database_path)

    def source_identity(self) -> str:
        return f"qcodes:{self.path.resolve()}"

    def get_new_datasets(self, last_item: SyncItem | None) -> list[NewItem]:
        last_run_id = int(last_item.priority) if last_item else 0
        return [
            NewItem(r.guid, priority=float(r.run_id)) for r in runs_since(self.path, last_run_id)
        ]

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
        out = {}
        for r in list_runs(self.path, with_row_counts=False):
            text = repr((r.name, r.is_completed, r.completed_timestamp, sorted(r.metadata.items())))
            out[r.guid] = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        return out

    def check_live_dataset(self, item: SyncItem) -> bool:
        newest = newest_run(self.path, with_row_counts=True)
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
            ctx.create_or_update_dataset(
                name=fields.name,
                alt_uid=fields.alt_uid,
                description=fields.description,
                collected=fields.collected,
                tags=fields.tags,
                attributes=fields.attributes,
                ranking=fields.ranking,
            )
        with ctx.scratch_dir() as tmp:
            with ctx.task("write NetCDF"):
                out = write_run_netcdf(
                    conn,
                    item.identifier,
                    tmp / DATA_FILE,
                    memory_limit=int(self.config.in_memory_limit_mb * 2**20),
                    warn=ctx.warn,
                )
            with ctx.task("upload"):
                ctx.upload_file(
                    out, name=DATA_FILE, file_type=HDF5_NETCDF, generator=GENERATOR, live=live
                )
