"""Content-addressed blobs on disk: ``<root>/blobs/ab/<sha256>``.

One level of 256 folders, as git does: a new blob rarely needs a new folder (which costs
a ``mkdir`` and an fsync of the parent), and a million blobs are ~4k per folder.

Writing is two steps so that the catalog can decide in between:

1. :meth:`BlobStore.stage` copies the source into ``<root>/tmp`` while hashing the very
   bytes it writes (one read pass, 1 MiB chunks read into reused buffers; big files are
   hashed by a helper thread while this one copies), checks that a path source did not
   change or vanish while it was read, and syncs the temp file if the content is new;
2. :meth:`StagedBlob.place` links the temp file to its final name (a no-op when that
   content is already stored) and fsyncs the folder.

The temp file is removed when the ``stage`` block exits, whatever happened, so neither
success nor failure leaves temp files behind. A blob is immutable once placed; it is
deleted only by :meth:`BlobStore.delete`, which the catalog calls when no file version
refers to the content any more.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from etiket_sync_agent.errors import StoreError
from etiket_sync_agent.store.blob_interface import BlobStorage, StagedContent, StagedGroup

CHUNK = 1 << 20
PIPELINE_MIN_SIZE = 8 * CHUNK  # smaller files are hashed inline
WRITEBACK_EVERY = 32 << 20
_N_BUFFERS = 4
_SHA_RE = re.compile(r"[0-9a-f]{64}")


@dataclass
class StagedBlob(StagedContent):
    """Content copied into a temp file and hashed, not yet in the store."""

    store: BlobStore
    sha256: str
    size: int
    tmp: Path
    synced: bool = field(default=False)
    #: folders whose fsync is left to the group (:meth:`StagedBlobGroup.sync`); None: now
    pending_dirs: set[Path] | None = field(default=None)

    def place(self) -> bool:
        """Make the content available as its blob. Returns whether a new blob was written.

        Idempotent (may be called again if the catalog transaction is retried).
        """
        dest = self.store.path(self.sha256)
        if dest.exists():
            return False
        if not self.synced:
            _fsync_path(self.tmp)
            self.synced = True
        created = _makedirs(dest.parent)
        try:
            # a hard link keeps the temp file, so a retried transaction can place it again
            os.link(self.tmp, dest)
        except FileExistsError:
            return False
        except OSError:  # file systems without hard links
            if not self.tmp.exists():
                raise StoreError(
                    f"staged content {self.sha256} was lost before it was stored"
                ) from None
            os.replace(self.tmp, dest)
        # the blob's directory entry, and the entries of folders made for it
        folders = [dest.parent, *(folder.parent for folder in created)]
        if self.pending_dirs is not None:
            self.pending_dirs.update(folders)
        else:
            for folder in folders:
                _fsync_dir(folder)
        return True


class StagedBlobGroup(StagedGroup):
    """Blobs staged together: their folders are fsynced once for the whole group."""

    def __init__(self, contents: list[StagedBlob], pending_dirs: set[Path]) -> None:
        super().__init__(list(contents))
        self.pending_dirs = pending_dirs

    def sync(self) -> None:
        for folder in sorted(self.pending_dirs, key=lambda p: len(p.parts), reverse=True):
            _fsync_dir(folder)
        self.pending_dirs.clear()


class BlobStore(BlobStorage):
    """Blobs under ``root/blobs``, temp files under ``root/tmp``. Safe across processes.

    The local implementation of :class:`~etiket_sync_agent.store.blob_interface.BlobStorage`.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blob_dir = root / "blobs"
        self.tmp_dir = root / "tmp"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.blob_dir / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def open(self, sha256: str) -> BinaryIO:
        """The blob opened for reading. StoreError if its content is missing."""
        try:
            return open(self.path(sha256), "rb")  # noqa: SIM115 - the caller closes it
        except FileNotFoundError:
            raise StoreError(
                f"content {sha256} is missing from the store at {self.root}",
                hint="the blob folder was changed outside etiket_sync_agent; re-sync the dataset",
            ) from None

    def describe(self) -> str:
        return str(self.blob_dir)

    @contextmanager
    def stage(self, source: Path | BinaryIO) -> Iterator[StagedBlob]:
        """Copy ``source`` into a temp file while hashing it; remove the temp file on exit.

        A path that is missing, vanishes, or changes size or mtime while it is read raises
        StoreError (nothing is staged).
        """
        # content that is probably new is synced now, outside the catalog transaction
        with hashed_copy(self.tmp_dir, source, sync_unless=self.exists) as (tmp, sha, size, synced):
            yield StagedBlob(self, sha, size, tmp, synced)

    @contextmanager
    def stage_many(self, sources: Sequence[Path | BinaryIO]) -> Iterator[StagedBlobGroup]:
        """Stage several sources: copied and hashed by a few threads at once, the kernel
        asked to start writing each back as soon as it is copied, then the new ones
        synced together (several syncs in flight let the file system share its journal
        commits), instead of one copy-and-sync after the other."""
        staged: list[tuple[Path, str, int]] = []
        try:
            # big files already keep two threads busy each (copy, hash): one at a time
            small = [size_hint(s) < PIPELINE_MIN_SIZE for s in sources]
            if len(sources) > 1 and all(small):
                staged = in_threads(lambda s: _stage_file(self.tmp_dir, s), sources, staged)
            else:
                for source in sources:
                    staged.append(_stage_file(self.tmp_dir, source))
            new = {tmp for tmp, sha, _ in staged if not self.exists(sha)}
            in_threads(_fsync_path, sorted(new), [])
            pending: set[Path] = set()
            blobs = [
                StagedBlob(self, sha, size, tmp, synced=tmp in new, pending_dirs=pending)
                for tmp, sha, size in staged
            ]
            yield StagedBlobGroup(blobs, pending)
        finally:
            for tmp, _, _ in staged:
                tmp.unlink(missing_ok=True)

    def delete(self, sha256: str) -> bool:
        """Remove a blob. The caller guarantees nothing refers to it."""
        try:
            self.path(sha256).unlink()
            return True
        except FileNotFoundError:
            return False

    def iter_blobs(self) -> Iterator[str]:
        """The sha256 of every blob on disk."""
        for path in self.blob_dir.glob("*/*"):
            if _SHA_RE.fullmatch(path.name):
                yield path.name

    def clean_tmp(self, older_than: float = 24 * 3600, dry_run: bool = False) -> int:
        """Remove temp files of processes that are gone, and any older than ``older_than``
        seconds (left by crashed processes). Returns how many were (would be) removed."""
        return clean_tmp_dir(self.tmp_dir, older_than, dry_run)


