"""The labber backend: one dataset per Labber log file, live while Labber measures."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etiket_sync_agent.backends.labber.discovery import DISCOVERY_LEVEL, is_log_candidate
from etiket_sync_agent.backends.labber.metadata import dataset_fields
from etiket_sync_agent.errors import DatasetError
from etiket_sync_agent.plugins.base import FileBackend
from etiket_sync_agent.plugins.config_fields import (
    check_live_timeout,
    existing_folder,
    live_timeout_field,
    server_folder_field,
    set_up_field,
)
from etiket_sync_agent.plugins.context import HDF5_NETCDF, SyncContext
from etiket_sync_agent.plugins.items import ScopeRequirement, SyncItem

if TYPE_CHECKING:
    from etiket_sync_agent.backends.labber.reader import LabberFile

GENERATOR = "etiket_sync_agent.labber"
DATA_FILE = "measured_data.hdf5"


def data_file_name(key: str) -> str:
    """``measured_data.hdf5`` for the file's first log, ``measured_data_Log_2.hdf5``, ..."""
    return DATA_FILE if not key else f"measured_data_{key}.hdf5"


def json_file_name(base: str, key: str) -> str:
    return f"{base}.json" if not key else f"{base}_{key}.json"


@dataclass
class LabberConfig:
    labber_directory: Path = field(
        metadata={"help": "Labber's data folder (holding YYYY/MM/Data_MMDD/<log>.hdf5)"}
    )
    set_up: str = set_up_field()
    is_server_folder: bool = server_folder_field()
    live_timeout_s: float = live_timeout_field(
        120.0, "an unfinished log not written for this long is finalized"
    )

    def validate(self) -> None:
        check_live_timeout(self.live_timeout_s)
        self.labber_directory = existing_folder(
            self.labber_directory,
            "labber_directory",
            hint="give Labber's data folder (the one holding the YYYY folders)",
        )


class LabberBackend(FileBackend):
    """Every ``*.hdf5`` log in the data folder, at any depth (Labber's dated layout or
    another subfolder), is a dataset (see :mod:`.discovery`)."""

    sync_agent_name = "labber"
    config_class = LabberConfig
    scope_requirement = ScopeRequirement.REQUIRED
    supports_scope_mapping = False
    live_sync_implemented = True
    level = DISCOVERY_LEVEL
    is_single_file = True

    config: LabberConfig

    def root_path(self) -> Path:
        return Path(self.config.labber_directory)

    def accepts(self, path: Path) -> bool:
        return is_log_candidate(path.name)

    def check_live_dataset(self, item: SyncItem) -> bool:
        """Live: a log marked not completed whose file changed within ``live_timeout_s``
        (also one without ``Data`` yet: Labber writes the configuration first)."""
        from etiket_sync_agent.backends.labber.reader import (
            LabberReadError,
            read_labber_header,
        )

        path = item.path
        if path is None:
            return False
        try:
            age = time.time() - path.stat().st_mtime
        except OSError:
            return False
        if age > self.config.live_timeout_s:
            return False  # nothing wrote it for a long time: finalize with what it has
        try:
            header = read_labber_header(path)
        except LabberReadError as exc:
            return exc.retryable  # still changing under our reads: being written
        return not header.has_data or not header.completed

    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        self._sync(item, ctx, live=False)

    def sync_dataset_live(self, item: SyncItem, ctx: SyncContext) -> None:
        self._sync(item, ctx, live=True)

    # -- the work ----------------------------------------------------------------------
    def _read(self, path: Path, ctx: SyncContext, live: bool) -> LabberFile | None:
        from etiket_sync_agent.backends.labber.reader import LabberReadError, read_labber_file

        try:
            return read_labber_file(path, live=live)
        except LabberReadError as exc:
            if live and exc.retryable:
                ctx.warn(f"{exc.message}: read again at the next live pass")
                return None
            raise DatasetError(exc.message, hint=exc.hint, retryable=exc.retryable) from None

    def _sync(self, item: SyncItem, ctx: SyncContext, live: bool) -> None:
        path = item.path
        assert path is not None
        if not path.is_file():
            raise DatasetError(f"{path.name} disappeared from {path.parent}", retryable=False)
        with ctx.task("read Labber log"):
            labber = self._read(path, ctx, live)
        if labber is None:
            return
        header = labber.header
        fields = dataset_fields(header, self.config.set_up)
        with ctx.task("create dataset"):
            ctx.save_dataset(fields)
        if not header.has_data and not live:
            ctx.warn(
                f"{path.name} holds no measured data (a saved measurement configuration): "
                "only its settings and the original file are stored"
            )
        generated: set[str] = set()
        with ctx.scratch_dir() as tmp:
            for log in labber.logs:
                for warning in log.warnings:
                    ctx.warn(warning)
                # the finished logs of a file Labber still appends to are complete already
                log_live = live and not log.completed
                if log.dataset is not None:
                    name = data_file_name(log.key)
                    with ctx.task(f"write {name}"):
                        out = _write_netcdf(log.dataset, tmp / name)
                        log.dataset = None  # free the values before the next log
                    with ctx.task(f"upload {name}"):
                        ctx.upload_file(
                            out,
                            name=name,
                            file_type=HDF5_NETCDF,
                            generator=GENERATOR,
                            live=log_live,
                        )
                    out.unlink()
                    generated.add(name)
                for base, content in (("instruments", log.instruments), ("settings", log.settings)):
                    name = json_file_name(base, log.key)
                    out = _write_json(content, tmp / name)
                    ctx.upload_file(
                        out, name=name, file_type="JSON", generator=GENERATOR, live=log_live
                    )
                    out.unlink()
                    generated.add(name)
        if not live:
            with ctx.task("upload the original log"):
                self._upload_original(path, ctx, generated)

    def _upload_original(self, path: Path, ctx: SyncContext, taken: set[str]) -> None:
        """The ``.hdf5`` as it is; refused (retried later) if it changes meanwhile."""
        name = path.name if path.name not in taken else f"labber_{path.name}"
        before = _state(path)
        ctx.upload_file(path, name=name, file_type="HDF5")
        if _state(path) != before:
            raise DatasetError(
                f"{path.name} changed while it was stored (Labber writing?)", retryable=True
            )


def _state(path: Path) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DatasetError(
            f"{path.name} disappeared while it was stored", retryable=False
        ) from None
    return st.st_size, st.st_mtime_ns


def _write_netcdf(ds: Any, path: Path) -> Path:
    from etiket_sync_agent.netcdf import write_netcdf

    return write_netcdf(ds, path)


def _write_json(content: dict[str, Any], path: Path) -> Path:
    # compact: json's C encoder (an indent makes it ~20x slower on big instrument lists)
    path.write_text(json.dumps(content, allow_nan=False), encoding="utf-8")
    return path
