"""Reading a written NetCDF file back and comparing it with the Dataset it came from.

Every file :func:`etiket_sync_agent.netcdf.write_netcdf` writes is checked this way before
it is renamed into place, so a file that does not hold what the Dataset holds is never
stored. The comparison is made with h5py on the file's raw variables (opening it with
xarray would cost more than writing a small file) against what the writer meant to put
there: each variable of the NetCDF-ready Dataset (multi-indexes already encoded the way
the writer encodes them) passed through xarray's CF encoder — datetimes as numbers with
their units, booleans as int8, packed values as their packed integers. Checked for every
variable, coordinates included: present, same shape, a compatible dtype (the same kind
and size; text as text), and the same values — NaN where the Dataset has NaN (real and
imaginary parts of complex values separately), text compared as text with a missing
value read as ``""``. Variables whose values the writer streamed in (``fill``) are not
held by the Dataset: their shape and dtype are checked. Big variables are compared in
blocks of rows, so the check needs little memory.

A difference raises :class:`NetCDFVerifyError` naming the variable and the first
differing index.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from etiket_sync_agent.errors import StoreError

if TYPE_CHECKING:
    import xarray as xr

#: values compared at once (per variable), in elements
BLOCK_ELEMENTS = 1 << 21


class NetCDFVerifyError(StoreError):
    """A written NetCDF file does not hold what its Dataset holds (it was not stored)."""

    def __init__(self, path: Path, variable: Hashable | None, problem: str) -> None:
        self.variable = variable
        what = "the file" if variable is None else f"variable {str(variable)!r}"
        super().__init__(
            f"NetCDF read-back of {path.name}: {what} {problem}",
            hint="the file was not stored; the next attempt writes it again (if this "
            "repeats, check the disk, or report it with the dataset)",
        )


@dataclass(frozen=True)
class Verification:
    """What a read-back checked: the file, its variables, values compared, seconds."""

    file: str
    variables: int
    values: int
    streamed: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "variables": self.variables,
            "values": self.values,
            "streamed": self.streamed,
            "seconds": round(self.seconds, 6),
        }


def verify_netcdf(
    path: Path, ready: xr.Dataset, streamed: Collection[Hashable] = ()
) -> Verification:
    """Compare the file at ``path`` with ``ready`` (what was written; see module doc).

    Raises :class:`NetCDFVerifyError` at the first difference, also when the file cannot
    be read back at all.
    """
    import h5py
    from xarray.conventions import encode_cf_variable

    t0 = time.perf_counter()
    compared = n_streamed = 0
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise NetCDFVerifyError(path, None, f"cannot be read back ({exc})") from exc
    with f:
        for name, var in ready.variables.items():
            h5 = f.get(str(name))
            if not isinstance(h5, h5py.Dataset):
                raise NetCDFVerifyError(path, name, "is missing from the file")
            # plain numbers and text are written as they are; anything else is encoded
            plain = var.dtype.kind in "fiucOU" and not var.encoding
            expected = var if plain else encode_cf_variable(var, name=name)
            if h5.shape != expected.shape:
                raise NetCDFVerifyError(
                    path, name, f"has shape {h5.shape} in the file instead of {expected.shape}"
                )
            _check_dtype(path, name, h5, expected.dtype)
            if name in streamed:
                n_streamed += 1
                continue
            try:
                compared += _compare_values(path, name, h5, np.asarray(expected.values))
            except (OSError, ValueError, TypeError) as exc:
                raise NetCDFVerifyError(path, name, f"cannot be read back: {exc}") from exc
    return Verification(
        path.name, len(ready.variables), compared, n_streamed, time.perf_counter() - t0
    )


def _is_text(dtype: np.dtype) -> bool:
    return dtype.kind in "OUS"


def _check_dtype(path: Path, name: Hashable, h5: Any, expected: np.dtype) -> None:
    import h5py

    stored = h5.dtype
    if _is_text(expected):
        ok = h5py.check_string_dtype(stored) is not None or stored.kind in "SU"
    elif expected.kind == "c":
        ok = stored.kind == "c" or (stored.names is not None and len(stored.names) == 2)
    else:
        ok = (stored.kind, stored.itemsize) == (expected.kind, expected.itemsize)
    if not ok:
        raise NetCDFVerifyError(path, name, f"has dtype {stored} in the file instead of {expected}")


def _blocks(shape: tuple[int, ...]) -> Iterator[tuple[slice, ...] | tuple[()]]:
    """Row blocks of about :data:`BLOCK_ELEMENTS` values (the whole array if small)."""
    if not shape or int(np.prod(shape)) <= BLOCK_ELEMENTS:
        yield ()
        return
    per_row = max(1, int(np.prod(shape[1:])))
    rows = max(1, BLOCK_ELEMENTS // per_row)
    for start in range(0, shape[0], rows):
        yield (slice(start, min(start + rows, shape[0])),)


def _compare_values(path: Path, name: Hashable, h5: Any, expected: np.ndarray) -> int:
    import h5py

    text = _is_text(expected.dtype)
    reader = h5.asstr() if text and h5py.check_string_dtype(h5.dtype) is not None else h5
    for block in _blocks(expected.shape):
        want = expected[block] if block else expected
        got = np.asarray(reader[block] if block else reader[()])
        same = _same(want, got, text)
        if not same.all():
            where = tuple(int(i) for i in np.argwhere(~same)[0]) if same.ndim else ()
            offset = block[0].start if block else 0
            index = (where[0] + offset, *where[1:]) if where else ()
            a = want[where] if where else want[()]
            b = got[where] if where else got[()]
            raise NetCDFVerifyError(
                path, name, f"differs at index {index}: {b!r} in the file instead of {a!r}"
            )
    return int(expected.size)


def _same(want: np.ndarray, got: np.ndarray, text: bool) -> np.ndarray:
    """Element-wise equality with NaN equal to NaN and missing text equal to ``""``."""
    if text:
        return _texts(want) == _texts(got)
    if want.dtype.kind == "c":
        return _same(want.real, np.asarray(got).real, False) & _same(
            want.imag, np.asarray(got).imag, False
        )
    same = np.asarray(want == got)
    if want.dtype.kind == "f":
        same |= np.isnan(want) & np.isnan(got)
    return same


def _texts(values: np.ndarray) -> np.ndarray:
    out = np.empty(values.shape, dtype=object)
    out.flat[:] = [_as_text(v) for v in values.flat]
    return out


def _as_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
