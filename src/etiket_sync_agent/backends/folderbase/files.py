"""Which files of a dataset folder are uploaded, under which names — safely.

* Hidden entries (``.name``) and the info file are skipped, as are ``skip`` globs
  (matched against the "/"-separated relative path and against the file name).
* A folder whose name has a suffix (``x.zarr``, ``run.npz.d``) is one archived file.
* Symlinks are followed only when their target stays inside the dataset folder and does
  not lead back into a folder being walked (``self -> .``, ``up -> ../<dataset>``);
  broken links, link loops (``a -> b -> a``) and links leaving the dataset are skipped
  with a warning that says which. Nothing outside the dataset is ever read.
* Only regular files are read: a FIFO, socket or device is skipped with a warning (it
  is never opened: opening a FIFO blocks until someone writes to it).
* A name that is not valid UTF-8 is stored under its :func:`safe_name` (bad bytes as
  ``%XX``) and a warning records the original bytes; a ``\\`` becomes ``%5C`` and a
  leading drive-like ``c:`` becomes ``c%3A`` (the store refuses both).
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from etiket_sync_agent.engine.scanner import safe_name
from etiket_sync_agent.errors import DatasetError
from etiket_sync_agent.plugins.base import DATASET_INFO_FILE

#: folders deeper than this inside a dataset are skipped (with a warning)
MAX_DEPTH = 64
_ZIP_FIRST, _ZIP_LAST = 315532800, 4354819198  # 1980-01-01, 2107-12-31 (UTC)


@dataclass(frozen=True)
class DatasetFile:
    name: str  # relative, "/"-separated, valid UTF-8 (see safe_name)
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


def _link_problem(real_root: str, link: str) -> tuple[str | None, str]:
    """(why the symlink ``link`` must be skipped or None, its real target)."""
    try:
        real = os.path.realpath(link, strict=True)
    except FileNotFoundError:
        return "broken symlink (its target does not exist)", ""
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a -> b -> a
            return "symlink loop (the link points back at itself)", ""
        return f"symlink cannot be followed ({exc.strerror or exc})", ""
    except RuntimeError:  # pragma: no cover - older Pythons report loops this way
        return "symlink loop (the link points back at itself)", ""
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        return "symlink points outside the dataset folder", real
    return None, real


def _skipped(rel: str, patterns: list[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _named(rel: str, warnings: list[str]) -> str:
    """The store name of the file at ``rel``: valid UTF-8 (see safe_name), without the
    backslash or drive prefix (``c:``) the store refuses; a warning says when it differs."""
    safe = safe_name(rel)
    if safe != rel:
        raw = os.fsencode(rel)
        warnings.append(
            f"{safe}: the name is not valid UTF-8; stored as {safe!r} (original bytes {raw!r})"
        )
    stored = safe.replace("\\", "%5C")
    if len(stored) > 1 and stored[1] == ":" and stored[0].isalpha():
        stored = stored[0] + "%3A" + stored[2:]
    if stored != safe:
        warnings.append(f"{safe}: stored as {stored!r} (the store refuses '\\' and drive names)")
    return stored


def collect_files(root: Path, skip: list[str]) -> tuple[list[DatasetFile], list[str]]:
    """The files to upload (sorted by name) and warnings about what was left out.

    The dataset folder itself must be listable (else ``OSError``); a sub-folder that is
    not is skipped with a warning."""
    files: list[DatasetFile] = []
    warnings: list[str] = []
    real_root = os.path.realpath(root)
    # (folder, relative prefix, real paths of the folders walked to get there)
    stack: list[tuple[Path, str, frozenset[str]]] = [(root, "", frozenset([real_root]))]
    while stack:
        folder, prefix, walked = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            if not prefix:
                raise
            warnings.append(f"skipped {safe_name(prefix)}: cannot list it ({exc.strerror})")
            continue
        for e in entries:
            rel = prefix + e.name
            if e.name.startswith(".") or rel == DATASET_INFO_FILE or _skipped(rel, skip):
                continue
            p = Path(e.path)
            real = None
            if e.is_symlink():
                problem, real = _link_problem(real_root, e.path)
                if problem:
                    warnings.append(f"skipped {safe_name(rel)}: {problem}")
                    continue
            try:
                mode = e.stat().st_mode  # follows an (accepted) symlink
            except OSError as exc:
                warnings.append(f"skipped {safe_name(rel)}: {exc.strerror or exc}")
                continue
            if stat.S_ISDIR(mode):
                real = real or os.path.realpath(e.path)
                if real in walked:
                    back = os.path.relpath(real, real_root)
                    into = "the dataset folder" if back == "." else repr(safe_name(back))
                    warnings.append(
                        f"skipped {safe_name(rel)}: symlink loop (it leads back into {into})"
                    )
                    continue
                if Path(e.name).suffix:
                    files.append(DatasetFile(_named(rel, warnings) + ".zip", p, is_archive=True))
                elif prefix.count("/") >= MAX_DEPTH:
                    warnings.append(f"skipped {safe_name(rel)}: more than {MAX_DEPTH} levels deep")
                else:
                    stack.append((p, rel + "/", walked | {real}))
            elif stat.S_ISREG(mode):
                files.append(DatasetFile(_named(rel, warnings), p))
            else:
                warnings.append(f"skipped {safe_name(rel)}: {_kind(mode)}, not a file")
    files.sort(key=lambda f: f.name)
    return files, warnings


def resolve_globs(
    root: Path, patterns: list[str], files: list[DatasetFile]
) -> tuple[list[str], list[str]]:
    """Names of ``files`` (the dataset's regular files, from :func:`collect_files`) that
    thumbnail patterns match, and warnings for unsafe or unmatched patterns.

    Patterns match relative "/"-separated names; ``*`` stays within one folder, a
    leading ``**/`` matches any number of folders. Nothing is listed again: a pattern can
    only name what :func:`collect_files` accepted."""
    names: list[str] = []
    warnings: list[str] = []
    candidates = [f.name for f in files if not f.is_archive]
    for pattern in patterns:
        if os.path.isabs(pattern) or ".." in Path(pattern).parts:
            warnings.append(f"thumbnail {pattern!r} ignored: it leaves the dataset folder")
            continue
        pattern = pattern.replace("\\", "/").removeprefix("./")
        found = [n for n in candidates if _glob_match(n, pattern)]
        if not found:
            warnings.append(f"thumbnail {pattern!r} matches no file")
        for rel in found:
            if rel not in names:
                names.append(rel)
    return names, warnings


def _glob_match(name: str, pattern: str) -> bool:
    if pattern.startswith("**/"):
        rest = pattern[3:]
        parts = name.split("/")
        return any(_glob_match("/".join(parts[i:]), rest) for i in range(len(parts)))
    return name.count("/") == pattern.count("/") and fnmatch.fnmatchcase(name, pattern)


def open_regular(path: Path | str) -> int:
    """A read-only file descriptor of ``path``, which must be a regular file.

    Opened non-blocking, so a FIFO never blocks us (its type is then refused), and
    checked with ``fstat`` after opening, so a file swapped for a FIFO meanwhile is
    caught too. ``DatasetError`` (not retryable) for anything else; ``OSError`` as is."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise DatasetError(
                f"{safe_name(os.fspath(path))} is {_kind(mode)}, not a file: not read",
                hint="remove it or move it out of the dataset folder",
                retryable=False,
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def archive_folder(folder: Path, target: Path, warnings: list[str] | None = None) -> Path:
    """Zip ``folder`` into ``target`` reproducibly (same content -> same bytes).

    Entries are sorted and carry their file mtimes, so an unchanged folder gives an
    identical archive and is not stored again. Only regular files are archived: symlinks
    leaving the folder, broken ones, FIFOs, sockets and devices are skipped (reported in
    ``warnings``); sub-folder symlinks are not followed."""
    warnings = warnings if warnings is not None else []
    real_root = os.path.realpath(folder)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as zf:

        def unlisted(exc: OSError) -> None:
            where = os.path.relpath(exc.filename or folder, folder.parent)
            warnings.append(f"skipped {safe_name(where)}: cannot list it ({exc.strerror})")

        for dirpath, dirnames, filenames in os.walk(folder, onerror=unlisted):
            dirnames.sort()
            for fn in sorted(filenames):
                p = Path(dirpath) / fn
                rel = p.relative_to(folder).as_posix()
                shown = f"{safe_name(folder.name)}/{safe_name(rel)}"
                if p.is_symlink():
                    problem, _ = _link_problem(real_root, os.fspath(p))
                    if problem:
                        warnings.append(f"skipped {shown}: {problem}")
                        continue
                try:
                    st = p.stat()
                except OSError as exc:
                    warnings.append(f"skipped {shown}: {exc.strerror or exc}")
                    continue
                if not stat.S_ISREG(st.st_mode):
                    warnings.append(f"skipped {shown}: {_kind(st.st_mode)}, not a file")
                    continue
                # zip dates span 1980..2107: a file dated outside (a wrong clock) is clamped
                stamp = min(max(st.st_mtime, _ZIP_FIRST), _ZIP_LAST)
                dt = datetime.fromtimestamp(stamp, tz=timezone.utc)
                info = zipfile.ZipInfo(safe_name(rel), date_time=dt.timetuple()[:6])
                info.external_attr = 0o644 << 16
                fd = open_regular(p)
                with os.fdopen(fd, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
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
