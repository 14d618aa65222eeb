"""Which files of a dataset folder are uploaded, under which names — safely.

* Hidden entries (``.name``) and the info file are skipped, as are ``skip`` globs
  (matched against the "/"-separated relative path and against the file name).
* A folder whose name has a suffix (``x.zarr``, ``run.npz.d``) is one archived file.
* Symlinks are followed only when their target stays inside the dataset folder;
  others are skipped with a warning. Nothing outside the dataset is ever read.
"""

from __future__ import annotations

import fnmatch
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from etiket_sync_agent.plugins.base import DATASET_INFO_FILE


@dataclass(frozen=True)
class DatasetFile:
    name: str  # relative, "/"-separated
    path: Path
    is_archive: bool = False  # a folder to upload as one zip


def inside(root: Path, candidate: Path) -> bool:
    """Whether ``candidate`` (resolved, symlinks included) lies inside ``root``."""
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    real_root = root.resolve()
    return real == real_root or real_root in real.parents


def _skipped(rel: str, patterns: list[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def collect_files(root: Path, skip: list[str]) -> tuple[list[DatasetFile], list[str]]:
    """The files to upload (sorted by name) and warnings about what was left out."""
    files: list[DatasetFile] = []
    warnings: list[str] = []
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            rel = prefix + e.name
            if e.name.startswith(".") or rel == DATASET_INFO_FILE or _skipped(rel, skip):
                continue
            p = Path(e.path)
            if e.is_symlink() and not inside(root, p):
                warnings.append(f"skipped {rel}: symlink points outside the dataset folder")
                continue
            if e.is_dir():
                if Path(e.name).suffix:
                    files.append(DatasetFile(rel + ".zip", p, is_archive=True))
                else:
                    stack.append((p, rel + "/"))
            elif e.is_file():
                files.append(DatasetFile(rel, p))
    files.sort(key=lambda f: f.name)
    return files, warnings


def resolve_globs(root: Path, patterns: list[str]) -> tuple[list[str], list[str]]:
    """Relative names matched by thumbnail patterns, and warnings for unsafe ones."""
    names: list[str] = []
    warnings: list[str] = []
    for pattern in patterns:
        if os.path.isabs(pattern) or ".." in Path(pattern).parts:
            warnings.append(f"thumbnail {pattern!r} ignored: it leaves the dataset folder")
            continue
        matches = sorted(root.glob(pattern))
        if not matches:
            warnings.append(f"thumbnail {pattern!r} matches no file")
        for m in matches:
            if not m.is_file() or not inside(root, m):
                warnings.append(f"thumbnail {pattern!r} ignored: not a file inside the dataset")
                continue
            rel = m.relative_to(root).as_posix()
            if rel not in names:
                names.append(rel)
    return names, warnings


def archive_folder(folder: Path, target: Path) -> Path:
    """Zip ``folder`` into ``target`` reproducibly (same content -> same bytes).

    Entries are sorted and carry their file mtimes, so an unchanged folder gives an
    identical archive and is not stored again. Symlinks leaving the folder are skipped.
    """
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as zf:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames.sort()
            for fn in sorted(filenames):
                p = Path(dirpath) / fn
                if p.is_symlink() and not inside(folder, p):
                    continue
                rel = p.relative_to(folder).as_posix()
                st = p.stat()
                from datetime import datetime, timezone

                dt = datetime.fromtimestamp(max(st.st_mtime, 315532800), tz=timezone.utc)
                info = zipfile.ZipInfo(rel, date_time=dt.timetuple()[:6])
                info.external_attr = 0o644 << 16
                with open(p, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
    return target


def file_signature(f: DatasetFile) -> list[int] | None:
    """What changes when a file (or an archived folder) changes: size and mtime, for a
    folder its file count, total size and newest mtime. None if it cannot be read."""
    try:
        if not f.is_archive:
            st = f.path.stat()
            return [st.st_size, st.st_mtime_ns]
        count = total = newest = 0
        for folder, dirs, names in os.walk(f.path):
            newest = max(newest, os.stat(folder).st_mtime_ns)
            dirs.sort()
            for name in names:
                st = os.lstat(os.path.join(folder, name))
                count, total, newest = count + 1, total + st.st_size, max(newest, st.st_mtime_ns)
        return [count, total, newest]
    except OSError:
        return None
