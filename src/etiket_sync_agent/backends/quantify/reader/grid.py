"""From Quantify's flat ``dim_0`` layout to the dataset's natural grid.

MeasurementControl stores every measurement on one dimension ``dim_0``: settables
``x0..xN`` hold the setpoint of each point, gettables ``y0..yM`` the values (NaN until
measured). The rule (see the README, "Quantify datadirs"):

* one settable: ``x0`` becomes the dimension when its values are unique (no NaN);
* several settables: a grid ``(x0, x1, ...)`` of their sorted unique values when the
  dataset says so (``grid_2d``/``2D-grid``) or when the product of the unique counts
  equals the number of points, and every point has its own grid cell; a flagged grid may
  have at most as many empty cells as points (never a mostly-NaN grid);
* otherwise ``dim_0`` is kept with ``x0..xN`` as coordinates.

Settables are recognised by name, also when old files store them as data variables.
``*_u`` variables are marked as the standard deviation of their base variable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from etiket_sync_agent.backends.quantify.reader.dataset_file import SourceFile

if TYPE_CHECKING:
    import xarray as xr

FLAT_DIM = "dim_0"
_SETTABLE = re.compile(r"^x(\d+)$")
_GETTABLE = re.compile(r"^y(\d+)$")
GRID_FLAGS = ("grid_2d", "2D-grid")


def _index(name: str, pattern: re.Pattern[str]) -> int | None:
    m = pattern.match(name)
    return int(m.group(1)) if m else None


def settables(f: SourceFile) -> list[str]:
    """``x0..xN`` on ``dim_0`` in numeric order (coordinates or data variables)."""
    names = [
        n
        for n, v in f.variables.items()
        if _index(n, _SETTABLE) is not None and v.dims == (FLAT_DIM,)
    ]
    return sorted(names, key=lambda n: _index(n, _SETTABLE) or 0)


def gettables(f: SourceFile) -> list[str]:
    names = [n for n in f.variables if _index(n, _GETTABLE) is not None]
    return sorted(names, key=lambda n: _index(n, _GETTABLE) or 0)


def grid_flag(attrs: dict[str, Any]) -> bool:
    for key in GRID_FLAGS:
        value = attrs.get(key)
        if value is not None:
            try:
                return bool(value)
            except (TypeError, ValueError):
                return False
    return False


@dataclass(frozen=True)
class Layout:
    """How the flat points map onto the output: ``kind`` is "flat", "1d" or "grid"."""

    kind: str
    dims: tuple[str, ...] = ()
    shape: tuple[int, ...] = ()
    #: flat cell number of each point in the grid ("grid" only)
    cells: np.ndarray | None = None
    #: coordinate values of each output dimension
    coords: dict[str, np.ndarray] | None = None
    #: whether some grid cells hold no point (values there are NaN)
    holes: bool = False
    #: a sweep in MeasurementControl's order (no ``cells``): the directions of x0, x1
    steps: tuple[int, int] | None = None


def choose_layout(f: SourceFile, xs: dict[str, np.ndarray]) -> Layout:
    """Decide the layout from the settables' values ``xs`` (see module doc)."""
    names = list(xs)
    n = f.dims.get(FLAT_DIM, 0)
    if not names or n == 0:
        return Layout("flat")
    if any(_has_nan(v) for v in xs.values()):
        return Layout("flat")  # adaptive runs: setpoints not known yet
    if len(names) == 1:
        x = xs[names[0]]
        if np.unique(x).size == x.size:
            return Layout("1d", dims=(names[0],), shape=(n,), coords={names[0]: x})
        return Layout("flat")
    if len(names) == 2:
        sweep = _sweep_layout(names, xs[names[0]], xs[names[1]])
        if sweep is not None:
            return sweep
    uniques, codes = [], []
    for name in names:
        u, inv = np.unique(xs[name], return_inverse=True)
        uniques.append(u)
        codes.append(inv.reshape(-1))
    shape = tuple(int(u.size) for u in uniques)
    size = int(np.prod(shape, dtype=np.int64))
    if size != n and not (grid_flag(f.attrs) and n < size <= 2 * n):
        return Layout("flat")
    cells = np.ravel_multi_index(codes, shape)
    if np.unique(cells).size != n:
        return Layout("flat")  # two points share a cell: not a grid
    return Layout(
        "grid",
        dims=tuple(names),
        shape=shape,
        cells=cells,
        coords=dict(zip(names, uniques, strict=True)),
        holes=size != n,
    )


def _monotonic(values: np.ndarray) -> int:
    """1 if strictly increasing, -1 if strictly decreasing, else 0."""
    if values.size < 2:
        return 1
    step = np.diff(values)
    if (step > 0).all():
        return 1
    if (step < 0).all():
        return -1
    return 0


def _sweep_layout(names: list[str], x0: np.ndarray, x1: np.ndarray) -> Layout | None:
    """MeasurementControl's own order (``x0`` swept fastest, ``x1`` stepped, both
    monotonic): the grid is then a view of the flat values, with no index arrays — a
    big 2-D measurement is not held twice in memory. None for any other order."""
    n = x0.size
    changes = np.flatnonzero(x1 != x1[0])
    n0 = int(changes[0]) if changes.size else n
    if n0 == 0 or n % n0:
        return None
    n1 = n // n0
    a, b = x0.reshape(n1, n0), x1.reshape(n1, n0)
    row, col = a[0], b[:, 0]
    d0, d1 = _monotonic(row), _monotonic(col)
    if not d0 or not d1 or not (a == row).all() or not (b == col[:, None]).all():
        return None
    return Layout(
        "grid",
        dims=tuple(names),
        shape=(n0, n1),
        coords={names[0]: row[::d0].copy(), names[1]: col[::d1].copy()},
        steps=(d0, d1),
    )


