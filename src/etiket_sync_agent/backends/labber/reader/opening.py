"""Open Labber files without disturbing Labber, and read them again when a read is torn.

Labber keeps a log open while it measures. We open it read-only with HDF5's file
locking off (``locking=False``), so no lock of ours can make Labber's next open for
writing fail, and nothing is written next to the file. A read that races with Labber
writing (an HDF5 error, a shape that changed between two reads) is retried a few times;
a file that keeps changing is reported as retryable, a file that is wrong stays wrong.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .errors import LabberFormatError, LabberReadError, NotALabberLog

T = TypeVar("T")

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: pauses between attempts of a torn read (seconds); their number is the retry count
RETRY_PAUSES = (0.05, 0.2, 0.5)


def file_state(path: Path) -> tuple[int, int]:
    """(size, mtime_ns): equal before and after a read = the file did not change."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def has_hdf5_signature(path: Path) -> bool:
    """Whether the HDF5 signature is where HDF5 looks for it (offset 0, 512, 1024, ...)."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        offset = 0
        while offset + len(HDF5_SIGNATURE) <= size:
            fh.seek(offset)
            if fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else offset * 2
            if offset > 1 << 24:
                break
    return False


@contextmanager
def open_log(path: Path) -> Iterator[Any]:
    """``path`` opened read-only by h5py, without file locks."""
    import h5py

    f = h5py.File(path, "r", locking=False)
    try:
        yield f
    finally:
        f.close()


def _explain(path: Path, exc: BaseException) -> LabberReadError:
    """The clear error for a file that could not be read (checked after retries)."""
    if isinstance(exc, LabberReadError):
        return exc
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        return LabberReadError(f"{path.name} disappeared while it was read", hint=None)
    except OSError as err:
        return LabberReadError(f"{path.name} cannot be read: {err}", retryable=True, hint=None)
    if size == 0:
        return NotALabberLog(f"{path.name} is empty (0 bytes): not a Labber log")
    try:
        if not has_hdf5_signature(path):
            return NotALabberLog(
                f"{path.name} is not an HDF5 file, so not a Labber log (a .labber "
                "scenario or another format renamed .hdf5?)"
            )
    except OSError as err:
        return LabberReadError(f"{path.name} cannot be read: {err}", retryable=True, hint=None)
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    try:
        with open_log(path):
            pass
    except (OSError, ValueError, RuntimeError) as err:
        why = str(err).strip().splitlines()[0] if str(err).strip() else reason
        return NotALabberLog(f"{path.name} cannot be read as HDF5 (truncated or damaged?): {why}")
    return LabberFormatError(f"{path.name} is not laid out as a Labber log: {reason}")


def read_with_retries(
    path: Path,
    read: Callable[[Any], T],
    pauses: tuple[float, ...] = RETRY_PAUSES,
    *,
    stable: bool = True,
) -> T:
    """``read(h5file)`` on ``path`` opened by :func:`open_log`, retried when torn.

    ``stable``: the file must not change during a read (a finished log). With False (a
    log being measured, which Labber appends to several times a second) a read that
    succeeds is taken as a snapshot: what Labber appended meanwhile comes at the next read.

    Raises :class:`LabberReadError`: ``retryable`` when the file kept changing through
    every attempt (Labber writing), not retryable when it is wrong as it is.
    """
    last: BaseException | None = None
    changed = False
    for attempt in range(len(pauses) + 1):
        if attempt:
            time.sleep(pauses[attempt - 1])
        try:
            before = file_state(path)
        except FileNotFoundError:
            raise LabberReadError(f"{path.name} disappeared", hint=None) from None
        try:
            with open_log(path) as f:
                result = read(f)
        except FileNotFoundError:
            raise LabberReadError(f"{path.name} disappeared while it was read", hint=None) from None
        except NotALabberLog:
            raise  # decided from what the file holds: reading again does not help
        except (
            LabberFormatError,  # e.g. column names read before Labber wrote the columns
            OSError,
            KeyError,
            ValueError,
            RuntimeError,
            IndexError,
            TypeError,
        ) as exc:
            last = exc
            try:
                changed |= file_state(path) != before
            except FileNotFoundError:
                raise LabberReadError(
                    f"{path.name} disappeared while it was read", hint=None
                ) from None
            continue
        if not stable:
            return result
        try:
            if file_state(path) == before:
                return result
        except FileNotFoundError:
            raise LabberReadError(f"{path.name} disappeared while it was read", hint=None) from None
        changed = True  # written while we read: the result may mix two states
        last = LabberReadError(f"{path.name} changed while it was read", retryable=True)
    if changed:
        err = _explain(path, last) if last is not None else None
        if err is not None and not isinstance(err, NotALabberLog) and err.retryable is False:
            err.retryable = True
        if isinstance(err, NotALabberLog):
            # e.g. a log Labber has only begun to write: say so, and try again later
            err = LabberReadError(
                f"{err.message} (it was changing while read: tried again later)", retryable=True
            )
        assert err is not None
        raise err
    assert last is not None
    raise _explain(path, last)