@contextmanager
def hashed_copy(
    tmp_dir: Path,
    source: Path | BinaryIO,
    sync_unless: Callable[[str], bool] | None = None,
) -> Iterator[tuple[Path, str, int, bool]]:
    """Copy ``source`` into a new temp file of ``tmp_dir`` while hashing the bytes written.

    Yields ``(temp path, sha256, size, synced)``; the file is removed when the block exits,
    whatever happened. The file is synced to disk unless ``sync_unless(sha256)`` is true
    (content already stored) or ``sync_unless`` is None. A path source that is missing,
    vanishes or changes while read raises StoreError.
    """
    tmp, fd = _new_tmp(tmp_dir)
    try:
        synced = False
        try:
            sha256, size = _fill(fd, source)
            if sync_unless is not None and not sync_unless(sha256):
                _datasync(fd)
                synced = True
        finally:
            os.close(fd)
        yield tmp, sha256, size, synced
    finally:
        tmp.unlink(missing_ok=True)


def _new_tmp(tmp_dir: Path) -> tuple[Path, int]:
    """A new temp file of this process in ``tmp_dir``, opened for writing."""
    # the writer's pid in the name: a sweep can tell a dead process's file at once
    tmp = tmp_dir / f"{os.getpid()}-{secrets.token_hex(12)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    return tmp, fd


def _fill(fd: int, source: Path | BinaryIO) -> tuple[str, int]:
    if isinstance(source, (str, os.PathLike)):
        return _copy_path(Path(source), fd)
    return _copy_stream(source, fd)


