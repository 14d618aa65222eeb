"""The store helper API backends use while synchronizing one item.

A :class:`SyncContext` is created by the engine's worker for each attempt. It knows the
item's dataset uuid and scope, writes through the store interface, and logs what it does
into the attempt's :class:`SyncRecord`.

Offline-first: when the engine gives the context a spool and a store call raises
:class:`~etiket_sync_agent.errors.StoreUnreachableError`, the context stops writing to
the store and records the rest of the sync in the spool instead (converted files are
copied there), so that the backend finishes and nothing has to be converted again; see
:mod:`etiket_sync_agent.engine.spool`. :attr:`SyncContext.spooling` tells the engine.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etiket_sync_agent.errors import (
    DatasetError,
    NotFoundError,
    PluginError,
    StoreUnreachableError,
)
from etiket_sync_agent.plugins.dataset_fields import DatasetFields
from etiket_sync_agent.plugins.items import SyncItem
from etiket_sync_agent.plugins.record import SyncRecord
from etiket_sync_agent.store.interface import (
    DatasetInfo,
    DatasetSpec,
    DatasetStore,
    FileInfo,
    FileStatus,
    FileUpload,
    UploadResult,
)

if TYPE_CHECKING:
    import xarray as xr

    from etiket_sync_agent.engine.spool import SpoolWriter
    from etiket_sync_agent.plugins.converter import FileConverter

logger = logging.getLogger(__name__)

HDF5_NETCDF = "HDF5_NETCDF"
#: read-back checks listed on a record; more are counted in one last entry
MAX_VERIFIED_LISTED = 100


class SyncContext:
    """Everything a backend needs to write one dataset."""

    def __init__(
        self,
        item: SyncItem,
        store: DatasetStore,
        record: SyncRecord,
        *,
        converter_lookup: Callable[[str], type[FileConverter]] | None = None,
        on_dataset_uuid: Callable[[str], None] | None = None,
        spool: SpoolWriter | None = None,
    ) -> None:
        self.item = item
        self.store = store
        self.record = record
        self._converter_lookup = converter_lookup
        self._on_dataset_uuid = on_dataset_uuid
        self.dataset_uuid = item.dataset_uuid
        #: set by save_state; the engine stores it if the sync succeeds
        self.saved_state: dict[str, Any] | None = None
        #: where writes go once the store is unreachable (None: such errors propagate)
        self.spool = spool
        #: True once the store was found unreachable: later writes go to the spool
        self.spooling = False
        #: why the store was found unreachable (set with ``spooling``)
        self.spooled_because: str | None = None
        self._last_spec: DatasetSpec | None = None

    def task(self, name: str):  # noqa: ANN201 - returns the record's context manager
        return self.record.task(name)

    def log(self, message: str) -> None:
        self.record.log(message)

    def warn(self, message: str) -> None:
        self.record.warn(message)

    def save_state(self, state: dict[str, Any]) -> None:
        """Keep ``state`` (JSON-serializable) for this item: it is handed back as
        ``item.state`` at the next sync, if this one succeeds (a failed sync keeps the
        previous state). Use it to remember what was uploaded, e.g. to skip unchanged
        files."""
        try:
            json.dumps(state)
        except (TypeError, ValueError) as exc:
            raise PluginError(f"save_state needs JSON-serializable data: {exc}") from None
        self.saved_state = dict(state)

    # -- datasets ---------------------------------------------------------------------
    def create_or_update_dataset(
        self,
        *,
        name: str,
        alt_uid: str | None = None,
        description: str = "",
        collected: datetime | None = None,
        tags: list[str] | None = None,
        attributes: dict[str, Any] | None = None,
        ranking: int = 0,
        creator: str | None = None,
        scope: str | None = None,
    ) -> DatasetInfo:
        """Create the item's dataset or update its metadata (matched by uuid or alt_uid)."""
        spec = DatasetSpec(
            uuid=self.dataset_uuid,
            scope=scope or self.item.scope,
            name=name,
            alt_uid=alt_uid,
            description=description,
            collected=collected,
            tags=list(tags or []),
            attributes=dict(attributes or {}),
            ranking=ranking,
            creator=creator,
            source=self.item.source_name,
        )
        if self.spooling:
            return self._spooled().add_dataset(spec)
        try:
            info = self.store.upsert_dataset(spec)
        except StoreUnreachableError as exc:
            self._start_spooling(exc)
            return self._spooled().add_dataset(spec)
        self._last_spec = spec
        if info.uuid != self.dataset_uuid:
            # the store matched an existing dataset by alt_uid: adopt its uuid
            self.log(f"matched existing dataset {info.uuid} by alt_uid {alt_uid!r}")
            self.dataset_uuid = info.uuid
            if self._on_dataset_uuid:
                self._on_dataset_uuid(info.uuid)
        return info

    def save_dataset(self, fields: DatasetFields, scope: str | None = None) -> DatasetInfo:
        """:meth:`create_or_update_dataset` with the fields a backend's metadata gave."""
        return self.create_or_update_dataset(
            name=fields.name,
            alt_uid=fields.alt_uid,
            description=fields.description,
            collected=fields.collected,
            tags=fields.tags,
            attributes=fields.attributes,
            ranking=fields.ranking,
            creator=fields.creator,
            scope=scope,
        )

    # -- files ------------------------------------------------------------------------
    def stored_files(self) -> dict[str, FileInfo]:
        """The dataset's files in the store now, by name (empty before it exists, and
        while the store is unreachable: then every file is written to the spool)."""
        if self.spooling:
            return {}
        try:
            info = self.store.get_dataset(self.dataset_uuid)
        except NotFoundError:
            return {}
        except StoreUnreachableError as exc:
            self._start_spooling(exc)
            return {}
        return {f.name: f for f in info.files}

    def upload_file(
        self,
        path: Path,
        *,
        name: str | None = None,
        file_type: str | None = None,
        generator: str | None = None,
        live: bool = False,
    ) -> UploadResult:
        """Store the file at ``path`` as ``name`` (default: its file name)."""
        name = name or path.name
        args: dict[str, Any] = {
            "filename": Path(name).name,
            "file_type": file_type or guess_file_type(path),
            "generator": generator,
            "status": FileStatus.LIVE if live else FileStatus.COMPLETE,
        }
        if not self.spooling:
            try:
                result = self.store.upload_file(self.dataset_uuid, name, path, **args)
            except StoreUnreachableError as exc:
                self._start_spooling(exc)
        self._note_read_back(path, name)
        if self.spooling:
            result = self._spooled().add_file(path, name=name, **args)
            self.log(f"spooled {name} ({result.version.size} B): the store is unreachable")
            return result
        self.log(
            f"{'stored' if result.changed else 'unchanged'} {name} v{result.version.version}"
            f" ({result.version.size} B{', live' if live else ''})"
        )
        return result

    def upload_files(
        self,
        files: Sequence[tuple[Path, str] | tuple[Path, str, str | None]],
        *,
        generator: str | None = None,
    ) -> list[UploadResult]:
        """Store several files of the dataset at once, each ``(path, name)`` or ``(path,
        name, file_type)``: the store records them in one transaction per group (much
        faster than :meth:`upload_file` per file for many small files). While the store
        is unreachable they are spooled one by one.
        """
        entries = [(f[0], f[1], f[2] if len(f) > 2 else None) for f in files]
        if self.spooling or len(entries) < 2:
            return [
                self.upload_file(p, name=n, file_type=t, generator=generator) for p, n, t in entries
            ]
        uploads = [
            FileUpload(n, p, Path(n).name, t or guess_file_type(p), generator)
            for p, n, t in entries
        ]
        try:
            results = self.store.upload_files(self.dataset_uuid, uploads)
        except StoreUnreachableError as exc:
            self._start_spooling(exc)
            return [
                self.upload_file(p, name=n, file_type=t, generator=generator) for p, n, t in entries
            ]
        for (path, name, _), result in zip(entries, results, strict=True):
            self._note_read_back(path, name)
            self.log(
                f"{'stored' if result.changed else 'unchanged'} {name}"
                f" v{result.version.version} ({result.version.size} B)"
            )
        return results

    def _note_read_back(self, path: Path, name: str) -> None:
        """Put the read-back check of a NetCDF file the SDK wrote on the record."""
        netcdf = sys.modules.get("etiket_sync_agent.netcdf")  # not imported: nothing written
        checked = None if netcdf is None else netcdf.take_verification(path)
        if checked is None:
            return
        kept = self.record.verified_files
        if len(kept) < MAX_VERIFIED_LISTED:
            kept.append({**checked.to_dict(), "file": name})
        elif len(kept) == MAX_VERIFIED_LISTED:
            kept.append({"file": "(more files)", "more": 1})
        else:
            kept[-1]["more"] += 1

    def upload_xarray(
        self,
        ds: xr.Dataset,
        *,
        name: str = "measured_data.hdf5",
        generator: str | None = None,
        live: bool = False,
    ) -> UploadResult:
        """Write ``ds`` as NetCDF4/HDF5 (h5netcdf) and store it as ``name``."""
        with self.scratch_dir() as tmp:
            out = tmp / Path(name).name
            write_netcdf(ds, out)
            return self.upload_file(
                out, name=name, file_type=HDF5_NETCDF, generator=generator, live=live
            )

    def _start_spooling(self, exc: StoreUnreachableError) -> None:
        """Switch to the spool, or re-raise ``exc`` when there is none (live passes)."""
        if self.spool is None:
            raise exc
        self.spool.start(self._last_spec)
        self.spooling = True
        self.spooled_because = exc.message
        self.warn(f"{exc.message}: the rest of this sync is kept in the spool")

    def _spooled(self) -> SpoolWriter:
        assert self.spool is not None
        return self.spool

    # -- converters -------------------------------------------------------------------
    def converter(self, name: str) -> type[FileConverter]:
        """The converter class registered as ``name`` (PluginError if not installed)."""
        if self._converter_lookup is None:
            raise PluginError("no converter registry available")
        return self._converter_lookup(name)

    def convert(self, converter_name: str, path: Path, output_dir: Path) -> Path:
        """Run the registered converter ``converter_name`` on ``path``."""
        return run_converter(converter_name, self.converter(converter_name), path, output_dir)

    @contextmanager
    def scratch_dir(self) -> Iterator[Path]:
        """An empty private folder for intermediate files, emptied when the block exits."""
        tmp = _SCRATCH.take()
        try:
            yield tmp
        finally:
            _SCRATCH.give_back(tmp)


