"""The folderbase backend: folders annotated with ``_QH_dataset_info.yaml``.

A dataset's identity in the store (``alt_uid``) is its folder's absolute path,
``folder:<path>``, as it always was; a path that does not fit the store's 255 characters
(or is not valid UTF-8) becomes ``folder-sha256:<hex digest of the path's bytes>``. Both
are computed from the path alone, never from the content, so editing a dataset never
makes a new one, and datasets synchronized before keep their identity. With a digest,
the path itself is kept as the attribute ``folder_path``. Moving or renaming a dataset
folder (or the root) makes it a new dataset; the old one stays in the store.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from etiket_sync_agent.backends.folderbase.dataset_info import read_dataset_info
from etiket_sync_agent.backends.folderbase.files import (
    archive_folder,
    collect_files,
    file_signature,
    resolve_globs,
)
from etiket_sync_agent.engine.scanner import identifier_path, safe_name
from etiket_sync_agent.errors import ConfigError, DatasetError, PluginError
from etiket_sync_agent.plugins.base import FileBackend
from etiket_sync_agent.plugins.context import SyncContext, run_converter
from etiket_sync_agent.plugins.items import ScopeRequirement, SyncItem

GENERATOR = "etiket_sync_agent.folderbase"
MAX_ALT_UID = 255  # the store's limit
PATH_ATTRIBUTE = "folder_path"
UPLOAD_GROUP = 256  # plain files stored per catalog transaction


def folder_alt_uid(folder: Path) -> str:
    """The dataset identity of ``folder`` (absolute): see the module docstring."""
    path = os.fspath(folder)
    plain = f"folder:{path}"
    if len(plain) <= MAX_ALT_UID and safe_name(path) == path:
        return plain
    return "folder-sha256:" + hashlib.sha256(os.fsencode(path)).hexdigest()


@dataclass
class FolderBaseConfig:
    root_directory: Path = field(metadata={"help": "folder under which datasets are found"})
    is_server_folder: bool = field(
        default=False,
        metadata={"help": "a network/server folder: poll instead of file-system events"},
    )

    def validate(self) -> None:
        if not str(self.root_directory).strip():
            raise ConfigError("root_directory is empty", hint="give the folder to synchronize")
        self.root_directory = Path(self.root_directory).expanduser().resolve()
        if not self.root_directory.is_dir():
            raise ConfigError(
                f"root_directory {self.root_directory} does not exist or is not a folder"
            )


class FolderBaseBackend(FileBackend):
    """Every folder under the root that holds ``_QH_dataset_info.yaml`` is a dataset."""

    sync_agent_name = "folderbase"
    config_class = FolderBaseConfig
    scope_requirement = ScopeRequirement.REQUIRED
    supports_scope_mapping = False
    live_sync_implemented = False
    level = -1
    is_single_file = False

    config: FolderBaseConfig

    def root_path(self) -> Path:
        return Path(self.config.root_directory)

    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        folder = identifier_path(self.root_path(), item.identifier)
        if not folder.is_dir():
            raise DatasetError(
                f"dataset folder {safe_name(str(folder))} disappeared", retryable=False
            )
        with ctx.task("read dataset info"):
            info = read_dataset_info(folder)
            for key in info.unknown_keys:
                ctx.warn(f"unknown field {key!r} in the dataset info file ignored")
        with ctx.task("resolve converters"):
            converters = {}
            for name in info.converters:
                try:
                    converters[name] = ctx.converter(name)
                except PluginError as exc:
                    raise DatasetError(exc.message, hint=exc.hint, retryable=False) from None
        with ctx.task("list files"):  # before the dataset exists: an unlistable folder
            files, warnings = collect_files(folder, info.skip)  # leaves nothing behind
            thumbs, more = resolve_globs(folder, info.thumbnails, files)
        for w in warnings + more:
            ctx.warn(w)
        with ctx.task("create dataset"):
            real = folder.resolve()
            shown = safe_name(str(real))
            if shown != str(real):
                ctx.warn(
                    f"the folder path is not valid UTF-8: shown as {shown!r}"
                    f" (original bytes {os.fsencode(real)!r})"
                )
            alt_uid = folder_alt_uid(real)
            ctx.create_or_update_dataset(
                name=info.dataset_name,
                alt_uid=alt_uid,
                description=info.description,
                collected=info.collected,
                tags=info.tags,
                attributes=_with_path(info.attributes, alt_uid, shown),
            )
        names = {f.name for f in files}
        # files unchanged since the last successful sync (same size and mtime) and still
        # complete in the store are not read again, nor are their conversions redone
        previous: dict = dict(item.state.get("files", {}))
        stored = {
            name
            for name, info in ctx.stored_files().items()
            if info.latest.status.value == "complete"
        }
        seen: dict[str, list[int]] = {}
        skipped = 0
        uploaded = 0
        # plain files go to the store in groups: one catalog transaction per group
        group: list[tuple[Path, str, str | None]] = []
        with ctx.task(f"upload {len(files)} file(s)") as task, ctx.scratch_dir() as scratch:
            for f in files:
                if len(group) >= UPLOAD_GROUP:
                    ctx.upload_files(group)
                    group.clear()
                sig = file_signature(f)
                if sig is not None:  # a file that becomes (or stops being) a thumbnail
                    sig.append(int(f.name in thumbs))
                unchanged = sig is not None and previous.get(f.name) == sig and f.name in stored
                if sig is not None:
                    seen[f.name] = sig
                if f.is_archive:
                    if unchanged:
                        skipped += 1
                        continue
                    archived: list[str] = []
                    archive = archive_folder(f.path, scratch / Path(f.name).name, archived)
                    for w in archived:
                        ctx.warn(w)
                    ctx.upload_file(archive, name=f.name, file_type="ZIP", generator=GENERATOR)
                    uploaded += 1
                    archive.unlink()
                    continue
                if unchanged:
                    skipped += 1
                else:
                    group.append((f.path, f.name, "THUMBNAIL" if f.name in thumbs else None))
                    uploaded += 1
                for conv_name, conv in converters.items():
                    if not conv.matches(f.path):
                        continue
                    expected = _converted_name(f.name, conv.input_type, conv.output_type, names)
                    if unchanged and expected in stored:
                        names.add(expected)
                        continue
                    out = run_converter(conv_name, conv, f.path, scratch)
                    target = _converted_name(f.name, conv.input_type, out.suffix, names)
                    names.add(target)
                    ctx.upload_file(out, name=target, generator=conv_name)
                    uploaded += 1
                    out.unlink(missing_ok=True)
            if group:
                ctx.upload_files(group)
            # the count is known only now (conversions add files, unchanged ones are skipped)
            task.name = f"upload {uploaded} file(s)"
            if skipped:
                ctx.log(f"{skipped} file(s) unchanged since the last sync: not read again")
        ctx.save_state({"files": seen})


def _with_path(attributes: dict, alt_uid: str, path: str) -> dict:
    """The info file's attributes, plus the folder's path when ``alt_uid`` is a digest
    (a path-based ``alt_uid`` already names the folder)."""
    if alt_uid.startswith("folder:"):
        return attributes
    return {PATH_ATTRIBUTE: path, **attributes}


def _converted_name(name: str, input_type: str, out_suffix: str, taken: set[str]) -> str:
    stem = name[: -len(input_type)] if name.lower().endswith(input_type.lower()) else name
    candidate = stem + out_suffix
    return candidate if candidate not in taken else name + out_suffix