def _stage_file(tmp_dir: Path, source: Path | BinaryIO) -> tuple[Path, str, int]:
    """Copy ``source`` into a new temp file while hashing it, and start its write-back;
    ``(temp path, sha256, size)``. The temp file is removed if anything fails."""
    tmp, fd = _new_tmp(tmp_dir)
    try:
        try:
            sha256, size = _fill(fd, source)
            _start_writeback(fd, 0, 0)  # 0: to the end of the file
        finally:
            os.close(fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, sha256, size


STAGE_THREADS = 4


def in_threads(work: Callable[[Any], Any], inputs: Sequence[Any], done: list[Any]) -> list[Any]:
    """``work`` of every input by up to :data:`STAGE_THREADS` threads, appending each
    result to ``done`` as it comes (so a caller's cleanup sees every one); the first
    failure is raised once every call has ended."""
    if not inputs:
        return done
    failure: BaseException | None = None
    n = min(STAGE_THREADS, len(inputs))
    with ThreadPoolExecutor(n, thread_name_prefix="etiket-stage") as pool:
        futures = [pool.submit(work, item) for item in inputs]
        for future in futures:
            try:
                done.append(future.result())
            except BaseException as exc:  # noqa: BLE001 - raised below, after the others
                if failure is None:
                    failure = exc
                for other in futures:
                    other.cancel()
    if failure is not None:
        raise failure
    return done


def clean_tmp_dir(tmp_dir: Path, older_than: float, dry_run: bool = False) -> int:
    """Remove ``*.tmp`` files of processes that are gone, and any older than
    ``older_than`` seconds. Returns how many were (``dry_run``: would be) removed."""
    from etiket_sync_agent.locking import process_alive

    cutoff = time.time() - older_than
    removed = 0
    for path in tmp_dir.glob("*.tmp"):
        pid, sep, _ = path.name.partition("-")
        dead = bool(sep) and pid.isdigit() and not process_alive(int(pid))
        try:
            if dead or path.stat().st_mtime < cutoff:
                if not dry_run:
                    path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


def _copy_path(path: Path, out_fd: int) -> tuple[str, int]:
    with open_source(path) as src:
        before = os.fstat(src.fileno())
        sha256, size = _copy_stream(src, out_fd)
        after = os.fstat(src.fileno())
    check_unchanged(path, before, after, size)
    return sha256, size


def open_source(path: Path) -> BinaryIO:
    """``path`` opened for reading (unbuffered); StoreError saying why it cannot be."""
    try:
        return open(path, "rb", buffering=0)  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise StoreError(f"{path} does not exist (it vanished before it could be read)") from None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from exc


def check_unchanged(
    path: Path, before: os.stat_result, after: os.stat_result | None, size: int
) -> None:
    """Raise StoreError unless ``path`` is still the file ``before`` described (same
    inode, size and mtime, also ``after`` — its stat through the open handle — if given)
    and ``size`` bytes were read from it."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        raise StoreError(f"{path} vanished while being read", hint="retry later") from None
    same_file = (now.st_ino, now.st_dev) == (before.st_ino, before.st_dev)
    unchanged = all(
        (a.st_size, a.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
        for a in (after, now)
        if a is not None
    )
    if not (same_file and unchanged and size == before.st_size):
        raise StoreError(
            f"{path} changed while being read ({before.st_size} -> {now.st_size} bytes)",
            hint="it is still being written; retry later or sync it as live",
        )


def _copy_stream(src: BinaryIO, out_fd: int) -> tuple[str, int]:
    """Copy ``src`` to ``out_fd`` and hash the very bytes written; ``(sha256, size)``.

    Big files go through a two-stage pipeline: this thread reads chunk i+1 and writes
    chunk i while a helper thread hashes chunk i (hashlib and os.write release the GIL),
    and the kernel is asked to start writing back every few MiB so that the final fsync
    has little left to do. Small inputs are copied inline: a thread hop costs more.
    """
    read = _chunk_reader(src)
    if size_hint(src) < PIPELINE_MIN_SIZE:
        return _copy_inline(read, out_fd)
    return _copy_pipelined(read, out_fd)


def size_hint(source: Path | BinaryIO) -> int:
    """The size of a path or of an open file (0 when it cannot be told)."""
    try:
        if isinstance(source, (str, os.PathLike)):
            return os.stat(source).st_size
        return os.fstat(source.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return 0


def _chunk_reader(src: BinaryIO) -> Callable[[memoryview], memoryview | bytes]:
    """``read(buffer)``: the next chunk (in ``buffer`` when the source supports readinto)."""
    readinto = getattr(src, "readinto", None)
    if readinto is None:
        return lambda _buffer: src.read(CHUNK)

    def read(buffer: memoryview) -> memoryview | bytes:
        n = readinto(buffer)
        return buffer[:n] if n else b""

    return read


def _copy_inline(read: Callable[[memoryview], memoryview | bytes], out_fd: int) -> tuple[str, int]:
    digest = hashlib.sha256()
    buffer = memoryview(bytearray(CHUNK))
    size = 0
    while chunk := read(buffer):
        digest.update(chunk)
        _write_all(out_fd, chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _copy_pipelined(
    read: Callable[[memoryview], memoryview | bytes], out_fd: int
) -> tuple[str, int]:
    digest = hashlib.sha256()
    buffers = [memoryview(bytearray(CHUNK)) for _ in range(_N_BUFFERS)]
    hashed: list[Future[None] | None] = [None] * _N_BUFFERS
    size = flushed = 0
    with ThreadPoolExecutor(1, thread_name_prefix="etiket-sha256") as hasher:
        for k in itertools.cycle(range(_N_BUFFERS)):
            pending = hashed[k]
            if pending is not None:
                pending.result()  # buffer k is free again once its chunk is hashed
            chunk = read(buffers[k])
            if not chunk:
                break
            hashed[k] = hasher.submit(digest.update, chunk)  # in order: one worker
            _write_all(out_fd, chunk)
            size += len(chunk)
            if size - flushed >= WRITEBACK_EVERY:
                _start_writeback(out_fd, flushed, size - flushed)
                flushed = size
        for pending in hashed:
            if pending is not None:
                pending.result()
    return digest.hexdigest(), size


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range to disk now (a hint; no-op where absent)."""
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def _write_all(fd: int, data: memoryview | bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _makedirs(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; returns the folders created, deepest first."""
    created: list[Path] = []
    probe = folder
    while not probe.exists():
        created.append(probe)
        probe = probe.parent
    for path in reversed(created):
        path.mkdir(exist_ok=True)
    return created


def _datasync(fd: int) -> None:
    """Flush a file's content (and the size needed to read it back) to disk."""
    getattr(os, "fdatasync", os.fsync)(fd)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))  # Windows flushes writable handles
    try:
        _datasync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # directories cannot be fsynced on Windows; NTFS journals them
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
