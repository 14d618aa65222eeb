"""Level-aware folder scans: which datasets exist under a root, with a fingerprint each.

The scan is the truth (watch events are only hints). It never follows symlinks, skips
hidden entries, and reads directories with ``os.scandir`` only: a dataset's fingerprint
is a digest of the relative names, sizes and mtimes of its files, so a dataset whose
content changed gets a new fingerprint and is synchronized again.

Names that are not valid UTF-8 (bytes a Linux file system allows) cannot be stored
or shown as they are: :func:`safe_name` writes their bad bytes as ``%XX`` (identifiers,
file names in the store) and :func:`identifier_path` finds the real path again.

A folder below the root that cannot be listed (no read permission) is reported as a
dataset candidate whose fingerprint says "unreadable" when it holds, or may hold, the
marker: its item then shows the error (``items``/``status``) instead of the log only, and
a scan after the permission is fixed sees a new fingerprint and synchronizes it.

Candidates are filtered by the backend's ``accepts`` (``accept``); None means the default
rule of :func:`default_accept`, applied to the name without building a Path.

``level``: -1 = every folder holding the marker file (``_QH_dataset_info.yaml``), whose
sub-folders belong to it; N >= 1 = the entries at depth N below the root (folders, or
files when ``single_file``); 0 (``single_file`` only) = every regular file at any depth,
in every folder whose name does not start with ``.`` or ``_`` (symlinks, FIFOs, devices
are never candidates, so nothing but a regular file is ever stat'ed as a dataset).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from etiket_sync_agent.plugins.base import DATASET_INFO_FILE, default_accept


@dataclass(frozen=True)
class ScanHit:
    identifier: str  # path relative to the root, "/"-separated
    fingerprint: str
    mtime: float  # newest mtime seen in the dataset (its priority: newest first)


@dataclass
class ScanResult:
    hits: list[ScanHit] = field(default_factory=list)
    n_dirs: int = 0  # folders visited (what an inotify watcher would need)
    errors: list[str] = field(default_factory=list)
    #: mtime_ns of every folder listed (when asked for): polls stat them to find changes
    dir_mtimes: dict[str, int] | None = None


def _hidden(name: str) -> bool:
    return name.startswith(".")


def safe_name(name: str) -> str:
    """``name`` as valid UTF-8 text: unchanged if it is; else every byte that is not valid
    UTF-8 (a surrogate from ``os.fsdecode``) is written ``%XX`` and ``%`` as ``%25``, so
    :func:`identifier_path` can find the real name again."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        pass
    out = []
    for ch in name:
        if "\udc80" <= ch <= "\udcff":
            out.append(f"%{ord(ch) - 0xDC00:02X}")
        elif ch == "%":
            out.append("%25")
        elif "\ud800" <= ch <= "\udfff":  # a surrogate no POSIX file system produces
            out.append(f"%u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def identifier_path(root: Path, identifier: str) -> Path:
    """The path of the dataset ``identifier`` (a :func:`safe_name`) below ``root``.

    A name that really is ``identifier`` wins over the escaped name it resembles."""
    path = root / identifier
    if "%" not in identifier or os.path.lexists(path):
        return path
    from urllib.parse import unquote_to_bytes

    return root / os.fsdecode(unquote_to_bytes(identifier))


def fingerprint_entries(
    root: str, entries: list[os.DirEntry[str]], result: ScanResult
) -> tuple[str, float]:
    """Digest of every non-hidden file under ``root`` (given its own entries)."""
    lines: list[str] = []
    newest = 0.0
    stack: list[tuple[str, list[os.DirEntry[str]]]] = [("", entries)]
    while stack:
        prefix, ents = stack.pop()
        for e in sorted(ents, key=lambda e: e.name):
            if _hidden(e.name):
                continue
            rel = prefix + e.name
            try:
                if e.is_dir(follow_symlinks=False):
                    result.n_dirs += 1
                    try:
                        with os.scandir(e.path) as it:
                            stack.append((rel + "/", list(it)))
                        if result.dir_mtimes is not None:
                            result.dir_mtimes[e.path] = e.stat(follow_symlinks=False).st_mtime_ns
                    except OSError as exc:
                        result.errors.append(f"{safe_name(e.path)}: {exc.strerror or exc}")
                        lines.append(f"{rel}\0unreadable\n")
                    continue
                st = e.stat(follow_symlinks=False)
            except OSError:  # vanished between listing and stat: the next scan sees it
                continue
            lines.append(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n")
            if st.st_mtime > newest:
                newest = st.st_mtime
    # one digest of the joined lines: the same bytes as hashing line by line, faster
    # (surrogateescape: names that are not valid UTF-8 are hashed as their bytes)
    data = "".join(lines).encode("utf-8", "surrogateescape")
    return hashlib.blake2b(data, digest_size=16).hexdigest(), newest


def _list(path: str, result: ScanResult) -> list[os.DirEntry[str]] | None:
    try:
        if result.dir_mtimes is not None:
            # mtime first: a change during the listing then shows at the next poll
            result.dir_mtimes[path] = os.stat(path).st_mtime_ns
        with os.scandir(path) as it:
            return list(it)
    except FileNotFoundError:
        return None
    except OSError as exc:
        result.errors.append(f"{safe_name(path)}: {exc.strerror or exc}")
        return None


def _unreadable_hit(root: str, path: str, result: ScanResult) -> None:
    """Report the folder ``path``, which cannot be listed, as a dataset candidate: its
    item shows why it fails. The fingerprint changes when its permissions or mtime do."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return  # vanished: nothing to report
    fp = hashlib.blake2b(
        f"unreadable\0{st.st_mode}\0{st.st_mtime_ns}".encode(), digest_size=16
    ).hexdigest()
    result.hits.append(ScanHit(safe_name(_rel(root, path)), fp, st.st_mtime))


def _may_hold(folder: str, marker: str) -> bool:
    """Whether an unlistable ``folder`` holds ``marker`` — or may: True when even that
    cannot be checked (no search permission either). ``lost+found`` is never a dataset."""
    if os.path.basename(folder) == "lost+found":
        return False
    try:
        os.stat(os.path.join(folder, marker), follow_symlinks=False)
        return True
    except OSError as exc:
        return exc.errno in (errno.EACCES, errno.EPERM)


def _rel(root: str, path: str) -> str:
    """``path`` relative to ``root`` (a prefix of it: scans only build paths below root)."""
    rel = path[len(root) :].lstrip(os.sep)
    return rel.replace(os.sep, "/") if os.sep != "/" else rel


def scan(
    root: Path,
    level: int,
    *,
    single_file: bool = False,
    marker: str = DATASET_INFO_FILE,
    accept: Callable[[Path], bool] | None = None,
    start: Path | None = None,
    folder_mtimes: bool = False,
) -> ScanResult:
    """Scan ``root`` (or only the sub-tree ``start`` inside it) for datasets.

    ``folder_mtimes``: also record every listed folder's mtime (for cheap polls).
    """
    if level == 0 and not single_file:
        raise ValueError("level 0 (files at any depth) needs single_file=True")
    result = ScanResult(dir_mtimes={} if folder_mtimes else None)
    root_s = os.fspath(root)
    start_s = os.fspath(start) if start is not None else root_s
    if level == -1:
        _scan_marker(root_s, start_s, marker, accept, result)
    elif level == 0:
        _scan_any_depth(root_s, start_s, accept, result)
    else:
        depth = 0 if start_s == root_s else len(Path(_rel(root_s, start_s)).parts)
        if depth >= level:
            if depth == level:
                _candidate(root_s, start_s, single_file, accept, result)
        else:
            _scan_level(root_s, start_s, depth, level, single_file, accept, result)
    return result


def _scan_marker(
    root: str, start: str, marker: str, accept: Callable[[Path], bool] | None, result: ScanResult
) -> None:
    stack = [start]
    while stack:
        d = stack.pop()
        entries = _list(d, result)
        if entries is None:
            if d != root and _may_hold(d, marker) and _accepted(d, accept):
                _unreadable_hit(root, d, result)
            continue
        result.n_dirs += 1
        if d != root and any(e.name == marker for e in entries):
            if _accepted(d, accept):
                fp, newest = fingerprint_entries(d, entries, result)
                result.hits.append(ScanHit(safe_name(_rel(root, d)), fp, newest))
            continue
        for e in entries:
            if not _hidden(e.name) and e.is_dir(follow_symlinks=False):
                stack.append(e.path)


def _scan_level(
    root: str,
    start: str,
    depth: int,
    level: int,
    single_file: bool,
    accept: Callable[[Path], bool] | None,
    result: ScanResult,
) -> None:
    stack = [(start, depth)]
    while stack:
        d, dep = stack.pop()
        entries = _list(d, result)
        if entries is None:
            continue
        result.n_dirs += 1
        for e in entries:
            if _hidden(e.name):
                continue
            try:
                is_dir = e.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if dep + 1 < level:
                if is_dir:
                    stack.append((e.path, dep + 1))
                continue
            if is_dir != single_file:
                _candidate(root, e.path, single_file, accept, result)


def _skipped_folder(name: str) -> bool:
    """Folders a level-0 walk does not enter (the names :func:`default_accept` refuses)."""
    return name.startswith((".", "_"))


def _scan_any_depth(
    root: str, start: str, accept: Callable[[Path], bool] | None, result: ScanResult
) -> None:
    """Level 0: every regular file below ``start`` (a folder, or one file) is a candidate."""
    if start != root:
        try:
            mode = os.stat(start, follow_symlinks=False).st_mode
        except OSError:
            return  # vanished: the full scan forgets it
        if stat.S_ISREG(mode):
            _candidate(root, start, True, accept, result)
            return
        if not stat.S_ISDIR(mode):
            return  # a symlink, FIFO, socket or device: never a dataset
    stack = [start]
    while stack:
        d = stack.pop()
        entries = _list(d, result)
        if entries is None:
            continue
        result.n_dirs += 1
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    if not _skipped_folder(e.name):
                        stack.append(e.path)
                elif e.is_file(follow_symlinks=False):  # regular files only
                    _candidate(root, e.path, True, accept, result)
            except OSError:  # vanished between listing and its type check
                continue


def _candidate(
    root: str,
    path: str,
    single_file: bool,
    accept: Callable[[Path], bool] | None,
    result: ScanResult,
) -> None:
    """Fingerprint one dataset candidate (a folder, or a file when ``single_file``)."""
    if not _accepted(path, accept):
        return
    if not single_file:
        sub = _list(path, result)
        if sub is None:
            if os.path.isdir(path):  # there but unreadable: its item says so
                _unreadable_hit(root, path, result)
            return
        result.n_dirs += 1
        fp, newest = fingerprint_entries(path, sub, result)
    else:
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            return
        fp = hashlib.blake2b(f"{st.st_size}\0{st.st_mtime_ns}".encode(), digest_size=16).hexdigest()
        newest = st.st_mtime
    result.hits.append(ScanHit(safe_name(_rel(root, path)), fp, newest))


def _accepted(path: str, accept: Callable[[Path], bool] | None) -> bool:
    if accept is None:
        return default_accept(os.path.basename(path))
    return accept(Path(path))


def changed_dirs(dir_mtimes: dict[str, int]) -> list[Path]:
    """Folders whose mtime changed (entries created, removed or renamed); folders that
    vanished are dropped from ``dir_mtimes`` (their parents changed too).

    One ``stat`` per folder: far cheaper than a scan, blind to files rewritten in place
    (the periodic full scan catches those).
    """
    changed = []
    vanished = []
    for path, mtime in dir_mtimes.items():
        try:
            if os.stat(path).st_mtime_ns != mtime:
                changed.append(Path(path))
        except OSError:
            vanished.append(path)
    for path in vanished:
        del dir_mtimes[path]
    return changed


def dataset_roots_for(
    root: Path, level: int, paths: Iterable[Path], marker: str = DATASET_INFO_FILE
) -> set[Path]:
    """Where to rescan for changed paths: the dataset each path belongs to, or the
    sub-tree a new folder brings (level 0: a file is its own dataset, a folder its
    sub-tree). Paths outside ``root`` are ignored."""
    out: set[Path] = set()
    root = Path(os.path.abspath(root))
    for p in paths:
        p = Path(os.path.abspath(p))
        if p == root or root not in p.parents:
            if p == root:
                out.add(root)
            continue
        rel_parts = p.relative_to(root).parts
        if level == 0:
            # the file itself (accepts decides on it), or the sub-tree of a folder
            if any(_skipped_folder(part) for part in rel_parts[:-1]):
                continue
            if p.is_dir():
                if not _skipped_folder(rel_parts[-1]):
                    out.add(p)
            elif not _hidden(rel_parts[-1]):
                out.add(p)
            continue
        if any(_hidden(part) for part in rel_parts):
            continue
        if level >= 1:
            if len(rel_parts) >= level:
                out.add(root.joinpath(*rel_parts[:level]))
            else:
                out.add(p if p.is_dir() else p.parent)
            continue
        # level -1: the outermost ancestor holding the marker (datasets do not nest),
        # else the new folder itself
        cur = p if p.is_dir() else p.parent
        found = None
        while cur != root and root in cur.parents:
            if (cur / marker).is_file():
                found = cur
            cur = cur.parent
        if found is not None:
            out.add(found)
        elif p.is_dir():
            out.add(p)
    # drop paths inside other paths of the set
    return {p for p in out if not any(q in p.parents for q in out)}