SCRATCH_PREFIX = "etiket-sync-"
"""Every scratch folder of the agent is ``<temp dir>/etiket-sync-<pid>-<random>``."""


def run_converter(name: str, converter: type[FileConverter], path: Path, out_dir: Path) -> Path:
    """Run a converter. Input it cannot convert (``ValueError``) fails the item for good;
    an ``OSError`` (a file briefly locked by the acquisition program, a network-share
    hiccup) is retried, unless it cannot change (see
    :mod:`etiket_sync_agent.engine.failures`)."""
    from etiket_sync_agent.engine.failures import describe_os_error, os_error_is_permanent
    from etiket_sync_agent.engine.scanner import safe_name

    try:
        return converter().convert(path, out_dir)
    except ValueError as exc:
        raise DatasetError(
            f"converter {name!r} failed on {safe_name(path.name)}: {exc}", retryable=False
        ) from exc
    except OSError as exc:
        raise DatasetError(
            f"converter {name!r} could not convert {safe_name(path.name)}:"
            f" {describe_os_error(exc)}",
            retryable=not os_error_is_permanent(exc),
        ) from exc


def scratch_prefix() -> str:
    """The name prefix of this process's scratch folders (for ``tempfile.mkdtemp``).

    Backends making their own temp folders should use it too (or :meth:`SyncContext.scratch_dir`):
    a folder left by a killed process is then removed at the next start
    (:func:`etiket_sync_agent.maintenance.sweep_scratch`).
    """
    return f"{SCRATCH_PREFIX}{os.getpid()}-"


