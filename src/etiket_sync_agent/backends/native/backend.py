"""The native backend: datasets written by scripts with :mod:`etiket_sync_agent.native`.

Discovery is the engine's level-1 scan of the native area: each folder is a dataset.
Its manifest names the dataset, its scope (the one the script gave: it must exist in the
store), metadata and state. Measurements are read in SWMR mode without locks and stored
as NetCDF4 under their file names; added files are stored as they are. A dataset is live
while its state is ``writing`` and one of its files changed within ``live_timeout_s``;
after that the agent finalizes it (a killed script's data up to its last flush).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from etiket_sync_agent.backends.native.reader import read_measurement
from etiket_sync_agent.errors import ConfigError, DatasetError
from etiket_sync_agent.native.manifest import ManifestError, read_manifest
from etiket_sync_agent.native.paths import MANIFEST_FILE, native_root
from etiket_sync_agent.plugins.base import FileBackend
from etiket_sync_agent.plugins.config_fields import (
    check_live_timeout,
    live_timeout_field,
    server_folder_field,
)
from etiket_sync_agent.plugins.context import SyncContext
from etiket_sync_agent.plugins.items import ScopeRequirement, SyncItem

GENERATOR = "etiket_sync_agent.native"


@dataclass
class NativeConfig:
    native_directory: Path | None = field(
        default=None,
        metadata={
            "help": "the native area scripts write to (default: ETIKET_SYNC_NATIVE_DIR,"
            " else <agent home>/native)"
        },
    )
    is_server_folder: bool = server_folder_field()
    live_timeout_s: float = live_timeout_field(
        120.0,
        "a dataset still 'writing' whose files did not change for this long"
        " is finalized (its script was killed)",
    )

    def validate(self) -> None:
        check_live_timeout(self.live_timeout_s)
        path = native_root(self.native_directory)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"native_directory {path} cannot be created: {exc.strerror}"
            ) from None
        if not path.is_dir():
            raise ConfigError(f"native_directory {path} is not a folder")
        self.native_directory = path


def _newest_change(folder: Path, manifest: dict[str, Any]) -> float:
    """The newest modification time of the manifest and the files it lists."""
    names = [MANIFEST_FILE, *(e["file"] for e in manifest.get("measurements", []))]
    newest = 0.0
    for name in names:
        try:
            newest = max(newest, os.stat(folder / name).st_mtime)
        except OSError:
            continue
    return newest


class NativeBackend(FileBackend):
    sync_agent_name = "native"
    config_class = NativeConfig
    #: the scope is the one each script names (in its manifest); --scope is not needed
    scope_requirement = ScopeRequirement.OPTIONAL
    supports_scope_mapping = False
    live_sync_implemented = True
    level = 1
    is_single_file = False

    config: NativeConfig

    def root_path(self) -> Path:
        return Path(self.config.native_directory)  # type: ignore[arg-type]

    def _age_s(self, folder: Path, manifest: dict[str, Any]) -> float:
        return datetime.now().timestamp() - _newest_change(folder, manifest)

    def check_live_dataset(self, item: SyncItem) -> bool:
        folder = item.path
        if folder is None:
            return False
        try:
            manifest = read_manifest(folder)
        except (ManifestError, OSError):
            return False  # the sync reports it
        if manifest["state"] != "writing":
            return False
        return self._age_s(folder, manifest) <= self.config.live_timeout_s

    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        self._sync(item, ctx, live=False)

    def sync_dataset_live(self, item: SyncItem, ctx: SyncContext) -> None:
        self._sync(item, ctx, live=True)

    def _sync(self, item: SyncItem, ctx: SyncContext, live: bool) -> None:
        folder = item.path
        assert folder is not None
        if not folder.is_dir():
            raise DatasetError(f"dataset folder {folder} no longer exists", retryable=False)
        try:
            manifest = read_manifest(folder)
        except ManifestError as exc:
            raise DatasetError(
                str(exc),
                hint=f"fix or restore {folder / MANIFEST_FILE} (written by the native API)",
                retryable=False,
            ) from None
        scope = manifest["scope"]
        if ctx.store.get_scope(scope) is None:
            raise DatasetError(
                f"scope {scope!r} named by the script does not exist in the store",
                hint=f"create it with `etiket-sync scopes create {scope}`"
                " (the dataset is synchronized at the next retry)",
            )
        state = manifest["state"]
        # not live while "writing": the script stopped changing it (killed?) - or another
        # dataset is the live one, then it is only "interrupted" once it is old
        if (
            state == "writing"
            and not live
            and self._age_s(folder, manifest) > self.config.live_timeout_s
        ):
            state = "interrupted"
        description = manifest.get("description", "")
        attributes = dict(manifest.get("attributes", {}))
        attributes["state"] = state
        if manifest.get("error"):
            attributes["error"] = manifest["error"]
            description = (description + "\n\n" if description else "") + (
                f"Aborted: {manifest['error']}"
            )
        elif state == "interrupted":
            description = (description + "\n\n" if description else "") + (
                "Interrupted: the script stopped writing before the dataset was complete"
                f" (no change for {self.config.live_timeout_s:g} s); what it had written"
                " is kept"
            )
        with ctx.task("create dataset"):
            ctx.create_or_update_dataset(
                name=manifest["name"],
                alt_uid=manifest["uuid"],
                description=description,
                collected=_parse_time(manifest["created"]),
                tags=manifest.get("tags", []),
                attributes=attributes,
                scope=scope,
            )
        previous: dict[str, Any] = dict(item.state.get("files", {}))
        stored = ctx.stored_files() if previous else {}
        seen: dict[str, Any] = {}

        def signature(path: Path) -> list[Any] | None:
            try:
                st = path.stat()
            except FileNotFoundError:
                return None
            return [st.st_size, st.st_mtime_ns]

        def unchanged(name: str, sig: list[Any]) -> bool:
            info = stored.get(name)
            return (
                previous.get(name) == sig
                and info is not None
                and info.latest.status.value == sig[-1]
            )

        for entry in manifest.get("measurements", []):
            fname = entry["file"]
            path = folder / fname
            file_live = live and entry.get("state") == "writing" and state == "writing"
            sig = signature(path)
            if sig is None:
                raise DatasetError(f"measurement file {fname} is listed but missing")
            sig.append("live" if file_live else "complete")
            if unchanged(fname, sig):
                seen[fname] = sig
                continue
            with ctx.task(f"read {fname}"):
                try:
                    read = read_measurement(path, manifest["name"], entry.get("state", state))
                except DatasetError as exc:
                    if not (live and exc.retryable):
                        raise
                    # the writer is at it: the next live pass reads it
                    ctx.log(f"{fname} not read this pass: {exc.message}")
                    continue
            with ctx.task(f"upload {fname} ({read.points} points)"):
                ctx.upload_xarray(read.ds, name=fname, generator=GENERATOR, live=file_live)
            seen[fname] = sig
        for entry in manifest.get("files", []):
            fname = entry["file"]
            path = folder / fname
            sig = signature(path)
            if sig is None:
                raise DatasetError(f"file {fname} is listed in the manifest but missing")
            sig.append("complete")
            if unchanged(fname, sig):
                seen[fname] = sig
                continue
            with ctx.task(f"upload {fname}"):
                ctx.upload_file(path, name=fname, generator=GENERATOR)
            seen[fname] = sig
        ctx.save_state({"files": seen})


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
