"""Labber's storage layout -> arrays on the step grid.

Labber stores scalar data as ``Data/Data[i0, column, j]``: ``i0`` runs over the first
step's points, ``j`` over all other step points together (the second step fastest). One
``j`` is a "trace"; while a sweep runs, ``j`` grows. ``Traces/<channel>[sample, part, e]``
holds vector data with ``e`` over all step points (first step fastest).

Both are placed on the step grid: one axis per step with more than one point, the first
step last (innermost, fastest varying). Points not measured (a sweep still running or
aborted) are NaN, so the shape is always the planned one.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

#: how much of a Labber dataset is read at a time (bounded memory for huge logs)
BLOCK_BYTES = 4 * 2**20


@dataclass(frozen=True)
class StepGrid:
    """The planned points of a log: ``dims[k]`` = points of step ``k`` (step list order)."""

    dims: tuple[int, ...]

    @property
    def n0(self) -> int:
        return self.dims[0] if self.dims else 1

    @property
    def n_outer(self) -> int:
        return math.prod(self.dims[1:])

    @property
    def n_entries(self) -> int:
        return math.prod(self.dims)

    @property
    def swept(self) -> tuple[int, ...]:
        """Steps with more than one point, outermost first (the grid's axis order)."""
        return tuple(k for k in reversed(range(len(self.dims))) if self.dims[k] > 1)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.dims[k] for k in self.swept)

    @property
    def outer_shape(self) -> tuple[int, ...]:
        """The grid without the first step's axis (one value per ``Data/Data`` trace)."""
        return tuple(self.dims[k] for k in self.swept if k != 0)


@dataclass(frozen=True)
class Column:
    """A channel of ``Data/Data``: its column, and the imaginary part's for complex ones."""

    real: int
    imag: int | None = None


