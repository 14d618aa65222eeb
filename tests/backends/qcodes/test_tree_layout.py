"""The numpy fast paths of tree_layout against the pandas route QCoDeS itself takes.

Trees are built directly as arrays (what the result-table reader hands over), covering
the cases the fast paths claim and the ones they must hand back to pandas.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from etiket_sync_agent.backends.qcodes.reader.interdeps import InterDependencies, ParamSpec
from etiket_sync_agent.backends.qcodes.reader.run_description import RunDescription
from etiket_sync_agent.backends.qcodes.reader.tree_data import TreeData
from etiket_sync_agent.backends.qcodes.reader.tree_layout import tree_to_dataset


def _tree(
    data: np.ndarray, setpoints: dict[str, np.ndarray], shapes: dict | None = None
) -> tuple[RunDescription, TreeData]:
    spec = ParamSpec("m", "complex" if data.dtype.kind == "c" else "numeric")
    deps = [ParamSpec(name, "numeric") for name in setpoints]
    interdeps = InterDependencies.from_trees(
        dependencies=[(spec, deps)] if deps else [], standalones=[] if deps else [spec]
    )
    desc = RunDescription(interdeps, shapes=shapes)
    arrays = {"m": data, **setpoints}
    return desc, TreeData("m", tuple(setpoints), (), arrays, n_rows=len(data))


def _both(desc: RunDescription, tree: TreeData) -> tuple[xr.Dataset, xr.Dataset]:
    return tree_to_dataset(desc, tree, fast=True), tree_to_dataset(desc, tree, fast=False)


rng = np.random.default_rng(7)


def _grid(nx: int, ny: int, order: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = np.meshgrid(rng.normal(size=nx), rng.normal(size=ny), indexing="ij")
    x, y = xs.ravel(), ys.ravel()
    if order == "shuffled":
        p = rng.permutation(x.size)
        x, y = x[p], y[p]
    elif order == "reversed":
        x, y = x[::-1], y[::-1]
    return x, y


@pytest.mark.parametrize("order", ["sweep", "shuffled", "reversed"])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.int64])
def test_full_grid(order, dtype) -> None:
    x, y = _grid(5, 7, order)
    data = (rng.normal(size=x.size) * 100).astype(dtype)
    fast, slow = _both(*_tree(data, {"x": x, "y": y}))
    xr.testing.assert_identical(fast, slow)
    assert dict(fast.sizes) == {"x": 5, "y": 7}


@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.int64])
def test_grid_with_holes_and_shapes_is_filled(dtype) -> None:
    x, y = _grid(4, 6, "shuffled")
    keep = rng.permutation(x.size)[:17]
    data = (rng.normal(size=17) * 100).astype(dtype)
    fast, slow = _both(*_tree(data, {"x": x[keep], "y": y[keep]}, shapes={"m": [4, 6]}))
    xr.testing.assert_identical(fast, slow)
    assert fast.m.isnull().sum() == 24 - 17


def test_grid_with_holes_without_shapes_is_a_multi_index() -> None:
    x, y = _grid(4, 6, "shuffled")
    fast, slow = _both(*_tree(rng.normal(size=10), {"x": x[:10], "y": y[:10]}))
    xr.testing.assert_identical(fast, slow)
    assert "multi_index" in fast.dims


def test_three_dimensional_grid_and_text_values() -> None:
    xs, ys, zs = np.meshgrid([1.0, 2.0], [0.5, -0.5, 0.0], [9.0, 8.0], indexing="ij")
    words = np.array([f"w{i}" for i in range(xs.size)])
    desc, tree = _tree(np.zeros(xs.size), {"x": xs.ravel(), "y": ys.ravel(), "z": zs.ravel()})
    tree.arrays["m"] = words
    fast, slow = _both(desc, tree)
    xr.testing.assert_identical(fast, slow)
    assert fast.m.dtype == object


@pytest.mark.parametrize(
    "x",
    [
        np.array([3.0, 1.0, 2.0, 5.0]),  # unsorted: kept in acquisition order
        np.array([0.0, 1.0, 0.0, 2.0]),  # duplicates: flat index
        np.array([0.0, np.nan, 1.0, 2.0]),  # NaN setpoint: pandas decides
    ],
)
def test_one_setpoint(x) -> None:
    fast, slow = _both(*_tree(rng.normal(size=4), {"x": x}))
    xr.testing.assert_identical(fast, slow)


def test_duplicate_grid_points_fall_back_to_a_flat_index() -> None:
    x = np.array([0.0, 0.0, 1.0, 1.0, 0.0])
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.0])
    fast, slow = _both(*_tree(rng.normal(size=5), {"x": x, "y": y}))
    xr.testing.assert_identical(fast, slow)
    assert set(fast.dims) == {"index"}


def test_no_setpoints_and_array_values() -> None:
    fast, slow = _both(*_tree(rng.normal(size=(3, 4)), {}))
    xr.testing.assert_identical(fast, slow)
    assert dict(fast.sizes) == {"index": 12}
