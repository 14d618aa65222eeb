"""The stored arrays of a measurement and how they form an xarray Dataset.

Every array is one row - of ``measurement_parameters`` (new format) or of the
measurement's own table (old format) - pointing to a large object of float64 values
(``oid``), filled up to ``write_cursor`` values. Rows with ``setpoint = false`` are the
measured outputs (one per ``nth_set`` of a multi-output parameter); the setpoint rows of
an output share its ``param_id_m_param`` and ``nth_set`` and stand for dimension
``nth_dim`` (or their position in the output's ``depencies``, outer to inner). Setpoint
arrays are stored over-dimensioned, with the output's full shape: the 1-D axis is the
line through index 0 of every other dimension.

Naming follows core-tools' own xarray conversion: coordinates and variables are named by
the parameter's ``name``; a coordinate equal to one already made (name, unit and values)
is reused, a different one of the same name becomes ``name-1``, ``name-2``, ...; a
variable whose name is taken becomes ``name-2``, ``name-3``, ...
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import CoreToolsDataError
from .schema import PARAMETERS

_COLUMNS = (
    "param_id",
    "nth_set",
    "nth_dim",
    "param_id_m_param",
    "setpoint",
    "name",
    "label",
    "unit",
    "depencies",
    "shape",
    "write_cursor",
    "total_size",
    "oid",
)


@dataclass(frozen=True)
class StoredArray:
    """One parameter row: a large object of float64 values."""

    row: int
    param_id: int | None
    nth_set: int
    nth_dim: int | None
    m_param: int | None
    setpoint: bool
    name: str
    label: str
    unit: str
    depencies: tuple[int, ...]
    shape: tuple[int, ...]
    write_cursor: int
    total_size: int
    oid: int | None

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass
class Axis:
    """A coordinate: ``length`` values of ``array`` taken every ``stride`` values."""

    name: str
    array: StoredArray
    length: int
    stride: int
    values: Any = None  # filled by the reader (numpy array)


@dataclass
class Output:
    """A measured output and its dimensions (coordinate names, or plain dim names)."""

    name: str
    array: StoredArray
    dims: tuple[str, ...]
    axes: list[Axis | None] = field(default_factory=list)


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


def _ints(value: Any) -> tuple[int, ...] | None:
    value = _json(value)
    if value is None:
        return None
    if isinstance(value, int | float):
        value = [value]
    try:
        return tuple(int(v) for v in value)
    except (TypeError, ValueError):
        return None


def _table_columns(cur: Any, table: str) -> set[str]:
    cur.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(quote_ident(%s)) "
        "AND attnum > 0 AND NOT attisdropped",
        (table,),
    )
    return {r[0] for r in cur.fetchall()}


def read_arrays(cur: Any, uuid: int, data_table: str | None) -> list[StoredArray]:
    """The parameter rows of measurement ``uuid`` (of ``data_table`` for old ones)."""
    from psycopg import sql

    table = data_table or PARAMETERS
    present = _table_columns(cur, table)
    if not present:
        raise CoreToolsDataError(
            f"the data table {table!r} of measurement {uuid} does not exist", retryable=False
        )
    cols = [sql.Identifier(c) if c in present else sql.SQL("NULL") for c in _COLUMNS]
    query = sql.SQL("SELECT id, {cols} FROM {table}").format(
        cols=sql.SQL(", ").join(cols), table=sql.Identifier(table)
    )
    if data_table is None:
        order = "param_index, id" if "param_index" in present else "id"
        query += sql.SQL(" WHERE exp_uuid = %s ORDER BY " + order)
        cur.execute(query, (uuid,))
    else:
        cur.execute(query + sql.SQL(" ORDER BY id"))
    out = []
    for r in cur.fetchall():
        (row_id, pid, nth_set, nth_dim, m_param, setpoint, name, label, unit) = r[:9]
        deps, shape, cursor, total, oid = r[9:]
        name = name or f"param{row_id}"
        shape_t = _ints(shape)
        if shape_t is None:
            shape_t = (int(total),) if total is not None else (0,)
        out.append(
            StoredArray(
                row=int(row_id),
                param_id=None if pid is None else int(pid),
                nth_set=int(nth_set or 0),
                nth_dim=None if nth_dim is None else int(nth_dim),
                m_param=None if m_param is None else int(m_param),
                setpoint=bool(setpoint),
                name=name,
                label=label or name,
                unit=unit or "",
                depencies=_ints(deps) or (),
                shape=shape_t,
                write_cursor=max(0, int(cursor or 0)),
                total_size=int(total) if total is not None else math.prod(shape_t),
                oid=None if oid is None else int(oid),
            )
        )
    return out


def _check(array: StoredArray, uuid: int) -> None:
    if array.total_size != array.size:
        raise CoreToolsDataError(
            f"parameter {array.name!r} of measurement {uuid}: its shape {list(array.shape)} "
            f"holds {array.size} values but total_size is {array.total_size}",
            retryable=False,
        )
    if array.write_cursor > array.size:
        raise CoreToolsDataError(
            f"parameter {array.name!r} of measurement {uuid}: write_cursor "
            f"{array.write_cursor} is beyond its shape {list(array.shape)}",
            retryable=False,
        )
    if array.oid is None and array.write_cursor:
        raise CoreToolsDataError(
            f"parameter {array.name!r} of measurement {uuid} has data but no large object",
            retryable=False,
        )


def _axis_for(sp: StoredArray, out: StoredArray, dim: int, uuid: int) -> tuple[int, int]:
    """(length, stride) of setpoint ``sp`` along ``dim`` of output ``out``."""
    length = out.shape[dim]
    if sp.shape == out.shape:  # over-dimensioned, C order
        return length, math.prod(out.shape[dim + 1 :])
    if sp.size == length:  # stored as a 1-D axis
        return length, 1
    raise CoreToolsDataError(
        f"setpoint {sp.name!r} of {out.name!r} (measurement {uuid}) has shape "
        f"{list(sp.shape)}, which fits neither {list(out.shape)} nor its dimension {dim}",
        retryable=False,
    )


def plan_outputs(arrays: list[StoredArray], uuid: int) -> list[Output]:
    """The measured outputs with their axes (coordinate names are assigned later by
    :func:`name_coordinates`, once the axis values are known)."""
    for a in arrays:
        _check(a, uuid)
    setpoints: dict[tuple[int | None, int], list[StoredArray]] = {}
    for a in arrays:
        if a.setpoint:
            setpoints.setdefault((a.m_param, a.nth_set), []).append(a)
    outputs: list[Output] = []
    taken: set[str] = set()
    for a in arrays:
        if a.setpoint:
            continue
        axes: list[Axis | None] = [None] * len(a.shape)
        for sp in setpoints.get((a.m_param, a.nth_set), []):
            dim = sp.nth_dim
            if dim is None and sp.param_id in a.depencies:
                dim = a.depencies.index(sp.param_id)
            if dim is None:
                dim = next((i for i, x in enumerate(axes) if x is None), None)
            if dim is None or not 0 <= dim < len(a.shape) or axes[dim] is not None:
                continue  # a setpoint that fits no free dimension: not a coordinate
            length, stride = _axis_for(sp, a, dim, uuid)
            axes[dim] = Axis(sp.name, sp, length, stride)
        name = a.name
        k = 1
        while name in taken:
            k += 1
            name = f"{a.name}-{k}"
        taken.add(name)
        outputs.append(Output(name, a, (), axes))
    return outputs


def _same(a: Axis, b: Axis) -> bool:
    import numpy as np

    return (
        a.array.unit == b.array.unit
        and a.length == b.length
        and np.array_equal(a.values, b.values, equal_nan=True)
    )


def name_coordinates(outputs: list[Output]) -> dict[str, Axis]:
    """Give every axis its coordinate name (reusing equal ones) and every output its
    dims; returns the coordinates by name. Axis values must be read before."""
    coords: dict[str, Axis] = {}
    var_names = {o.name for o in outputs}
    for out in outputs:
        dims = []
        for i, axis in enumerate(out.axes):
            if axis is None:
                dims.append(f"{out.name}_dim_{i}")
                continue
            same = next(
                (
                    n
                    for n, c in coords.items()
                    if n not in dims and c.array.name == axis.array.name and _same(c, axis)
                ),
                None,
            )
            if same is None:
                same, k = axis.array.name, 0
                while same in coords or same in var_names or same in dims:
                    k += 1
                    same = f"{axis.array.name}-{k}"
                coords[same] = axis
            axis.name = same
            dims.append(same)
        out.dims = tuple(dims)
    return coords
