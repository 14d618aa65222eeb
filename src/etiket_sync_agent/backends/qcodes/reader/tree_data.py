"""Load the data of one parameter tree, with QCoDeS' ``get_parameter_data`` semantics.

For a top-level parameter ``top`` with setpoints ``deps`` and inferred parameters ``infs``
QCoDeS returns, for the rows where ``top`` is not NULL (in row order):

* numeric parameters as float64, complex as complex, text as numpy strings, arrays
  stacked into ``(rows, *value_shape)`` (an object array when the lengths differ);
* if the tree holds an ``array`` parameter, every scalar of a row is first broadcast to
  the shape of the row's first array, then one-element arrays to the row's largest one;
* every array whose size equals the product of the expected shape (``set_shapes``) is
  reshaped to it.

We load each tree with one bounded query (in row windows) and do the conversions on whole
columns. Python-level per-row work remains only for odd data (ragged arrays, NULLs in
array trees), where we follow QCoDeS' per-row rules literally.

One deliberate difference: QCoDeS reads numeric columns through SQLite's text rendering
of each value (15 significant digits), so it returns e.g. 0.16 for a stored
0.16000000000000003. We return the stored double exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import QCoDeSFormatError
from .npy_blobs import decode_column
from .result_table import (
    DEFAULT_BATCH_ROWS,
    LayoutChanged,
    ResultTable,
    StridedColumn,
    count_not_null,
    fetch_float_block,
    fetch_floats_at_ids,
    fetch_rows,
    first_ids,
    rows_and_bytes,
)
from .run_description import RunDescription
from .sqlite_open import ReadOnlyConnection

_BLOB_TYPES = ("array", "complex")


@dataclass
class TreeData:
    """The loaded data of one parameter tree.

    ``arrays`` holds one array per tree member (``top``, ``deps``, ``inferred`` in that
    order), as QCoDeS' ``get_parameter_data`` would return them. When the tree was read by
    the shaped fast path, the setpoint arrays are not loaded in full: ``axis_coords``
    then holds, per setpoint, the values along its own axis (all the export needs).
    With ``defer_shaped`` the measured values are not read either: ``arrays[top]`` is then
    a NaN placeholder (a zero-memory broadcast view) and ``deferred`` says where to stream
    the values from.
    """

    top: str
    deps: tuple[str, ...]
    inferred: tuple[str, ...]
    arrays: dict[str, np.ndarray]
    axis_coords: dict[str, np.ndarray] | None = None
    n_rows: int = 0
    path: str = field(default="general")
    deferred: StridedColumn | None = None


def read_tree(
    conn: ReadOnlyConnection,
    table: ResultTable | None,
    desc: RunDescription,
    top: str,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    defer_shaped: bool = False,
    memory_limit: int | None = None,
) -> TreeData:
    """Load the tree headed by ``top`` from ``table`` (None = the run has no table yet).

    ``defer_shaped`` leaves the values of a tree read by the shaped fast path in the
    database (see :class:`TreeData`), for writers that stream them.

    ``memory_limit`` (bytes): a tree that is not streamed and whose values would take
    more than this in memory is not loaded; :class:`TooLargeForMemory` is raised instead
    (building the export needs about three times the values' size at its peak).

    Raises:
        QCoDeSFormatError: a tree member has no column in the result table, or a stored
            value cannot be decoded.
    """
    interdeps = desc.interdeps
    _, deps, inferred = interdeps.tree(top)
    names = (top, *deps, *inferred)
    if table is None:
        return TreeData(top, deps, inferred, _empty_arrays(names))
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise QCoDeSFormatError(
            f"result table {table.name!r} has no column for parameter(s) {', '.join(missing)}"
        )
    types = [interdeps[n].type for n in names]
    plain = [
        t == "numeric" and table.columns[n] not in _BLOB_TYPES
        for n, t in zip(names, types, strict=True)
    ]

    if all(plain) and not inferred:
        fast = _read_shaped_fast(conn, table, desc, top, deps, batch_rows, defer_shaped)
        if fast is not None:
            return fast
    if memory_limit is not None:
        _check_memory(conn, table, top, names, plain, memory_limit)

    columns: list[Any] | None = None
    if all(plain):
        block = fetch_float_block(conn, table, names, not_null=top, batch_rows=batch_rows)
        if block is not None:
            columns = [np.ascontiguousarray(block[:, i]) for i in range(len(names))]
    if columns is None:
        raw = fetch_rows(conn, table, names, not_null=top, batch_rows=batch_rows)
        decoded = [_decode(values, table.columns[n]) for n, values in zip(names, raw, strict=True)]
        columns = _to_arrays(decoded, types)
    arrays = dict(zip(names, columns, strict=True))
    n_rows = len(columns[0]) if columns else 0
    if n_rows == 0:
        arrays = _empty_arrays(names)
    _apply_shape(arrays, desc.shape_of(top))
    return TreeData(top, deps, inferred, arrays, n_rows=n_rows)


class TooLargeForMemory(Exception):
    """Internal: a tree's values would exceed the memory limit (see :func:`read_tree`)."""

    def __init__(self, top: str, n_rows: int, n_bytes: int, numeric: bool) -> None:
        super().__init__(f"tree {top!r}: {n_rows} rows, ~{n_bytes / 2**20:.0f} MiB")
        self.top, self.n_rows, self.n_bytes, self.numeric = top, n_rows, n_bytes, numeric
        #: the run's metadata and result table (row bound fixed), set by ``load_run``
        self.meta: Any = None
        self.table: ResultTable | None = None


def _check_memory(
    conn: ReadOnlyConnection,
    table: ResultTable,
    top: str,
    names: tuple[str, ...],
    plain: list[bool],
    limit: int,
) -> None:
    """Raise :class:`TooLargeForMemory` if the tree's values would take more than ``limit``
    bytes in memory. Free for the usual small run: the table's id range bounds its rows
    (and the file's size its array/text values); only a run that could exceed the limit
    costs a counting scan inside SQLite."""
    if table.first_id is None or table.id_bound is None:
        return
    decoded = [n for n, p in zip(names, plain, strict=True) if not p]  # arrays, text
    upper_rows = table.id_bound - table.first_id + 1
    if upper_rows * len(names) * 8 <= limit:
        try:
            if not decoded or 2 * conn.source_path.stat().st_size <= limit:
                return  # no run in the file can be that big
        except OSError:
            pass
    n_rows, decoded_bytes = rows_and_bytes(conn, table, top, decoded)
    n_bytes = n_rows * 8 * (len(names) - len(decoded)) + decoded_bytes
    if n_bytes > limit:
        raise TooLargeForMemory(top, n_rows, n_bytes, numeric=not decoded)


def _empty_arrays(names: tuple[str, ...]) -> dict[str, np.ndarray]:
    # QCoDeS gives float64 empty arrays for every type when there are no rows.
    return {n: np.array([], dtype=np.float64) for n in names}


def _apply_shape(arrays: dict[str, np.ndarray], shape: tuple[int, ...] | None) -> None:
    if shape is None:
        return
    expected = int(np.prod(shape, dtype=np.int64))
    for name, values in arrays.items():
        if values.size == expected:
            arrays[name] = values.reshape(shape)


def _read_shaped_fast(
    conn: ReadOnlyConnection,
    table: ResultTable,
    desc: RunDescription,
    top: str,
    deps: tuple[str, ...],
    batch_rows: int,
    defer: bool,
) -> TreeData | None:
    """The common big case: numeric data with ``set_shapes`` that is complete. QCoDeS then
    puts the data on the shape and takes each setpoint's coordinate from the first line
    along its axis; so we read the measured column in full and each setpoint only at those
    rows. Applies when the tree's rows sit at a regular id stride (1 for a single measured
    parameter; k when k measured parameters are saved together, one row each). None when
    this does not apply."""
    shape = desc.shape_of(top)
    if shape is None or len(shape) != len(deps) or not deps or table.id_bound is None:
        return None
    total = int(np.prod(shape, dtype=np.int64))
    if total == 0:
        return None
    head = first_ids(conn, table, top, 2)
    if not head:
        return None
    first = head[0]
    stride = head[1] - head[0] if len(head) > 1 else 1
    if first + (total - 1) * stride > table.id_bound:
        return None
    whole_table = stride == 1 and first == table.first_id and (table.id_bound - first + 1 == total)
    if not whole_table and count_not_null(conn, table, top) != total:
        return None
    source = StridedColumn(table, top, first, stride, total)
    coords: dict[str, np.ndarray] = {}
    strides = np.cumprod((1, *shape[:0:-1]))[::-1]
    for axis, dep in enumerate(deps):
        positions = np.arange(shape[axis], dtype=np.int64) * int(strides[axis])
        axis_values = fetch_floats_at_ids(conn, table, dep, first + positions * stride)
        if axis_values is None:
            return None
        coords[dep] = axis_values
    if defer:
        values = np.broadcast_to(np.float64(np.nan), (total,))
    else:
        try:
            values = source.read(conn, batch_rows)
        except LayoutChanged:
            return None
    return TreeData(
        top,
        deps,
        (),
        {top: values.reshape(shape)},
        axis_coords=coords,
        n_rows=total,
        path="shaped-fast",
        deferred=source if defer else None,
    )


def _decode(values: list[Any], declared: str) -> Any:
    """Apply QCoDeS' sqlite converter for the column's declared type."""
    if declared == "array":
        return decode_column(values)
    if declared == "complex":
        decoded = decode_column(values)
        if isinstance(decoded, np.ndarray):
            return decoded.reshape(len(values), -1)[:, 0]
        return [None if v is None else v[0] for v in decoded]
    return values


def _to_arrays(decoded: list[Any], types: list[str]) -> list[np.ndarray]:
    if "array" in types:
        return _expand_array_tree(decoded, types)
    return [_column_array(col, t) for col, t in zip(decoded, types, strict=True)]


def _column_array(column: Any, paramtype: str) -> np.ndarray:
    """QCoDeS' ``list_of_data_to_maybe_ragged_nd_array`` (float64 for numeric)."""
    dtype = np.float64 if paramtype == "numeric" else None
    if isinstance(column, np.ndarray):
        return column if dtype is None else column.astype(dtype, copy=False)
    try:
        return np.array(column, dtype=dtype)
    except (ValueError, TypeError):
        out = np.empty(len(column), dtype=object)
        out[:] = column
        return out


def _expand_array_tree(decoded: list[Any], types: list[str]) -> list[np.ndarray]:
    """Broadcast scalars and one-element arrays of each row to the row's array shape."""
    n = len(decoded[0])
    uniform = all(
        isinstance(col, np.ndarray) if t == "array" else not any(v is None for v in col)
        for col, t in zip(decoded, types, strict=True)
    )
    if not uniform:
        return _expand_array_tree_per_row(decoded, types)
    first = types.index("array")
    row_shape = decoded[first].shape[1:]
    cols: list[np.ndarray] = []
    for col, t in zip(decoded, types, strict=True):
        if t == "array":
            cols.append(col)
            continue
        dtype = {"numeric": np.float64, "complex": np.complex128}.get(t)
        values = np.asarray(col) if dtype is None else np.asarray(col, dtype=dtype)
        out = np.empty((n, *row_shape), dtype=values.dtype)
        out[...] = values.reshape((n,) + (1,) * len(row_shape))
        cols.append(out)
    sizes = [int(np.prod(c.shape[1:], dtype=np.int64)) for c in cols]
    biggest = max(sizes)
    if biggest > 1:
        target = cols[sizes.index(biggest)].shape[1:]
        cols = [
            np.broadcast_to(c.reshape(n, *(1,) * len(target)), (n, *target)).copy()
            if size == 1
            else c
            for c, size in zip(cols, sizes, strict=True)
        ]
    return [c.astype(np.float64) if t == "numeric" else c for c, t in zip(cols, types, strict=True)]


def _expand_array_tree_per_row(decoded: list[Any], types: list[str]) -> list[np.ndarray]:
    """QCoDeS' ``_expand_data_to_arrays`` row by row, for ragged or NULL-holding data."""
    columns = [list(col) for col in decoded]
    rows = [list(r) for r in zip(*columns, strict=True)]
    first = types.index("array")
    scalar_dtypes = {
        "numeric": lambda _v: np.float64,
        "complex": lambda _v: np.complex128,
        "text": lambda v: np.dtype(f"U{len(v)}"),
    }
    try:
        for row in rows:
            for i, t in enumerate(types):
                if t in scalar_dtypes:
                    row[i] = np.full_like(row[first], row[i], dtype=scalar_dtypes[t](row[i]))
            max_size, row_shape = 0, None
            for value in row:
                if value.size > max_size:
                    max_size, row_shape = value.size, value.shape
            if max_size > 1:
                row[:] = [np.full(row_shape, v, dtype=v.dtype) if v.size == 1 else v for v in row]
    except (AttributeError, TypeError, ValueError) as exc:
        raise QCoDeSFormatError(f"cannot expand array-valued row: {exc}") from exc
    by_column = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in types]
    return [_column_array(col, t) for col, t in zip(by_column, types, strict=True)]