def _has_nan(values: np.ndarray) -> bool:
    return values.dtype.kind in "fc" and bool(np.isnan(values).any())


@dataclass(frozen=True)
class Progress:
    """How far a measurement is: points of the gettables that hold a value."""

    points: int
    measured: int

    @property
    def has_nan(self) -> bool:
        return self.measured < self.points


def _flat_gettables(f: SourceFile) -> list[str]:
    return [n for n in gettables(f) if f.variables[n].dims[:1] == (FLAT_DIM,)]


def _add_missing(missing: np.ndarray, values: np.ndarray) -> None:
    if values.dtype.kind in "fc" and values.size:
        bad = np.isnan(values)
        missing |= bad.reshape(missing.size, -1).any(axis=1) if bad.ndim > 1 else bad


def progress(f: SourceFile) -> Progress:
    """Count points whose gettables are all measured (not NaN)."""
    names = _flat_gettables(f)
    n = f.dims.get(FLAT_DIM, 0)
    if not names or n == 0:
        return Progress(0, 0)
    missing = np.zeros(n, dtype=bool)
    for name in names:
        _add_missing(missing, f.values(name))
    return Progress(n, int(n - missing.sum()))


def _place(values: np.ndarray, layout: Layout) -> np.ndarray:
    """Values of one flat variable in the grid's cells."""
    if layout.steps is not None:
        n0, n1 = layout.shape
        d0, d1 = layout.steps
        return values.reshape(n1, n0).T[::d0, ::d1]  # a view: nothing copied
    assert layout.cells is not None
    dtype = values.dtype
    if layout.holes and dtype.kind in "biu":
        dtype = np.dtype(np.float64)
    if layout.holes:
        fill: Any = "" if dtype.kind in "OUS" else np.nan
        out = np.full(layout.shape, fill, dtype=dtype)
    else:
        out = np.empty(layout.shape, dtype=dtype)
    out.reshape(-1)[layout.cells] = values
    return out


@dataclass(frozen=True)
class Gridded:
    ds: xr.Dataset
    layout: str  # "flat", "1d" or "grid"
    progress: Progress


def to_xarray(f: SourceFile) -> Gridded:
    """The dataset in ``f`` as xarray, gridded by the rule of this module, with how many
    of its points are measured (counted on the flat values, before gridding)."""
    import xarray as xr

    xnames = settables(f) if FLAT_DIM in f.dims else []
    xs = {name: f.values(name) for name in xnames}
    layout = choose_layout(f, xs)
    if layout.kind == "grid":
        xs = {}  # the grid's coordinates are its own (small) arrays: free the flat ones
    coord_names = set(xnames)
    for v in f.variables.values():
        coord_names.update(c for c in v.coordinates if c in f.variables)
    data_vars: dict[str, xr.Variable] = {}
    coords: dict[str, xr.Variable] = {}
    tracked = set(_flat_gettables(f))
    n = f.dims.get(FLAT_DIM, 0)
    missing = np.zeros(n, dtype=bool)
    if layout.kind in ("1d", "grid"):
        assert layout.coords is not None
        for name, values in layout.coords.items():
            coords[name] = xr.Variable((name,), values, dict(f.variables[name].attrs))
    for name, info in f.variables.items():
        if name in coords:
            continue
        values = xs[name] if name in xs else f.values(name)
        if name in tracked:
            _add_missing(missing, values)
        dims = info.dims
        if FLAT_DIM in dims and layout.kind != "flat":
            if dims != (FLAT_DIM,):
                if layout.kind == "1d":
                    dims = tuple(layout.dims[0] if d == FLAT_DIM else d for d in dims)
                else:  # a multi-dimensional variable beside a grid: keep it flat
                    dims = info.dims
            elif layout.kind == "1d":
                dims = layout.dims
            else:
                values, dims = _place(values, layout), layout.dims
        var = xr.Variable(dims, values, dict(info.attrs))
        if name in coord_names:
            coords[name] = var
        else:
            data_vars[name] = var
        del values
    ds = xr.Dataset(data_vars, coords=coords, attrs=dict(f.attrs))
    _mark_uncertainties(ds)
    prog = Progress(n, int(n - missing.sum())) if tracked else Progress(0, 0)
    return Gridded(ds, layout.kind, prog)


def _mark_uncertainties(ds: xr.Dataset) -> None:
    """``y0_u`` is the standard deviation of ``y0``: say so on both (CF-style)."""
    for name in list(ds.variables):
        name = str(name)
        if not name.endswith("_u"):
            continue
        base = name[:-2]
        if base not in ds.variables:
            continue
        ds.variables[name].attrs["standard_deviation_of"] = base
        linked = str(ds.variables[base].attrs.get("ancillary_variables", "")).split()
        if name not in linked:
            ds.variables[base].attrs["ancillary_variables"] = " ".join([*linked, name])
