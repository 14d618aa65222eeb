"""Read a file that its writer may be rewriting, without ever touching it with HDF5.

MeasurementControl rewrites the whole ``dataset.hdf5`` in place every ~0.5 s (open with
truncation, write, close). Opening that file with HDF5 could take a lock that makes the
writer fail, and reading it mid-write gives a torn file. So the bytes are copied with
plain reads into a private scratch folder (no lock, nothing created beside the file),
and the copy is only trusted when:

* the file had not been modified for a short quiet time before the copy started,
* its size, mtime and inode are the same after the copy as before,
* the caller's ``read`` of the copy succeeds (a torn HDF5 file fails to open or read).

Otherwise the copy is retried. A file that is stable and old but still unreadable is
damaged: :class:`QuantifyFormatError` (not retryable). One that keeps changing gives up
with :class:`FileBusyError` (retryable).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from etiket_sync_agent.backends.quantify.reader.errors import (
    FileBusyError,
    FileVanishedError,
    QuantifyFormatError,
)

T = TypeVar("T")

#: a file modified less than this long ago may be being written: wait before copying
QUIET_S = 0.05
#: a file unchanged for this long that fails to read is damaged, not being written
SETTLED_S = 2.0
#: how long to keep trying on a file that keeps changing (a loaded PC writes slowly)
PATIENCE_S = 20.0


@dataclass(frozen=True)
class FileStamp:
    size: int
    mtime_ns: int
    ino: int

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        st = os.stat(path)
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)

    @property
    def age_s(self) -> float:
        return time.time() - self.mtime_ns / 1e9


def _stamp(path: Path, rel: str) -> FileStamp:
    try:
        return FileStamp.of(path)
    except FileNotFoundError:
        raise FileVanishedError(f"{rel} vanished while it was being synchronized") from None


def read_private_copy(
    src: Path,
    scratch: Path,
    read: Callable[[Path], T],
    *,
    rel: str | None = None,
    patience_s: float = PATIENCE_S,
    readable_errors: tuple[type[BaseException], ...] = (
        OSError,
        ValueError,
        KeyError,
        RuntimeError,  # h5py: "Object visitation failed"
        QuantifyFormatError,
    ),
) -> tuple[T, FileStamp]:
    """Copy ``src`` into ``scratch`` and return ``read(copy)`` with the source's stamp.

    ``patience_s``: how long to keep trying while the file keeps changing.
    ``readable_errors``: exceptions of ``read`` that mean "torn or damaged bytes".
    The copy is removed before returning.
    """
    rel = rel or src.name
    copy = scratch / f"copy-{os.getpid()}-{src.name}"
    last_error: BaseException | None = None
    deadline = time.monotonic() + patience_s
    try:
        while time.monotonic() < deadline:
            before = _stamp(src, rel)
            if before.age_s < QUIET_S:
                time.sleep(QUIET_S)  # the writer is at it: let it finish this write
                continue
            try:
                shutil.copyfile(src, copy)
            except FileNotFoundError:
                raise FileVanishedError(f"{rel} vanished while it was being synchronized") from None
            after = _stamp(src, rel)
            if after != before or copy.stat().st_size != before.size:
                continue  # torn: the writer rewrote it while we copied
            try:
                return read(copy), before
            except readable_errors as exc:
                last_error = exc
                now = _stamp(src, rel)
                if now == before and now.age_s >= SETTLED_S:
                    if isinstance(exc, QuantifyFormatError):
                        raise
                    raise QuantifyFormatError(
                        f"{rel} cannot be read: {_reason(exc)}",
                        hint="the file is damaged or is not a NetCDF/HDF5 dataset",
                    ) from None
                # copied mid-write while the writer paused: wait for its next change
                _wait_for_change(src, before, rel)
        raise FileBusyError(
            f"{rel} kept changing while it was read"
            + (f" (last error: {_reason(last_error)})" if last_error else "")
        )
    finally:
        copy.unlink(missing_ok=True)


def _wait_for_change(src: Path, before: FileStamp, rel: str, limit_s: float = 1.0) -> None:
    end = time.monotonic() + limit_s
    while time.monotonic() < end and _stamp(src, rel) == before:
        time.sleep(0.01)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line[:300]