def _float_dtype(dtype: np.dtype) -> np.dtype:
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _block(dset: Any, per_index_bytes: int, axis: int) -> int:
    """Indices along ``axis`` per read: ~BLOCK_BYTES, whole chunks when chunked."""
    n = max(1, BLOCK_BYTES // max(1, per_index_bytes))
    chunk = dset.chunks[axis] if dset.chunks else 1
    return max(chunk, n // chunk * chunk)


def read_columns(dset: Any, grid: StepGrid, columns: list[Column]) -> list[np.ndarray]:
    """The ``columns`` of ``Data/Data`` (``dset``), each on ``grid.shape``.

    Complex columns are complex. Traces beyond what ``grid`` plans are ignored (the
    caller warns); traces not measured yet are NaN.
    """
    n0, ncol, m = dset.shape
    m = min(m, grid.n_outer)
    real = _float_dtype(dset.dtype)
    cplx = np.result_type(real, np.complex64)
    outs = [
        np.full((grid.n_outer, n0), np.nan, dtype=cplx if c.imag is not None else real)
        for c in columns
    ]
    step = _block(dset, n0 * ncol * dset.dtype.itemsize, 2)
    for j0 in range(0, m, step):
        j1 = min(m, j0 + step)
        blk = dset[:, :, j0:j1]
        for col, out in zip(columns, outs, strict=True):
            if col.imag is None:
                out[j0:j1] = blk[:, col.real, :].T
            else:
                out.real[j0:j1] = blk[:, col.real, :].T
                out.imag[j0:j1] = blk[:, col.imag, :].T
    return [out.reshape(grid.shape) for out in outs]


def read_outer(values: Any, grid: StepGrid) -> np.ndarray:
    """One value per trace (``Data/Time stamp``) on ``grid.outer_shape``."""
    arr = np.asarray(values[()], dtype=np.float64).reshape(-1)[: grid.n_outer]
    out = np.full(grid.n_outer, np.nan)
    out[: arr.size] = arr
    return out.reshape(grid.outer_shape)


def read_entries(values: Any, grid: StepGrid) -> np.ndarray:
    """One value per step point (``Traces/Time stamp``) on ``grid.shape``."""
    arr = np.asarray(values[()], dtype=np.float64).reshape(-1)[: grid.n_entries]
    out = np.full(grid.n_entries, np.nan)
    out[: arr.size] = arr
    return out.reshape(grid.shape)


@dataclass
class TraceArrays:
    values: np.ndarray  # grid.shape + (samples,)
    x: np.ndarray | None  # explicit x per entry (same shape), when stored
    entries: int  # entries found in the file


def read_trace(dset: Any, grid: StepGrid, is_complex: bool, n_samples: int) -> TraceArrays:
    """``Traces/<channel>`` (``dset``: samples x parts x entries) on the grid.

    Complex traces (parts = re, im) become complex; other traces hold ``y`` first and an
    explicit ``x`` last when they have two or more parts.
    """
    ns_all, parts, entries = dset.shape
    ns = min(n_samples, ns_all)
    ne = min(entries, grid.n_entries)
    real = _float_dtype(dset.dtype)
    dtype = np.result_type(real, np.complex64) if is_complex else real
    out = np.full((grid.n_entries, ns), np.nan, dtype=dtype)
    has_x = not is_complex and parts >= 2
    xs = np.full((grid.n_entries, ns), np.nan, dtype=real) if has_x else None
    step = _block(dset, ns_all * parts * dset.dtype.itemsize, 2)
    for e0 in range(0, ne, step):
        e1 = min(ne, e0 + step)
        blk = dset[:ns, :, e0:e1]
        if is_complex:
            out.real[e0:e1] = blk[:, 0, :].T
            out.imag[e0:e1] = blk[:, 1, :].T
        else:
            out[e0:e1] = blk[:, 0, :].T
            if xs is not None:
                xs[e0:e1] = blk[:, parts - 1, :].T
    shape = grid.shape + (ns,)
    return TraceArrays(out.reshape(shape), xs.reshape(shape) if xs is not None else None, entries)


def separable(values: np.ndarray, axis: int) -> np.ndarray | None:
    """The 1-D values along ``axis`` when ``values`` does not vary along the other axes
    (NaN = not measured, ignored); None when it does."""
    index = tuple(slice(None) if a == axis else 0 for a in range(values.ndim))
    line = values[index]
    shape = [1] * values.ndim
    shape[axis] = line.size
    ref = line.reshape(shape)
    with np.errstate(invalid="ignore"):
        same = (values == ref) | np.isnan(values)
    if not same.all():
        return None
    if np.isnan(line).any():
        # a point first measured further out (rare): take any measured value
        with warnings.catch_warnings():  # points never measured stay NaN, quietly
            warnings.simplefilter("ignore", RuntimeWarning)
            filled = np.nanmax(np.moveaxis(values, axis, -1).reshape(-1, line.size), axis=0)
        line = np.where(np.isnan(line), filled, line)
    return line


def planned_values(items: Any, n_points: int) -> np.ndarray | None:
    """The values Labber planned for a step from its ``Step items`` (linear ramps and
    single values); None when they cannot be derived or do not count ``n_points``."""
    try:
        rows = np.atleast_1d(items[()])
        values: list[float] = []
        for row in rows:
            if int(row["range_type"]) == 0:
                segment = [float(row["single"])]
            else:
                if int(row["interp"]) != 0:  # not a linear ramp
                    return None
                n = int(row["n_pts"])
                segment = list(np.linspace(float(row["start"]), float(row["stop"]), n))
            if values and segment and segment[0] == values[-1]:
                segment = segment[1:]  # consecutive ramps share their end point
            values.extend(segment)
    except (KeyError, ValueError, TypeError, IndexError):
        return None
    return np.asarray(values) if len(values) == n_points else None


def fill_planned(measured: np.ndarray, planned: np.ndarray | None) -> np.ndarray:
    """``measured`` with its NaN (points not measured yet) taken from ``planned`` when the
    plan agrees with every measured point; otherwise ``measured`` unchanged."""
    missing = np.isnan(measured)
    if planned is None or not missing.any() or planned.shape != measured.shape:
        return measured
    known = ~missing
    if not np.allclose(measured[known], planned[known], rtol=1e-6, atol=0.0):
        return measured
    out = measured.copy()
    out[missing] = planned[missing]
    return out
