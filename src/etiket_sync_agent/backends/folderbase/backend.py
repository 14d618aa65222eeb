"""The folderbase backend: folders annotated with ``_QH_dataset_info.yaml``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from etiket_sync_agent.backends.folderbase.dataset_info import read_dataset_info
from etiket_sync_agent.backends.folderbase.files import (
    archive_folder,
    collect_files,
    file_signature,
    resolve_globs,
)
from etiket_sync_agent.errors import ConfigError, DatasetError, PluginError
from etiket_sync_agent.plugins.base import FileBackend
from etiket_sync_agent.plugins.context import SyncContext
from etiket_sync_agent.plugins.items import ScopeRequirement, SyncItem

GENERATOR = "etiket_sync_agent.folderbase"


@dataclass
class FolderBaseConfig:
    root_directory: Path = field(metadata={"help": "folder under which datasets are found"})
    is_server_folder: bool = field(
        default=False,
        metadata={"help": "a network/server folder: poll instead of file-system events"},
    )

    def validate(self) -> None:
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
        folder = item.path
        assert folder is not None
        if not folder.is_dir():
            raise DatasetError(f"dataset folder {folder} disappeared", retryable=False)
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
        with ctx.task("create dataset"):
            ctx.create_or_update_dataset(
                name=info.dataset_name,
                alt_uid=f"folder:{folder.resolve()}",
                description=info.description,
                collected=info.collected,
                tags=info.tags,
                attributes=info.attributes,
            )
        files, warnings = collect_files(folder, info.skip)
        for w in warnings:
            ctx.warn(w)
        thumbs, warnings = resolve_globs(folder, info.thumbnails)
        for w in warnings:
            ctx.warn(w)
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
        with ctx.task(f"upload {len(files)} file(s)"), ctx.scratch_dir() as scratch:
            for f in files:
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
                    archive = archive_folder(f.path, scratch / Path(f.name).name)
                    ctx.upload_file(archive, name=f.name, file_type="ZIP", generator=GENERATOR)
                    archive.unlink()
                    continue
                if unchanged:
                    skipped += 1
                else:
                    ctx.upload_file(
                        f.path,
                        name=f.name,
                        file_type="THUMBNAIL" if f.name in thumbs else None,
                    )
                for conv_name, conv in converters.items():
                    if not conv.matches(f.path):
                        continue
                    expected = _converted_name(f.name, conv.input_type, conv.output_type, names)
                    if unchanged and expected in stored:
                        names.add(expected)
                        continue
                    out = ctx.convert(conv_name, f.path, scratch)
                    target = _converted_name(f.name, conv.input_type, out.suffix, names)
                    names.add(target)
                    ctx.upload_file(out, name=target, generator=conv_name)
                    out.unlink(missing_ok=True)
            if skipped:
                ctx.log(f"{skipped} file(s) unchanged since the last sync: not read again")
        ctx.save_state({"files": seen})


def _converted_name(name: str, input_type: str, out_suffix: str, taken: set[str]) -> str:
    stem = name[: -len(input_type)] if name.lower().endswith(input_type.lower()) else name
    candidate = stem + out_suffix
    return candidate if candidate not in taken else name + out_suffix