class _ScratchPool:
    """Empty private temp folders, reused: on some file systems making and removing a
    folder for every item costs more than writing the item's files. A folder goes back
    to the pool only once emptied; the pool's folders are removed at exit."""

    MAX_FREE = 4

    def __init__(self) -> None:
        self._free: list[Path] = []
        self._lock = threading.Lock()
        atexit.register(self.clear)

    def take(self) -> Path:
        with self._lock:
            if self._free:
                return self._free.pop()
        # the pid in the name: the start-up sweep removes folders of dead processes
        return Path(tempfile.mkdtemp(prefix=scratch_prefix()))

    def give_back(self, folder: Path) -> None:
        try:
            for entry in os.scandir(folder):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)
            return
        with self._lock:
            if len(self._free) < self.MAX_FREE:
                self._free.append(folder)
                return
        folder.rmdir()

    def clear(self) -> None:
        with self._lock:
            folders, self._free = self._free, []
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


_SCRATCH = _ScratchPool()


def write_netcdf(ds: xr.Dataset, path: Path) -> Path:
    """Write ``ds`` as NetCDF4/HDF5 (h5netcdf) at ``path``, atomically; see
    :mod:`etiket_sync_agent.netcdf` for what is adjusted (attributes, multi-indexes)."""
    from etiket_sync_agent.netcdf import write_netcdf as write  # numpy/h5py: imported lazily

    return write(ds, path)


_TYPES = {
    ".hdf5": "HDF5",
    ".h5": "HDF5",
    ".nc": "NETCDF",
    ".json": "JSON",
    ".yaml": "YAML",
    ".yml": "YAML",
    ".txt": "TEXT",
    ".csv": "CSV",
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".zip": "ZIP",
    ".db": "SQLITE",
}


def guess_file_type(path: Path) -> str:
    return _TYPES.get(path.suffix.lower(), "UNKNOWN")
