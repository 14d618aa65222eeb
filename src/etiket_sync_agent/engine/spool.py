"""The spool: what an item's sync produced while the store could not be reached.

When the store turns out unreachable during a normal sync, the
:class:`~etiket_sync_agent.plugins.context.SyncContext` stops writing to it and lets the
backend finish into a :class:`SpoolWriter` instead: every dataset upsert and every file
upload is recorded, and converted files (NetCDF written by ``upload_xarray``, converter
outputs, archives — anything outside the item's own dataset folder) are copied into
``<home>/spool/<item id>/files/``. At the end the worker commits ``manifest.json``::

    {"format": 1, "item_id": 7, "source": "lab", "identifier": "run3",
     "fingerprint": "<the item's fingerprint when it was converted>",
     "dataset_uuid": "...", "created": "<iso>", "saved_state": {...} | null,
     "ops": [{"op": "dataset", "spec": {"name": ..., "scope": ..., "collected": iso, ...}},
             {"op": "file", "name": "data.hdf5", "filename": "data.hdf5",
              "file_type": "HDF5_NETCDF", "generator": "...", "status": "complete",
              "sha256": "...", "size": 123, "spooled": "files/0"},
             {"op": "file", "name": "raw.csv", ..., "path": "/data/run3/raw.csv",
              "mtime_ns": 1700000000000000000}]}

Files of the dataset folder itself (folderbase's raw files) are not copied: they are the
source, the item's fingerprint covers their names, sizes and times, and the replay checks
each one's size and modification time again (``size``/``mtime_ns``; a file that changed
means the spool is stale). Copies carry their sha256, checked when they are stored.

At the next attempt, if the item's fingerprint is the manifest's (the source did not
change), :func:`replay` writes the ops into the store in their order (dataset upserts,
uploads) instead of running the backend, then the spool is removed; if the source changed
the spool is dropped and the backend runs. A spool folder without a manifest (the agent
was killed while it was written, or the backend failed after the store went away) is never
replayed. :func:`sweep` (at start-up) removes the spools of items that no longer exist
or are synchronized by now.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etiket_sync_agent.store.interface import (
    DatasetInfo,
    DatasetSpec,
    FileInfo,
    FileStatus,
    FileVersionInfo,
    UploadResult,
)

if TYPE_CHECKING:
    from etiket_sync_agent.plugins.context import SyncContext

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = 1
_CHUNK = 1 << 20


def spool_folder(spool_dir: Path, item_id: int) -> Path:
    return Path(spool_dir) / str(int(item_id))


class SpoolWriter:
    """Records one sync's writes while the store is unreachable (see the module doc).

    ``dataset_root``: the item's own dataset folder (its files are referenced, not
    copied); None for database backends (everything is copied)."""

    def __init__(self, folder: Path, dataset_root: Path | None = None) -> None:
        self.folder = Path(folder)
        self.dataset_root = None if dataset_root is None else Path(dataset_root)
        self.ops: list[dict[str, Any]] = []
        self.started = False

    def start(self, last_spec: DatasetSpec | None) -> None:
        """Begin (an old incomplete spool of the item is removed first)."""
        if self.started:
            return
        shutil.rmtree(self.folder, ignore_errors=True)
        (self.folder / "files").mkdir(parents=True)
        self.started = True
        if last_spec is not None:  # stored before the store went away: upserted again
            self.ops.append({"op": "dataset", "spec": _spec_json(last_spec)})

    def add_dataset(self, spec: DatasetSpec) -> DatasetInfo:
        self.ops.append({"op": "dataset", "spec": _spec_json(spec)})
        now = datetime.now(timezone.utc)
        return DatasetInfo(
            uuid=spec.uuid,
            alt_uid=spec.alt_uid,
            scope=spec.scope,
            name=spec.name,
            description=spec.description,
            collected=spec.collected,
            tags=tuple(spec.tags),
            attributes=dict(spec.attributes),
            ranking=spec.ranking,
            creator=spec.creator,
            source=spec.source,
            created=now,
            modified=now,
        )

    def add_file(
        self,
        path: Path,
        *,
        name: str,
        filename: str,
        file_type: str,
        generator: str | None,
        status: FileStatus,
    ) -> UploadResult:
        op: dict[str, Any] = {
            "op": "file",
            "name": name,
            "filename": filename,
            "file_type": file_type,
            "generator": generator,
            "status": FileStatus(status).value,
        }
        path = Path(path)
        if self._is_source_file(path):
            st = path.stat()
            op.update(path=str(path.resolve()), size=st.st_size, mtime_ns=st.st_mtime_ns)
            sha256 = ""
        else:
            rel = f"files/{len(self.ops)}"
            sha256, size = _copy_hashed(path, self.folder / rel)
            op.update(spooled=rel, sha256=sha256, size=size)
        self.ops.append(op)
        now = datetime.now(timezone.utc)
        version = FileVersionInfo(0, op["size"], sha256, FileStatus(status), now, now)
        info = FileInfo(name, filename, file_type, generator, (version,))
        return UploadResult(info, version, changed=True)

    def commit(self, **fields: Any) -> Path:
        """Write the manifest (atomically); the spool can be replayed from now on."""
        manifest = {
            "format": FORMAT,
            "created": datetime.now(timezone.utc).isoformat(),
            **fields,
            "ops": self.ops,
        }
        tmp = self.folder / (MANIFEST + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.folder / MANIFEST)
        return self.folder / MANIFEST

    def drop(self) -> None:
        if self.started:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.started = False

    def _is_source_file(self, path: Path) -> bool:
        if self.dataset_root is None:
            return False
        try:
            root = self.dataset_root.resolve()
            return root in path.resolve().parents and path.is_file()
        except OSError:
            return False


def load(folder: Path) -> dict[str, Any] | None:
    """The committed manifest of a spool folder, or None (none, unreadable, other format)."""
    try:
        with open(Path(folder) / MANIFEST, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    return data


def drop(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


class StaleSpool(Exception):
    """A file the spool refers to changed since it was spooled: run the backend instead."""


def check(folder: Path, manifest: dict[str, Any]) -> None:
    """Raise :class:`StaleSpool` unless every file of the manifest is still as recorded
    (copies present with their size, source files with their size and mtime)."""
    for op in manifest["ops"]:
        if op["op"] != "file":
            continue
        try:
            if "spooled" in op:
                st = (Path(folder) / op["spooled"]).stat()
                same = st.st_size == op["size"]
            else:
                st = Path(op["path"]).stat()
                same = st.st_size == op["size"] and st.st_mtime_ns == op["mtime_ns"]
        except OSError:
            same = False
        if not same:
            raise StaleSpool(f"{op['name']} changed since it was spooled")


def replay(folder: Path, manifest: dict[str, Any], ctx: SyncContext) -> int:
    """Write the manifest's ops into the store through ``ctx`` (dataset upserts adopt an
    existing uuid as a sync does); returns how many files were written. A copy whose
    content no longer has its recorded sha256 raises :class:`StaleSpool`."""
    files = 0
    for op in manifest["ops"]:
        if op["op"] == "dataset":
            spec = op["spec"]
            collected = spec.get("collected")
            ctx.create_or_update_dataset(
                name=spec["name"],
                alt_uid=spec.get("alt_uid"),
                description=spec.get("description", ""),
                collected=None if collected is None else datetime.fromisoformat(collected),
                tags=spec.get("tags"),
                attributes=spec.get("attributes"),
                ranking=spec.get("ranking", 0),
                creator=spec.get("creator"),
                scope=spec.get("scope"),
            )
            continue
        path = Path(folder) / op["spooled"] if "spooled" in op else Path(op["path"])
        result = ctx.upload_file(
            path,
            name=op["name"],
            file_type=op["file_type"],
            generator=op["generator"],
            live=op["status"] == FileStatus.LIVE.value,
        )
        if op.get("sha256") and result.version.sha256 != op["sha256"]:
            raise StaleSpool(f"the spooled copy of {op['name']} is damaged")
        files += 1
    return files


def sweep(spool_dir: Path, keep_item_ids: set[int]) -> int:
    """Remove every spool but those of ``keep_item_ids``; returns how many."""
    root = Path(spool_dir)
    if not root.is_dir():
        return 0
    removed = 0
    for entry in os.scandir(root):
        if not entry.is_dir(follow_symlinks=False):
            continue
        if entry.name.isdigit() and int(entry.name) in keep_item_ids:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed += not os.path.lexists(entry.path)
    return removed


def _spec_json(spec: DatasetSpec) -> dict[str, Any]:
    data = asdict(spec)
    data.pop("uuid", None)  # the item's uuid at replay time (it may have been adopted)
    data.pop("source", None)
    if spec.collected is not None:
        data["collected"] = spec.collected.isoformat()
    return data


def _copy_hashed(src: Path, dest: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        while chunk := fin.read(_CHUNK):
            h.update(chunk)
            fout.write(chunk)
            size += len(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    return h.hexdigest(), size
