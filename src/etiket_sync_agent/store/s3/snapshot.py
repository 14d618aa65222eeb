"""Hashing a file in place before it is sent: the whole file's SHA-256 and each part's.

A path source is not copied into the home before it goes to the bucket (a copy costs a
write and a read of the whole file, which on a lab PC is often more than the transfer
itself): :func:`hash_in_place` hashes it for its content address and the SHA-256 of every
multipart part, the parts are then read again from the file as they are sent,
each carrying that checksum (the server rejects a part whose bytes differ), and
:meth:`Snapshot.check_unchanged` confirms afterwards that the file is still the one that
was hashed (inode, size, modification time). A file being written is thus refused as
the local store refuses it, and a resumed upload re-hashes the file to find its parts.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from etiket_sync_agent.errors import StoreError
from etiket_sync_agent.store.blobs import CHUNK, check_unchanged, open_source
from etiket_sync_agent.store.s3.uploads import b64


@dataclass(frozen=True)
class Snapshot:
    """A file as it was hashed: its content address and its parts' checksums."""

    path: Path
    sha256: str
    size: int
    stat: os.stat_result
    #: the part size the checksums are for (None: the file goes up in one PUT)
    part_size: int | None = None
    #: part number -> base64 SHA-256 of that part, as S3 carries it
    part_sums: dict[int, str] = field(default_factory=dict)

    def check_unchanged(self) -> None:
        """StoreError unless the file is still exactly the one that was hashed."""
        check_unchanged(self.path, self.stat, None, self.size)


def hash_in_place(path: Path, part_size_for: Callable[[int], int | None]) -> Snapshot:
    """The SHA-256 of ``path`` and, with ``part_size_for(size)`` bytes per part, of each
    part. StoreError if it is missing or changes while read.

    The whole file is hashed by this thread while helper threads hash the parts (each
    reading its own range: the file is in the page cache after a first read, and
    hashlib releases the GIL), so the pass takes about one SHA-256 stream's time."""
    with open_source(path) as src:
        before = os.fstat(src.fileno())
        part_size = part_size_for(before.st_size)
        ranges = _ranges(before.st_size, part_size)
        with ThreadPoolExecutor(PART_HASHERS, thread_name_prefix="etiket-parts") as pool:
            futures = [pool.submit(_hash_range, path, start, length) for start, length in ranges]
            unreadable: OSError | None = None
            whole, size = "", before.st_size
            try:
                whole, size = _hash_stream(src)
                sums = {n: b64(f.result()) for n, f in enumerate(futures, 1)}
            except OSError as exc:  # a part's own handle: e.g. the file vanished meanwhile
                unreadable, sums = exc, {}
            finally:
                for future in futures:
                    future.cancel()
        after = os.fstat(src.fileno())
    check_unchanged(path, before, after, size)  # says "vanished" or "changed" if so
    if unreadable is not None:
        raise StoreError(f"cannot read {path}: {unreadable.strerror or unreadable}") from unreadable
    return Snapshot(path, whole, size, before, part_size, sums)


PART_HASHERS = 2


def _ranges(size: int, part_size: int | None) -> list[tuple[int, int]]:
    if not part_size:
        return []
    return [(start, min(part_size, size - start)) for start in range(0, max(size, 1), part_size)]


def _hash_stream(src: BinaryIO) -> tuple[str, int]:
    digest = hashlib.sha256()
    buffer = memoryview(bytearray(CHUNK))
    size = 0
    while n := src.readinto(buffer):
        digest.update(buffer[:n])
        size += n
    return digest.hexdigest(), size


def _hash_range(path: Path, start: int, length: int) -> bytes:
    digest = hashlib.sha256()
    buffer = memoryview(bytearray(CHUNK))
    with open(path, "rb", buffering=0) as fh:
        fh.seek(start)
        while length > 0:
            n = fh.readinto(buffer[: min(CHUNK, length)])
            if not n:
                break  # shorter than it was: the size check reports it
            digest.update(buffer[:n])
            length -= n
    return digest.digest()
