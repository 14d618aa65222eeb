"""A native dataset being written by a script: its folder, manifest, lock and contents.

The script never waits for, nor fails because of, the agent: everything is written to
the dataset's own folder in the native area, which the ``native`` backend reads.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import traceback
import uuid as uuid_mod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etiket_sync_agent.locking import FileLock
from etiket_sync_agent.native.manifest import (
    FORMAT,
    VERSION,
    check_metadata,
    read_manifest,
    write_manifest,
)
from etiket_sync_agent.native.paths import (
    LOCK_FILE,
    RESERVED,
    check_name,
    folder_slug,
    native_root,
)

if TYPE_CHECKING:
    import xarray as xr

    from etiket_sync_agent.native.measurement import Measurement


class DatasetBusyError(RuntimeError):
    """Another process (or another handle in this one) is writing the dataset."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Dataset:
    """A dataset open for writing (see :func:`dataset` and :func:`open_dataset`)."""

    def __init__(self, folder: Path, manifest: dict[str, Any], lock: FileLock) -> None:
        self.path = folder
        self._manifest = manifest
        self._lock = lock
        self._open: dict[str, Measurement] = {}
        self._closed = False

    @property
    def uuid(self) -> str:
        return str(self._manifest["uuid"])

    @property
    def name(self) -> str:
        return str(self._manifest["name"])

    @property
    def state(self) -> str:
        return str(self._manifest["state"])

    def _names_in_use(self) -> set[str]:
        used = {e["file"] for e in self._manifest["measurements"]}
        used |= {e["file"] for e in self._manifest["files"]}
        return used | set(RESERVED)

    def _take_file_name(self, file_name: str) -> None:
        if file_name in self._names_in_use() or (self.path / file_name).exists():
            raise ValueError(f"dataset {self.name!r} already has a file called {file_name!r}")

    def _save(self) -> None:
        write_manifest(self.path, self._manifest)

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"dataset {self.name!r} is closed")

    # -- measurements ------------------------------------------------------------
    @contextmanager
    def measurement(
        self,
        name: str,
        coords: Mapping[str, Any],
        data_vars: Mapping[str, Any],
        *,
        flush_interval_s: float = 0.2,
    ) -> Iterator[Measurement]:
        """A measurement stored as ``<name>.hdf5`` (NetCDF4/HDF5, SWMR): append points or
        rows with ``m.append(...)``. ``coords``: ``{"x": ("V", values)}`` per dimension
        (row order: the last fastest); the first may be ``{"t": "s"}`` (unit only) for an
        open-ended measurement. ``data_vars``: ``{"I": "V"}`` or ``{"S21": ("V", complex)}``.
        Leaving the block completes it; an exception marks it "aborted" (data kept)."""
        from etiket_sync_agent.native.measurement import Measurement

        self._check_open()
        check_name("measurement name", name)
        file_name = f"{name}.hdf5"
        self._take_file_name(file_name)
        m = Measurement(name, self.path / file_name, coords, data_vars, flush_interval_s)
        entry = {"name": name, "file": file_name, "state": "writing", "points": 0}
        self._manifest["measurements"].append(entry)
        try:
            self._save()
        except BaseException:
            m.close()
            raise
        self._open[name] = m
        state = "complete"
        try:
            yield m
        except BaseException:
            state = "aborted"
            raise
        finally:
            self._open.pop(name, None)
            try:
                m.close()
            except BaseException:
                state = "aborted"
                raise
            finally:
                entry["state"] = state
                entry["points"] = m.points if state == "complete" else m.flushed_points
                self._save()

    # -- files ----------------------------------------------------------------------
    def add_file(self, source: str | os.PathLike[str] | bytes, name: str | None = None) -> Path:
        """Copy the file at ``source`` (or write ``source`` bytes) into the dataset as
        ``name`` (default: the file's name; required for bytes). Returns its path."""
        self._check_open()
        if isinstance(source, bytes | bytearray | memoryview):
            if name is None:
                raise ValueError("add_file of bytes needs a name")
            src_path = None
        else:
            src_path = Path(source)
            if not src_path.is_file():
                raise ValueError(f"add_file: {src_path} is not a file")
        file_name = check_name("file name", name if name is not None else src_path.name)  # type: ignore[union-attr]
        self._take_file_name(file_name)
        target = self.path / file_name
        tmp = self.path / f".{file_name}.tmp"
        try:
            if src_path is None:
                with open(tmp, "wb") as fh:
                    fh.write(bytes(source))  # type: ignore[arg-type]
            else:
                shutil.copyfile(src_path, tmp)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._manifest["files"].append({"name": file_name, "file": file_name, "kind": "file"})
        self._save()
        return target

    def add_xarray(self, name: str, data: xr.Dataset) -> Path:
        """Write the xarray Dataset ``data`` into the dataset as ``<name>.hdf5``
        (NetCDF4, through the agent's NetCDF writer). Returns its path."""
        import xarray as xr

        from etiket_sync_agent.netcdf import write_netcdf

        self._check_open()
        check_name("xarray name", name)
        if not isinstance(data, xr.Dataset):
            raise ValueError(f"add_xarray needs an xarray.Dataset, got {type(data).__name__}")
        file_name = f"{name}.hdf5"
        self._take_file_name(file_name)
        target = write_netcdf(data, self.path / file_name)
        self._manifest["files"].append({"name": file_name, "file": file_name, "kind": "xarray"})
        self._save()
        return target

    # -- closing --------------------------------------------------------------------
    def close(self, error: BaseException | None = None) -> None:
        """Mark the dataset complete (or aborted with ``error``) and release it."""
        if self._closed:
            return
        self._closed = True
        try:
            for m in list(self._open.values()):
                # only when the dataset closes on an error already: that is the one to show
                with contextlib.suppress(Exception):
                    m.close()
            if error is not None:
                self._manifest["state"] = "aborted"
                self._manifest["error"] = _describe(error)
            else:
                self._manifest["state"] = "complete"
            self._manifest["finished"] = _now()
            self._manifest["writer_pid"] = None
            self._save()
        finally:
            self._lock.release()

    def __repr__(self) -> str:
        return f"<native dataset {self.name!r} {self.state} at {self.path}>"


