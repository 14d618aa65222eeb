"""Write one core-tools measurement as NetCDF4 (``measured_data.hdf5``), streaming.

The Dataset handed to the agent's NetCDF writer holds the coordinates (small: one line
of each setpoint array) and, for each measured output, a zero-memory placeholder; the
writer creates the empty HDF5 datasets (fill value NaN) and this module streams the
values from the large objects into them, ``CHUNK_VALUES`` at a time, up to each write
cursor - values beyond it stay NaN. Memory therefore stays around two chunks, whatever
the size of the measurement.

For live measurements a :class:`LiveCache` keeps the values read so far, so the next live
pass reads only what was appended since (from the last cursor on).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from etiket_sync_agent.netcdf import can_write, to_netcdf_ready, write_netcdf

from .large_objects import CHUNK_VALUES, iter_chunks, read_range, read_strided
from .measurements import Measurement
from .parameters import Output, StoredArray, name_coordinates, plan_outputs, read_arrays

APPLICATION = "etiket_sync_agent core_tools backend"


@dataclass
class LiveCache:
    """Values of one live measurement read so far: oid -> (cursor, flat buffer)."""

    uuid: int
    limit_bytes: int
    arrays: dict[int, tuple[int, np.ndarray]] = field(default_factory=dict)

    def fits(self, arrays: list[StoredArray]) -> bool:
        return sum(a.size for a in arrays if not a.setpoint) * 8 <= self.limit_bytes

    def values(self, cur: Any, a: StoredArray, what: str) -> np.ndarray:
        """The flat values of ``a`` up to its cursor, reading only what is new."""
        assert a.oid is not None
        cursor, buf = self.arrays.get(a.oid, (0, np.empty(0)))
        if buf.size != a.size or a.write_cursor < cursor:
            cursor, buf = 0, np.full(a.size, np.nan)
        if a.write_cursor > cursor:
            for pos, chunk in iter_chunks(cur, a.oid, cursor, a.write_cursor, what):
                buf[pos : pos + chunk.size] = chunk
        self.arrays[a.oid] = (a.write_cursor, buf)
        return buf[: a.write_cursor]


def _write_flat(h5ds: Any, prefix: tuple, shape: tuple[int, ...], start: int, data: Any) -> None:
    """Write the flat (C-order) values ``data`` at flat position ``start`` of the
    (sub-)array ``h5ds[prefix]`` of ``shape``, in as few slab writes as possible."""
    n = data.size
    if not shape:
        h5ds[prefix if prefix else ()] = data[0]
        return
    if len(shape) == 1:
        h5ds[(*prefix, slice(start, start + n))] = data
        return
    row = math.prod(shape[1:])
    off = 0
    while off < n:
        r, c = divmod(start + off, row)
        if c == 0 and n - off >= row:
            k = (n - off) // row
            h5ds[(*prefix, slice(r, r + k))] = data[off : off + k * row].reshape((k, *shape[1:]))
            off += k * row
        else:
            take = min(row - c, n - off)
            _write_flat(h5ds, (*prefix, r), shape[1:], c, data[off : off + take])
            off += take


def _what(meas: Measurement, a: StoredArray) -> str:
    return f"parameter {a.name!r} of measurement {meas.id} (uuid {meas.uuid})"


def _json_attr(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def dataset_attrs(meas: Measurement) -> dict[str, Any]:
    """Dataset attributes, named as core-tools' xarray conversion names them."""
    return {
        "title": meas.exp_name,
        "uuid": str(meas.uuid),
        "id": meas.id,
        "sample_name": meas.sample,
        "project": meas.project,
        "set_up": meas.set_up,
        "measurement_time": meas.start_time.isoformat() if meas.start_time else "",
        "completed_time": meas.stop_time.isoformat() if meas.stop_time else "",
        "completed": int(meas.completed),
        "keywords": json.dumps(meas.keywords),
        "metadata": _json_attr(meas.metadata),
        "snapshot": _json_attr(meas.snapshot),
        "application": APPLICATION,
    }


def write_measurement(
    cur: Any,
    meas: Measurement,
    out_path: Path,
    *,
    cache: LiveCache | None = None,
    chunk: int = CHUNK_VALUES,
) -> Path:
    """Write measurement ``meas`` (read in the transaction of ``cur``) to ``out_path``.

    Raises CoreToolsDataError (missing/short large object, shape mismatch) and
    CoreToolsPermissionError as the reader meets them; nothing is written to
    ``out_path`` then.
    """
    import xarray as xr

    arrays = read_arrays(cur, meas.uuid, meas.data_table)
    outputs = plan_outputs(arrays, meas.uuid)
    for out in outputs:
        for axis in out.axes:
            if axis is not None and axis.values is None:
                sp = axis.array
                axis.values = (
                    read_strided(
                        cur, sp.oid, axis.length, axis.stride, sp.write_cursor, _what(meas, sp)
                    )
                    if sp.oid is not None
                    else np.full(axis.length, np.nan)
                )
    coords = name_coordinates(outputs)
    use_cache = cache is not None and cache.fits(arrays)

    def values_of(a: StoredArray) -> np.ndarray:
        if use_cache:
            assert cache is not None
            return cache.values(cur, a, _what(meas, a))
        return read_range(cur, a.oid, 0, a.write_cursor, _what(meas, a)) if a.oid else np.empty(0)

    coord_vars = {
        name: xr.Variable(
            (name,),
            axis.values,
            {
                "units": axis.array.unit,
                "long_name": axis.array.label,
                "param_name": axis.array.name,
            },
        )
        for name, axis in coords.items()
    }
    placeholders = {
        out.name: xr.Variable(
            out.dims,
            np.broadcast_to(np.float64(np.nan), out.array.shape),
            {"units": out.array.unit, "long_name": out.array.label, "param_name": out.array.name},
        )
        for out in outputs
    }
    ds = xr.Dataset(placeholders, coords=coord_vars, attrs=dataset_attrs(meas))
    if can_write(to_netcdf_ready(ds)):
        fill: dict[str, Callable[[Any], None]] = {
            out.name: _filler(cur, meas, out, values_of if use_cache else None, chunk)
            for out in outputs
        }
        return write_netcdf(ds, out_path, fill=fill)
    # shapes the streaming writer declines (scalars, empty dimensions): small, in memory
    for out in outputs:
        full = np.full(out.array.size, np.nan)
        got = values_of(out.array)
        full[: got.size] = got
        ds[out.name] = ds[out.name].copy(data=full.reshape(out.array.shape))
    return write_netcdf(ds, out_path)


def _filler(
    cur: Any,
    meas: Measurement,
    out: Output,
    cached: Callable[[StoredArray], np.ndarray] | None,
    chunk: int,
) -> Callable[[Any], None]:
    a = out.array

    def fill(h5ds: Any) -> None:
        if cached is not None:
            values = cached(a)
            for pos in range(0, values.size, chunk):
                _write_flat(h5ds, (), a.shape, pos, values[pos : pos + chunk])
            return
        if a.oid is None:
            return
        for pos, values in iter_chunks(cur, a.oid, 0, a.write_cursor, _what(meas, a), chunk):
            _write_flat(h5ds, (), a.shape, pos, values)
            del values  # before the next chunk is read: one chunk in memory at a time

    return fill
