"""One measurement of a native dataset: points appended to an HDF5 file under SWMR.

Appends are checked completely before anything is kept (a bad append raises ValueError
and leaves nothing behind), buffered in memory, and written to the file at most every
``flush_interval_s`` (by the append that finds the interval passed, or by a small
background thread when appends pause). Each flush writes the values, flushes them, and
only then advances the file's ``points_written`` counter: readers (the agent) always see
whole points. A write error (disk full) is raised to the script; what was flushed before
stays readable.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from etiket_sync_agent.native.layout import LAYOUT_ATTR, MEASUREMENT_ATTR, POINTS
from etiket_sync_agent.native.paths import check_name

if TYPE_CHECKING:
    import h5py

#: values per chunk along an open-ended dimension
_OPEN_CHUNK = 1024


class _Coord:
    __slots__ = ("name", "unit", "values")

    def __init__(self, name: str, unit: str, values: np.ndarray | None) -> None:
        self.name = name
        self.unit = unit
        self.values = values  # None: open-ended

    @property
    def size(self) -> int | None:
        return None if self.values is None else len(self.values)


def _parse_coords(coords: Mapping[str, Any]) -> list[_Coord]:
    if not isinstance(coords, Mapping) or not coords:
        raise ValueError('coords must be a mapping like {"amplitude": ("V", values)}')
    out: list[_Coord] = []
    for i, (name, spec) in enumerate(coords.items()):
        check_name("coordinate name", name)
        if isinstance(spec, str):
            if i != 0:
                raise ValueError(
                    f"coordinate {name!r} has no values: only the first coordinate may be"
                    " open-ended (give the others as (unit, values))"
                )
            out.append(_Coord(name, spec, None))
            continue
        if not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str)):
            raise ValueError(
                f"coordinate {name!r} must be a unit (open-ended) or (unit, values), got {spec!r}"
            )
        values = np.asarray(spec[1])
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"values of coordinate {name!r} must be a non-empty 1-D sequence")
        if values.dtype.kind not in "iuf":
            raise ValueError(f"values of coordinate {name!r} must be real numbers")
        out.append(_Coord(name, spec[0], values.astype(np.float64)))
    return out


def _parse_data_vars(data_vars: Mapping[str, Any]) -> dict[str, tuple[str, np.dtype]]:
    if not isinstance(data_vars, Mapping) or not data_vars:
        raise ValueError('data_vars must be a mapping like {"I": "V"} (name -> unit)')
    out: dict[str, tuple[str, np.dtype]] = {}
    for name, spec in data_vars.items():
        check_name("variable name", name)
        dtype: Any = float
        if isinstance(spec, tuple) and len(spec) == 2:
            spec, dtype = spec
        if not isinstance(spec, str):
            raise ValueError(
                f"data variable {name!r} must be a unit or (unit, float|complex), got {spec!r}"
            )
        dt = np.dtype(dtype) if dtype in (float, complex, "float64", "complex128") else None
        if dt is None:
            raise ValueError(f"data variable {name!r}: dtype must be float or complex")
        out[name] = (spec, dt)
    return out


class Measurement:
    """Appends points (or rows) to one measurement; use it through ``ds.measurement``.

    The shape is given by the coordinates: each ``(unit, values)`` coordinate is a
    dimension of that length, filled in row order (the last coordinate fastest); the
    first coordinate may be given as a unit only, making the measurement open-ended
    (its value is then given with every append).
    """

    def __init__(
        self,
        name: str,
        path: Path,
        coords: Mapping[str, Any],
        data_vars: Mapping[str, Any],
        flush_interval_s: float = 0.2,
    ) -> None:
        self.name = check_name("measurement name", name)
        self.path = path
        self._coords = _parse_coords(coords)
        self._vars = _parse_data_vars(data_vars)
        clash = {c.name for c in self._coords} & set(self._vars)
        if clash:
            raise ValueError(f"{', '.join(sorted(clash))}: both a coordinate and a variable")
        if not (isinstance(flush_interval_s, int | float) and flush_interval_s >= 0):
            raise ValueError(f"flush_interval_s must be >= 0, got {flush_interval_s!r}")
        self.flush_interval_s = float(flush_interval_s)
        self.shape: tuple[int | None, ...] = tuple(c.size for c in self._coords)
        self._open = self._coords[0].values is None
        #: points per row of the last dimension, and per step of the first dimension
        self._row = self.shape[-1] if len(self.shape) > 1 else 1
        self._inner = math.prod(s for s in self.shape[1:] if s is not None)
        self._total = None if self._open else math.prod(self.shape)  # type: ignore[arg-type]
        self._known = {c.name for c in self._coords} | set(self._vars)
        self._lock = threading.Lock()
        self._count = 0  # points appended (buffered or flushed)
        self._flushed = 0  # points whole in the file
        self._pending: dict[str, list[Any]] = {n: [] for n in self._vars}
        self._pending_open: list[float] = []
        self._last_flush = time.monotonic()
        self._error: BaseException | None = None
        self._reported = False  # the script has seen self._error
        self._last_open: float | None = None
        self._closed = False
        self._file: h5py.File | None = None
        self._dsets: dict[str, h5py.Dataset] = {}
        self._create_file()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.flush_interval_s > 0:
            self._thread = threading.Thread(
                target=self._flush_when_idle, name=f"native-flush-{name}", daemon=True
            )
            self._thread.start()

    # -- public --------------------------------------------------------------------
    @property
    def points(self) -> int:
        """Points appended so far (rows count as their number of points)."""
        return self._count

    @property
    def flushed_points(self) -> int:
        """Points whole in the file (what a reader, or the store, sees)."""
        return self._flushed

    def append(self, **values: Any) -> None:
        """Append one point (every variable a scalar) or one row (every variable an
        array of the last coordinate's length, starting at the start of a row).

        Coordinates with declared values may be omitted (the next position is implied);
        if given they must equal that position's values. The value of an open-ended
        coordinate is required. ValueError for unknown or missing names, wrong shapes,
        complex values for a real variable or a full measurement; nothing is kept then.
        """
        if self._error is not None:
            self._reported = True
            raise RuntimeError(
                f"measurement {self.name!r} cannot take more points: an earlier write"
                f" failed ({self._error})"
            ) from self._error
        if self._closed:
            raise ValueError(f"measurement {self.name!r} is closed")
        unknown = values.keys() - self._known
        if unknown:
            raise ValueError(
                f"unknown name(s) {', '.join(sorted(unknown))} for measurement {self.name!r}"
                f" (it has {', '.join(c.name for c in self._coords)};"
                f" {', '.join(self._vars)})"
            )
        missing = [n for n in self._vars if n not in values]
        if missing:
            raise ValueError(f"append to {self.name!r} misses variable(s) {', '.join(missing)}")
        first = values[next(iter(self._vars))]
        is_row = len(self.shape) > 1 and np.ndim(first) == 1
        n = self._row if is_row else 1
        if is_row and self._count % self._row:
            raise ValueError(
                f"a row appended to {self.name!r} must start a row: {self._count % self._row}"
                f" of {self._row} points of the current row are already appended"
            )
        if self._total is not None and self._count + n > self._total:
            raise ValueError(
                f"measurement {self.name!r} is full: its {self._total} points are appended"
            )
        checked = {name: self._check_var(name, values[name], is_row) for name in self._vars}
        open_value = self._check_coords(values, is_row)
        starts_step = self._open and self._count % self._inner == 0
        if self._open and not starts_step and open_value != self._last_open:
            raise ValueError(
                f"{self._coords[0].name!r} = {open_value!r} changed in the middle of a row"
                f" of {self.name!r} (the row started at {self._last_open!r})"
            )
        with self._lock:
            for name, v in checked.items():
                self._pending[name].append(v)
            if starts_step:
                self._pending_open.append(open_value)  # type: ignore[arg-type]
                self._last_open = open_value
            self._count += n
            due = time.monotonic() - self._last_flush >= self.flush_interval_s
        if due:
            self.flush()

    def flush(self) -> None:
        """Write every appended point to the file now (readers see them afterwards)."""
        with self._lock:
            try:
                self._flush_locked()
            except BaseException:
                self._reported = True
                raise

    # -- checks --------------------------------------------------------------------
    def _check_var(self, name: str, value: Any, is_row: bool) -> Any:
        unit, dtype = self._vars[name]
        if is_row:
            arr = np.asarray(value)
            if arr.shape != (self._row,):
                raise ValueError(
                    f"{name!r}: a row of {self.name!r} holds {self._row} values,"
                    f" got shape {arr.shape}"
                )
            kind = arr.dtype.kind
        else:
            if np.ndim(value) != 0:
                raise ValueError(
                    f"{name!r}: one point of {self.name!r} takes a single value, got shape"
                    f" {np.shape(value)}"
                    + (f" (a row is {self._row} values of every variable)" if self._row > 1 else "")
                )
            arr = value
            kind = np.asarray(value).dtype.kind
        if kind == "c" and dtype.kind != "c":
            raise ValueError(
                f"{name!r} of {self.name!r} is real: declare it complex with"
                f' data_vars={{"{name}": ("{unit}", complex)}}'
            )
        if kind not in "biufc":
            raise ValueError(f"{name!r} of {self.name!r} takes numbers, got {value!r}")
        return arr

    def _check_coords(self, values: dict[str, Any], is_row: bool) -> float | None:
        pos = self._count
        open_value: float | None = None
        for axis, c in enumerate(self._coords):
            given = values.get(c.name)
            if c.values is None:  # open-ended: required, one value per step
                if given is None:
                    raise ValueError(
                        f"append to {self.name!r} needs a value of its open-ended"
                        f" coordinate {c.name!r}"
                    )
                if np.ndim(given) != 0 or np.asarray(given).dtype.kind not in "biuf":
                    raise ValueError(f"{c.name!r} takes one real number, got {given!r}")
                open_value = float(given)
                continue
            if given is None:
                continue
            expected = self._expected(axis, pos, is_row)
            got = np.asarray(given, dtype=float) if np.ndim(given) else float(given)
            if np.shape(got) != np.shape(expected) or not np.allclose(
                got, expected, rtol=1e-9, atol=0.0, equal_nan=True
            ):
                raise ValueError(
                    f"{c.name!r} = {given!r} is not the next position of {self.name!r}"
                    f" (expected {expected!r}; points are filled in row order)"
                )
        return open_value

    def _expected(self, axis: int, pos: int, is_row: bool) -> Any:
        values = self._coords[axis].values
        assert values is not None
        if is_row and axis == len(self._coords) - 1:
            return values
        index = pos
        for later in self.shape[axis + 1 :]:
            index //= later  # type: ignore[operator]
        return float(values[index % len(values)])

    # -- the file ------------------------------------------------------------------
    def _create_file(self) -> None:
        """Build the file's structure under a temporary name, rename it into place, and
        reopen it for SWMR writing (a SWMR reader never meets a half-built file)."""
        import h5py

        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with h5py.File(tmp, "w", libver="latest", locking="best-effort") as f:
            f.attrs[MEASUREMENT_ATTR] = self.name
            f.attrs[LAYOUT_ATTR] = json.dumps(
                {
                    "coords": [[c.name, c.unit, c.values is None] for c in self._coords],
                    "data_vars": [[n, u, dt.name] for n, (u, dt) in self._vars.items()],
                }
            )
            scales = []
            for c in self._coords:
                if c.values is None:
                    d = f.create_dataset(
                        c.name,
                        shape=(0,),
                        maxshape=(None,),
                        dtype="f8",
                        chunks=(_OPEN_CHUNK,),
                        fillvalue=np.nan,
                    )
                else:
                    d = f.create_dataset(c.name, data=c.values)
                d.attrs["units"] = c.unit
                d.make_scale(c.name)
                scales.append(d)
            shape = tuple(0 if s is None else s for s in self.shape)
            maxshape = tuple(None if s is None else s for s in self.shape)
            chunks = self._chunks()
            for name, (unit, dt) in self._vars.items():
                fill = complex(np.nan, np.nan) if dt.kind == "c" else np.nan
                d = f.create_dataset(
                    name, shape=shape, maxshape=maxshape, dtype=dt, chunks=chunks, fillvalue=fill
                )
                d.attrs["units"] = unit
                for axis, scale in enumerate(scales):
                    d.dims[axis].attach_scale(scale)
            f.create_dataset(POINTS, data=np.int64(0))
        os.replace(tmp, self.path)
        # best-effort: file systems without locks (network shares) are not refused
        f = h5py.File(self.path, "r+", libver="latest", locking="best-effort")
        try:
            f.swmr_mode = True
        except Exception:
            f.close()
            raise
        self._file = f
        self._dsets = {n: f[n] for n in [*self._vars, POINTS]}
        if self._open:
            self._dsets[self._coords[0].name] = f[self._coords[0].name]

    def _chunks(self) -> tuple[int, ...]:
        """Row-shaped chunks of about 64k values (rows are written whole)."""
        inner = [s for s in self.shape[1:]]
        per_row = math.prod(inner) if inner else 1  # type: ignore[arg-type]
        rows = max(1, min(65536 // max(per_row, 1), _OPEN_CHUNK))
        if self.shape[0] is not None:
            rows = min(rows, self.shape[0])
        return (rows, *inner)  # type: ignore[return-value]

    def _flush_locked(self) -> None:
        start, stop = self._flushed, self._count
        if stop == start or self._file is None:
            return
        try:
            if self._open:
                steps = -(-stop // self._inner)
                for name in self._vars:
                    d = self._dsets[name]
                    if d.shape[0] < steps:
                        d.resize(steps, axis=0)
                c = self._dsets[self._coords[0].name]
                first_step = -(-start // self._inner)
                if self._pending_open:
                    c.resize(first_step + len(self._pending_open), axis=0)
                    c[first_step:] = np.asarray(self._pending_open, dtype="f8")
            for name, (_, dt) in self._vars.items():
                block = _flat(self._pending[name], dt)
                self._write_block(self._dsets[name], start, block)
            for d in self._dsets.values():
                if d.name != "/" + POINTS:
                    d.flush()
            points = self._dsets[POINTS]
            points[()] = stop  # only now do readers take the new points
            points.flush()
        except BaseException as exc:
            self._error = exc
            raise
        for buf in self._pending.values():
            buf.clear()
        self._pending_open.clear()
        self._flushed = stop
        self._last_flush = time.monotonic()

    def _write_block(self, d: h5py.Dataset, start: int, block: np.ndarray) -> None:
        if len(self.shape) == 1:
            d[start : start + len(block)] = block
            return
        row = self._row
        pos, i = start, 0
        inner_shape = self.shape[1:-1]
        while i < len(block):
            outer, col = divmod(pos, row)
            n = min(row - col, len(block) - i)
            if col == 0 and len(self.shape) == 2 and len(block) - i >= 2 * row:
                rows = (len(block) - i) // row  # whole rows in one write
                d[outer : outer + rows, :] = block[i : i + rows * row].reshape(rows, row)
                n = rows * row
            else:
                index: list[int] = []
                rest = outer
                for size in reversed(inner_shape):
                    rest, k = divmod(rest, size)  # type: ignore[arg-type]
                    index.insert(0, k)
                d[(rest, *index, slice(col, col + n))] = block[i : i + n]
            pos += n
            i += n

    def _flush_when_idle(self) -> None:
        """Flush points that wait longer than the interval because appends paused."""
        while not self._stop.wait(self.flush_interval_s):
            with self._lock:
                if self._closed or self._error is not None:
                    return
                if (
                    self._count > self._flushed
                    and time.monotonic() - self._last_flush >= self.flush_interval_s
                ):
                    try:
                        self._flush_locked()
                    except BaseException:  # noqa: BLE001 - kept in _error, raised to the script
                        return

    def close(self) -> None:
        """Flush what is left and close the file (idempotent). Raises a write error."""
        if self._closed:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._closed = True
            try:
                if self._error is None:
                    try:
                        self._flush_locked()
                    except BaseException:
                        self._reported = True
                        raise
                elif not self._reported:
                    self._reported = True
                    raise RuntimeError(
                        f"measurement {self.name!r}: a write failed ({self._error});"
                        f" the file holds the {self._flushed} points written before"
                    ) from self._error
            finally:
                f, self._file = self._file, None
                self._dsets = {}
                if f is not None:
                    try:
                        f.close()
                    except Exception:  # noqa: BLE001 - a failed write is the error to show
                        if self._error is None:
                            raise

    def __enter__(self) -> Measurement:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _flat(buf: list[Any], dt: np.dtype) -> np.ndarray:
    if all(np.ndim(v) == 0 for v in buf):
        return np.asarray(buf, dtype=dt)
    return np.concatenate([np.atleast_1d(np.asarray(v, dtype=dt)) for v in buf])