def _describe(error: BaseException) -> str:
    line = traceback.format_exception_only(type(error), error)[-1].strip()
    return line[:2000]


@contextmanager
def dataset(
    name: str,
    *,
    scope: str,
    tags: list[str] | None = None,
    attributes: Mapping[str, Any] | None = None,
    description: str = "",
    directory: str | os.PathLike[str] | None = None,
) -> Iterator[Dataset]:
    """Create a dataset in the native area and write it in the ``with`` block.

    ``scope`` is the store scope the agent puts it in (it must exist there: create it
    with ``etiket-sync scopes create NAME``). Leaving the block marks the dataset
    complete; an exception marks it "aborted" with the error (its data is kept) and is
    raised on. ``directory`` overrides the native area (default: ``$ETIKET_SYNC_NATIVE_DIR``
    or ``<agent home>/native``)."""
    ds = create_dataset(
        name,
        scope=scope,
        tags=tags,
        attributes=attributes,
        description=description,
        directory=directory,
    )
    yield from _run(ds)


def _run(ds: Dataset) -> Iterator[Dataset]:
    try:
        yield ds
    except BaseException as exc:
        ds.close(exc)
        raise
    ds.close()


def create_dataset(
    name: str,
    *,
    scope: str,
    tags: list[str] | None = None,
    attributes: Mapping[str, Any] | None = None,
    description: str = "",
    directory: str | os.PathLike[str] | None = None,
) -> Dataset:
    """:func:`dataset` without the ``with`` block: call ``ds.close()`` (or
    ``ds.close(error)``) yourself."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"dataset name must be non-empty text, got {name!r}")
    if len(name) > 1024:
        raise ValueError(f"dataset name is longer than 1024 characters: {name[:40]!r}...")
    scope, tags_, attrs, description = check_metadata(scope, tags, attributes, description)
    root = native_root(directory)
    root.mkdir(parents=True, exist_ok=True)
    ident = str(uuid_mod.uuid4())
    created = datetime.now(timezone.utc)
    final = root / f"{created:%Y%m%d-%H%M%S}-{folder_slug(name)}-{ident[:8]}"
    # built under a hidden name and renamed: the agent never sees a folder without manifest
    building = root / f".building-{ident}"
    building.mkdir()
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "uuid": ident,
        "name": name,
        "scope": scope,
        "tags": tags_,
        "attributes": attrs,
        "description": description,
        "state": "writing",
        "error": None,
        "created": created.isoformat(timespec="milliseconds"),
        "finished": None,
        "writer_pid": os.getpid(),
        "measurements": [],
        "files": [],
    }
    try:
        write_manifest(building, manifest)
        os.rename(building, final)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    lock = FileLock(final / LOCK_FILE)
    if not lock.acquire():  # pragma: no cover - a fresh folder only this process knows
        raise DatasetBusyError(f"cannot lock the new dataset folder {final}")
    return Dataset(final, manifest, lock)


@contextmanager
def open_dataset(path: str | os.PathLike[str]) -> Iterator[Dataset]:
    """Reopen the dataset folder ``path`` to add measurements or files; it is "writing"
    again until the block ends. DatasetBusyError if another writer holds it."""
    folder = Path(path).expanduser().resolve()
    manifest = read_manifest(folder)
    lock = FileLock(folder / LOCK_FILE)
    if not lock.acquire():
        raise DatasetBusyError(
            f"dataset {manifest['name']!r} ({folder}) is being written by another process"
            " (or another handle): only one writer at a time"
        )
    try:
        manifest = read_manifest(folder)  # as the last writer left it
        manifest.update(state="writing", error=None, finished=None, writer_pid=os.getpid())
        manifest.setdefault("measurements", [])
        manifest.setdefault("files", [])
        write_manifest(folder, manifest)
    except BaseException:
        lock.release()
        raise
    yield from _run(Dataset(folder, manifest, lock))
