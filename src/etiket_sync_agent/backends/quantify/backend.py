"""The quantify backend: one dataset per Quantify measurement folder ``<day>/<TUID>...``.

Discovery is the engine's level-2 folder scan under the datadir; :meth:`accepts` keeps
folders whose names start with a valid TUID. A sync reads ``dataset.hdf5`` and every
``analysis_*/dataset_processed.hdf5`` from private copies, grids them (see
``reader/grid.py``) and stores them as NetCDF4 under the same names; every other file is
stored as it is. A measurement is live while its gettables still hold NaN, its data file
changed within ``live_timeout_s`` and no newer measurement exists.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from etiket_sync_agent.backends.quantify.files import DATASET_FILE, MeasurementFile, list_files
from etiket_sync_agent.backends.quantify.metadata import dataset_fields
from etiket_sync_agent.backends.quantify.reader import (
    DatasetRead,
    FileStamp,
    FileVanishedError,
    NewerMeasurements,
    QuantifyFormatError,
    parse_folder_name,
    read_dataset,
    read_progress,
    read_snapshot,
    warm_up,
)
from etiket_sync_agent.backends.quantify.reader.digest import content_digest
from etiket_sync_agent.errors import DatasetError, StoreError
from etiket_sync_agent.plugins.base import FileBackend, default_accept
from etiket_sync_agent.plugins.config_fields import (
    check_live_timeout,
    existing_folder,
    live_timeout_field,
    server_folder_field,
    set_up_field,
)
from etiket_sync_agent.plugins.context import SyncContext, scratch_prefix
from etiket_sync_agent.plugins.items import ScopeRequirement, SyncItem

logger = logging.getLogger(__name__)

GENERATOR = "etiket_sync_agent.quantify"
#: measurement folders with a TUID younger than this may be too new to hold files yet
RECENT_S = 86400.0


@dataclass
class QuantifyConfig:
    quantify_directory: Path = field(
        metadata={"help": "the Quantify datadir (holding <YYYYmmDD>/<TUID>-<name>/ folders)"}
    )
    set_up: str = set_up_field()
    is_server_folder: bool = server_folder_field()
    live_timeout_s: float = live_timeout_field(
        120.0, "a measurement whose data file has not changed for this long is final"
    )

    def validate(self) -> None:
        check_live_timeout(self.live_timeout_s)
        self.quantify_directory = existing_folder(self.quantify_directory, "quantify_directory")


def _recent_tuid() -> str:
    """The TUID prefix of ``RECENT_S`` ago: TUIDs sort by time as strings."""
    now = time.time()
    cached = _RECENT_CACHE.get("at")
    if cached is None or now - cached[0] > 60:
        cutoff = datetime.fromtimestamp(now - RECENT_S).strftime("%Y%m%d-%H%M%S")
        _RECENT_CACHE["at"] = cached = (now, cutoff)
    return cached[1]


_RECENT_CACHE: dict[str, tuple[float, str]] = {}


class QuantifyBackend(FileBackend):
    sync_agent_name = "quantify"
    config_class = QuantifyConfig
    scope_requirement = ScopeRequirement.REQUIRED
    supports_scope_mapping = False
    live_sync_implemented = True
    level = 2
    is_single_file = False

    config: QuantifyConfig

    def __init__(self, config: QuantifyConfig, source_name: str = "") -> None:
        super().__init__(config, source_name)
        self._warned: set[str] = set()
        self._newer = NewerMeasurements()
        #: identifier -> (stamp of dataset.hdf5, whether it still had unmeasured points)
        self._progress: dict[str, tuple[FileStamp, bool]] = {}

    def root_path(self) -> Path:
        return Path(self.config.quantify_directory)

    # -- discovery ---------------------------------------------------------------------
    def accepts(self, path: Path) -> bool:
        """Folders named ``<TUID>[-name]``; others are listed once as a warning."""
        name = path.name
        parsed = parse_folder_name(name)  # a TUID starts with a digit: never hidden
        if parsed is not None:
            return parsed[0] < _recent_tuid() or not self._just_created_and_empty(path)
        if not default_accept(name):
            return False
        key = str(path)
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(
                "source %s: %s ignored: its name does not start with a Quantify TUID"
                " (YYYYmmDD-HHMMSS-fff-xxxxxx)",
                self.source_name,
                path,
            )
        return False

    @staticmethod
    def _just_created_and_empty(path: Path) -> bool:
        """A measurement folder MeasurementControl has just made, with nothing in it yet.

        It is left for the scan that follows its first file: the engine ranks file
        datasets by their newest file's time when first found, and an empty folder
        would rank lowest, hiding the newest measurement from the live check. Only
        folders whose TUID is from the last day are looked into (old ones cost nothing).
        """
        try:
            with os.scandir(path) as it:
                return not any(True for _ in it)
        except OSError:
            return False

    def ignored_folders(self) -> list[str]:
        """Folders at measurement level that are not measurements (warned once each)."""
        return sorted(self._warned)

    # -- live --------------------------------------------------------------------------
    def check_live_dataset(self, item: SyncItem) -> bool:
        folder = item.path
        if folder is None:
            return False
        parsed = parse_folder_name(folder.name)
        if parsed is None:
            return False
        try:
            stamp = FileStamp.of(folder / DATASET_FILE)
        except OSError:
            return False
        if stamp.age_s > self.config.live_timeout_s:
            return False  # untouched for long: finished, or interrupted for good
        if self._newer.exists(self.root_path(), parsed[0]):
            return False  # MeasurementControl has moved on to another measurement
        known = self._progress.get(item.identifier)
        if known is not None:
            if known[0] == stamp:
                return known[1]
            if known[1]:
                return True  # still being rewritten; the next live pass reads it
        with tempfile.TemporaryDirectory(prefix=scratch_prefix()) as tmp:
            try:
                prog, stamp = read_progress(folder / DATASET_FILE, Path(tmp))
            except QuantifyFormatError:
                return False  # damaged: the normal sync reports it
            except DatasetError:
                return True  # kept changing while read: being written
            except Exception as exc:  # noqa: BLE001 - never fail the source's discovery
                logger.warning("live check of %s: %s", item.identifier, exc)
                return False
        self._progress[item.identifier] = (stamp, prog.has_nan)
        if prog.has_nan:
            warm_up()
        return prog.has_nan

    # -- sync --------------------------------------------------------------------------
    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        self._sync(item, ctx, live=False)

    def sync_dataset_live(self, item: SyncItem, ctx: SyncContext) -> None:
        self._sync(item, ctx, live=True)

    def _sync(self, item: SyncItem, ctx: SyncContext, live: bool) -> None:
        folder = item.path
        assert folder is not None
        if not folder.is_dir():
            raise DatasetError(f"measurement folder {folder} no longer exists", retryable=False)
        parsed = parse_folder_name(folder.name)
        if parsed is None:
            raise QuantifyFormatError(f"{folder.name} does not start with a Quantify TUID")
        tuid, suffix = parsed
        with ctx.task("list files"):
            files, warnings = list_files(folder)
            for w in warnings:
                ctx.warn(w)
        by_name = {f.name: f for f in files}
        previous: dict[str, Any] = dict(item.state.get("files", {}))
        old_digests: dict[str, str] = dict(item.state.get("digests", {}))
        # what is in the store matters only to skip what was stored before
        stored_files = ctx.stored_files() if previous or old_digests else {}
        stored = {
            name for name, info in stored_files.items() if info.latest.status.value == "complete"
        }

        def unchanged(f: MeasurementFile) -> bool:
            return previous.get(f.name) == f.signature and f.name in stored

        problems: list[DatasetError] = []
        seen: dict[str, list[int]] = {}
        digests: dict[str, str] = {}

        def store_dataset(ds: Any, name: str, *, live_file: bool = False) -> None:
            """Store a converted dataset unless the same content is stored complete."""
            digest = content_digest(ds)
            digests[name] = digest
            # a live pass that found no new point stores nothing (no pile of live versions)
            if old_digests.get(name) == digest and (
                name in stored or (live_file and name in stored_files)
            ):
                ctx.log(f"{name}: same content as stored, not stored again")
                return
            ctx.upload_xarray(ds, name=name, generator=GENERATOR, live=live_file)

        meta: dict[str, Any] | None = item.state.get("meta")
        with ctx.scratch_dir() as scratch:
            main_file = by_name.get(DATASET_FILE)
            main: DatasetRead | None = None
            if main_file is None:
                ctx.warn(
                    "no dataset.hdf5 in this measurement folder: it holds no data, only its"
                    " files are synchronized"
                )
                meta = None
            elif not live and unchanged(main_file) and meta is not None:
                seen[main_file.name] = main_file.signature
                digests[DATASET_FILE] = old_digests.get(DATASET_FILE, "")
            else:
                with ctx.task(f"read {DATASET_FILE}"):
                    try:
                        main = read_dataset(main_file.path, scratch, DATASET_FILE)
                    except DatasetError as exc:
                        if live and exc.retryable:
                            # the writer is at it: the next live pass tries again
                            ctx.log(f"{DATASET_FILE} not read this pass: {exc.message}")
                        else:
                            problems.append(exc)
                        meta = None if not live else meta
                if main is not None:
                    meta = {
                        "attrs": {
                            k: v
                            for k, v in main.ds.attrs.items()
                            if k in ("name", "software_versions") and isinstance(v, str)
                        },
                        "variables": {
                            str(n): {
                                k: str(v)
                                for k, v in main.ds.variables[n].attrs.items()
                                if k in ("long_name", "name")
                            }
                            for n in main.ds.variables
                        },
                        "format": main.format,
                    }
            with ctx.task("read snapshot"):
                snapshot = read_snapshot(folder)
                if snapshot.problem:
                    ctx.warn(f"{snapshot.problem}: its metadata is not used")
            with ctx.task("create dataset"):
                fields = dataset_fields(
                    tuid=tuid,
                    suffix=suffix,
                    rel_folder=item.identifier,
                    attrs=(meta or {}).get("attrs", {}),
                    variables=(meta or {}).get("variables", {}),
                    snapshot=snapshot,
                    set_up=self.config.set_up,
                    data_format=(meta or {}).get("format"),
                )
                ctx.save_dataset(fields)
            if main is not None and main_file is not None:
                with ctx.task(f"upload {DATASET_FILE} ({main.layout} layout)"):
                    store_dataset(main.ds, DATASET_FILE, live_file=live)
                    seen[main_file.name] = main_file.signature
                    if main.progress.points:
                        ctx.log(f"{main.progress.measured}/{main.progress.points} points measured")
                self._progress[item.identifier] = (main.stamp, main.progress.has_nan)
                main = None  # free the values before the other files
            skipped = 0
            others = [f for f in files if f.name != DATASET_FILE]
            with ctx.task(f"upload {len(others)} other file(s)"):
                for f in others:
                    if unchanged(f):
                        seen[f.name] = f.signature
                        if f.name in old_digests:
                            digests[f.name] = old_digests[f.name]
                        skipped += 1
                        continue
                    try:
                        if f.converted:
                            read = read_dataset(f.path, scratch, f.name)
                            store_dataset(read.ds, f.name)
                            del read
                        else:
                            ctx.upload_file(f.path, name=f.name)
                        seen[f.name] = f.signature
                    except DatasetError as exc:
                        problems.append(exc)
                    except StoreError as exc:  # e.g. the file changed while it was stored
                        problems.append(DatasetError(f"{f.name}: {exc.message}", exc.hint))
                    except FileNotFoundError:
                        problems.append(
                            FileVanishedError(f"{f.name} vanished while it was being synchronized")
                        )
                    except OSError as exc:
                        problems.append(
                            DatasetError(
                                f"{f.name} cannot be read: {exc.strerror or exc}",
                                hint="check the file's permissions",
                                retryable=False,
                            )
                        )
                if skipped:
                    ctx.log(f"{skipped} file(s) unchanged since the last sync: not read again")
        if problems:
            for p in problems[1:]:
                ctx.warn(p.message)
            first = problems[0]
            more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
            raise DatasetError(
                first.message + more,
                hint=first.hint,
                retryable=any(p.retryable for p in problems),
            )
        ctx.save_state({"files": seen, "meta": meta, "digests": digests})
