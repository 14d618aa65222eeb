"""Arrange one parameter tree as an xarray Dataset the way QCoDeS 0.58's
``to_xarray_dataset`` does (``exporters/export_to_xarray.py``).

QCoDeS decides per tree:

1. **shape-consistent** (``set_shapes`` given and the data has exactly that shape): the data
   keeps its shape; each setpoint's coordinate is its first line along its own axis.
2. otherwise the setpoints become a pandas index (none: a ``RangeIndex`` called ``index``;
   one: a plain index; several: a MultiIndex) and

   * if the index has duplicates: a flat ``index`` dimension, setpoints as variables;
   * if it is unique and fills its grid (or ``shapes`` is set): expanded onto the grid of
     sorted unique setpoint values, holes filled with NaN (``DataFrame.to_xarray``);
   * if unique, sparse and ``shapes`` is None: one ``multi_index`` dimension.

   Parameters inferred from the tree are then added along all dimensions when their size
   fits.

The pandas route is slow for large runs, so the frequent cases (a float setpoint index
without NaN) are computed with numpy directly; everything else goes through pandas exactly
as QCoDeS does. ``tests/backends/qcodes`` checks the fast cases against the pandas route.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .tree_data import TreeData

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

    from .run_description import RunDescription

_LOG = logging.getLogger(__name__)
# Above this many grid cells a linear cell number could overflow int64.
_MAX_GRID_CELLS = 2**62


def log_warning(message: str) -> None:
    """Where data warnings go when the caller gives no ``warn``: the log."""
    _LOG.warning("%s", message)


def tree_to_dataset(
    desc: RunDescription,
    tree: TreeData,
    *,
    fast: bool = True,
    warn: Callable[[str], None] = log_warning,
) -> xr.Dataset:
    """The xarray Dataset (no attributes yet) QCoDeS builds for one tree.

    ``fast=False`` forces the pandas route (used by the tests to check the fast paths).
    ``warn`` is told about data left out (an inferred parameter that does not fit).
    """
    shape = desc.shapes.get(tree.top) if desc.shapes else None
    values = tree.arrays[tree.top]
    if shape is not None and values.shape == tuple(shape):
        return _direct(desc, tree)
    if fast:
        ds = _fast_indexed(desc, tree)
        if ds is not None:
            return _add_inferred(ds, tree, warn)
    return _add_inferred(_pandas_indexed(desc, tree), tree, warn)


# -- 1. shape-consistent --------------------------------------------------------------


def _direct(desc: RunDescription, tree: TreeData) -> xr.Dataset:
    import xarray as xr

    interdeps = desc.interdeps
    axes: dict[str, np.ndarray] = {}
    for axis, dep in enumerate(tree.deps):
        if tree.axis_coords is not None:
            axes[dep] = tree.axis_coords[dep]
        else:
            arr = tree.arrays[dep]
            axes[dep] = arr[tuple(slice(None) if i == axis else 0 for i in range(arr.ndim))]
    dims = tuple(axes)
    extra_coords: dict[str, Any] = {}
    data_vars: dict[str, Any] = {tree.top: (dims, tree.arrays[tree.top])}
    for inf in tree.inferred:
        if inf in axes or inf not in tree.arrays:
            continue
        related = interdeps.find_all_parameters_in_tree(inf)
        if tree.top in related:
            data_vars[inf] = (dims, tree.arrays[inf])
        else:
            related_deps = [d for d in tree.deps if d in related]
            index = tuple(slice(None) if d in related_deps else 0 for d in tree.deps)
            extra_coords[inf] = (tuple(related_deps), tree.arrays[inf][index])
    return xr.Dataset(data_vars, coords={**axes, **extra_coords})


# -- 2. indexed: fast numpy cases -----------------------------------------------------


def _flat(values: np.ndarray) -> np.ndarray:
    """A column as QCoDeS flattens it for pandas (ragged object arrays are concatenated)."""
    if values.dtype == np.dtype("O"):
        return np.concatenate(values)
    return values.ravel()


def _pandas_like(values: np.ndarray) -> np.ndarray:
    # A pandas column holds strings as Python objects; xarray gets them back as objects.
    return values.astype(object) if values.dtype.kind in "US" else values


def _fill_for(dtype: np.dtype) -> tuple[np.dtype, Any]:
    """dtype and fill value for holes in a grid (xarray's ``maybe_promote``)."""
    if dtype.kind == "f":
        return dtype, np.nan
    if dtype.kind == "c":
        return dtype, complex(np.nan, np.nan)
    if dtype.kind in "iu":
        return np.dtype(np.float64), np.nan
    return np.dtype(object), np.nan


def _fast_indexed(desc: RunDescription, tree: TreeData) -> xr.Dataset | None:
    """The indexed cases for float setpoints without NaN, in numpy; None to use pandas."""
    import xarray as xr

    values = tree.arrays[tree.top]
    if values.dtype == np.dtype("O") or any(tree.arrays[d].dtype.kind != "f" for d in tree.deps):
        return None
    data = _pandas_like(values.ravel())
    if not tree.deps:
        return xr.Dataset({tree.top: (("index",), data)}, coords={"index": np.arange(data.size)})
    setpoints = [tree.arrays[d].ravel() for d in tree.deps]
    if any(sp.size != data.size for sp in setpoints) or any(
        bool(np.isnan(sp).any()) for sp in setpoints
    ):
        return None
    if len(tree.deps) == 1:
        if np.unique(setpoints[0]).size != data.size:
            return None
        return xr.Dataset({tree.top: (tree.deps, data)}, coords={tree.deps[0]: setpoints[0]})

    levels, codes = zip(*(np.unique(sp, return_inverse=True) for sp in setpoints), strict=True)
    grid_shape = tuple(len(level) for level in levels)
    cells = math.prod(grid_shape)
    if cells >= _MAX_GRID_CELLS:
        return None
    cell = np.ravel_multi_index(codes, grid_shape)
    if cells <= 8 * data.size + 1024:
        duplicates = bool(np.bincount(cell, minlength=cells).max(initial=0) > 1)
    else:
        duplicates = np.unique(cell).size != cell.size
    if duplicates:
        return None  # a flat 'index' dimension: rare, let pandas do it
    if cells != data.size and desc.shapes is None:
        return None  # sparse without shapes: a MultiIndex, let pandas do it
    if cells == data.size:
        grid = np.zeros(cells, dtype=data.dtype)
    else:
        dtype, fill = _fill_for(data.dtype)
        grid = np.full(cells, fill, dtype=dtype)
    grid[cell] = data
    coords = dict(zip(tree.deps, levels, strict=True))
    return xr.Dataset({tree.top: (tree.deps, grid.reshape(grid_shape))}, coords=coords)


# -- 2. indexed: the pandas route (QCoDeS' own) ------------------------------------


def _pandas_index(tree: TreeData) -> pd.Index | pd.MultiIndex | None:
    import pandas as pd

    if not tree.deps:
        return None
    if len(tree.deps) == 1:
        return pd.Index(tree.arrays[tree.deps[0]].ravel(), name=tree.deps[0])
    columns = []
    for dep in tree.deps:
        values = tree.arrays[dep]
        if values.dtype == np.dtype("O"):
            try:
                columns.append(np.concatenate(values))
            except ValueError:
                columns.append(values.ravel())
        else:
            columns.append(values.ravel())
    return pd.MultiIndex.from_arrays(columns, names=list(tree.deps))


def _pandas_indexed(desc: RunDescription, tree: TreeData) -> xr.Dataset:
    import pandas as pd
    import xarray as xr

    index = _pandas_index(tree)
    frame = pd.DataFrame(_flat(tree.arrays[tree.top]), index=index, columns=[tree.top])
    if index is None:
        return frame.to_xarray()
    if len(index.unique()) != len(index):
        return frame.reset_index().to_xarray()
    if isinstance(index, pd.MultiIndex):
        used = index.remove_unused_levels()
        on_grid = math.prod(len(level) for level in used.levels) == len(index)
        if not on_grid and desc.shapes is None:
            coords = xr.Coordinates.from_pandas_multiindex(frame.index, "multi_index")
            return xr.DataArray(frame[tree.top], coords=coords).to_dataset(name=tree.top)
    return frame.to_xarray()


def _add_inferred(ds: xr.Dataset, tree: TreeData, warn: Callable[[str], None]) -> xr.Dataset:
    """Add inferred tree members along all dimensions when their size fits (QCoDeS'
    ``_add_inferred_data_vars``: values are laid out in row order, as QCoDeS does)."""
    dims = tuple(ds.dims)
    for inf in tree.inferred:
        if inf in tree.deps or inf in ds or inf not in tree.arrays:
            continue
        values = tree.arrays[inf]
        if values.dtype == np.dtype("O"):
            try:
                flat = np.concatenate(values)
            except ValueError:
                flat = values.ravel()
        else:
            flat = values.ravel()
        shape = tuple(ds.sizes[d] for d in dims)
        if flat.shape[0] == math.prod(shape):
            ds[inf] = (dims, flat.reshape(shape))
        else:
            warn(
                f"inferred parameter {inf!r} left out of the dataset of {tree.top!r}:"
                f" {flat.shape[0]} values for dimensions {dict(zip(dims, shape, strict=True))}"
            )
    return ds
