"""Plot data of a stored NetCDF file: its variables, and one variable decimated to a size
a browser draws at once (a line for 1-D, a colour map for 2-D).

The file is read from the store by id (dataset uuid + a file name the catalog lists),
never by path. xarray/h5netcdf are imported here, only when plot data is asked for.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np

from etiket_sync_agent.errors import ConfigError, NotFoundError
from etiket_sync_agent.runtime import Runtime

#: at most this many points of a line, and per axis of a colour map
MAX_LINE = 5000
MAX_MAP = 400


def _kind(ndim: int) -> str | None:
    return {1: "line", 2: "map"}.get(ndim)


def _json_values(values: np.ndarray) -> list[Any]:
    """Numbers as JSON can hold them: NaN/inf as None, complex as magnitude, time as text."""
    if np.iscomplexobj(values):
        values = np.abs(values)
    if values.dtype.kind in "mM":
        return [None if np.isnat(v) else str(v) for v in values.ravel()]
    if values.dtype.kind in "biuf":
        flat = values.astype(float).ravel()
        return [None if not math.isfinite(v) else v for v in flat.tolist()]
    return [str(v) for v in values.ravel()]


#: a variable up to this size is read whole and decimated in memory (HDF5's strided
#: reads cost ten times more than reading everything: 0.39 s vs 0.02 s for 1000x1000);
#: a bigger one is read in blocks of rows of about BLOCK_BYTES
READ_WHOLE_BYTES = 256 << 20
BLOCK_BYTES = 32 << 20


def _decimated(var: Any, stride: list[int]) -> np.ndarray:
    """Every ``stride``-th value along each axis of the xarray variable ``var``."""
    steps = tuple(slice(None, None, s) for s in stride)
    if var.nbytes <= READ_WHOLE_BYTES:
        return np.asarray(var.values)[steps]
    row_bytes = max(var.nbytes // max(var.shape[0], 1), 1)
    rows = max(stride[0], BLOCK_BYTES // row_bytes // stride[0] * stride[0])
    # blocks start at multiples of the stride, so each keeps the rows a whole read would
    parts = [
        np.asarray(var[start : start + rows].values)[steps]
        for start in range(0, var.shape[0], rows)
    ]
    return np.concatenate(parts)


def _rounded_for_colours(values: np.ndarray) -> np.ndarray:
    """Real values rounded to 1e-4 of their span: far finer than a colour scale shows,
    and the JSON of a map is then about a third of its full-precision size."""
    if values.dtype.kind != "f":
        return values
    finite = values[np.isfinite(values)]
    if not finite.size:
        return values
    span = float(finite.max() - finite.min()) or abs(float(finite.max())) or 1.0
    return np.round(values, max(0, 4 - math.floor(math.log10(span))))


def _stored_file(rt: Runtime, uuid: str, name: str):  # noqa: ANN202 - FileInfo
    info = rt.store.get_dataset(uuid)
    match = next((f for f in info.files if f.name == name), None)
    if match is None or info.uuid != uuid:
        raise NotFoundError(f"dataset {uuid} has no file {name!r}")
    return match


#: a stream that cannot seek (an S3 object) is copied: in memory up to this size, else
#: into a temp file (HDF5 reads jump around the file)
SPOOL_IN_MEMORY = 64 << 20


@contextlib.contextmanager
def _seekable(fh: BinaryIO) -> Iterator[BinaryIO]:
    seekable = getattr(fh, "seekable", None)
    if seekable is not None and seekable():
        yield fh
        return
    with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY) as copy:
        shutil.copyfileobj(fh, copy, 1 << 20)
        copy.seek(0)
        yield copy  # type: ignore[misc]


def plot_data(rt: Runtime, uuid: str, name: str, variable: str | None = None) -> dict[str, Any]:
    """``{"file", "version", "live", "variables": [{name, dims, shape, kind}], ...}`` and,
    for ``variable``: ``kind``, ``dims``, ``shape``, ``stride`` (per axis), ``axes``
    (``{name, values}`` per dim, decimated like the data) and ``values`` (row-major,
    decimated). NotFoundError for an unknown dataset, file or variable; ConfigError if
    the file is not NetCDF or the variable has more than 2 dimensions."""
    f = _stored_file(rt, uuid, name)
    import xarray as xr

    out: dict[str, Any] = {
        "file": f.name,
        "version": f.latest.version,
        "live": f.latest.status.value == "live",
    }
    with rt.store.open_file(uuid, f.name, f.latest.version) as stored, _seekable(stored) as fh:
        try:
            ds = xr.open_dataset(fh, engine="h5netcdf", decode_timedelta=False)
        except Exception:  # noqa: BLE001 - any reader error means: not a file we can plot
            raise ConfigError(
                f"{f.name} is not a NetCDF file that can be plotted",
                hint="plots are drawn from the dataset's NetCDF (.nc / HDF5) files",
            ) from None
        with ds:
            out["variables"] = [
                {
                    "name": str(k),
                    "dims": [str(d) for d in v.dims],
                    "shape": list(v.shape),
                    "kind": _kind(v.ndim),
                }
                for k, v in ds.data_vars.items()
            ]
            if variable is None:
                return out
            if variable not in ds.data_vars:
                raise NotFoundError(f"{f.name} has no variable {variable!r}")
            var = ds[variable]
            kind = _kind(var.ndim)
            if kind is None:
                raise ConfigError(
                    f"{variable} has {var.ndim} dimensions; plots show 1 or 2",
                    hint="choose a 1-D or 2-D variable",
                )
            limit = MAX_LINE if kind == "line" else MAX_MAP
            stride = [max(1, math.ceil(n / limit)) for n in var.shape]
            picked = _decimated(var, stride)
            if kind == "map":
                picked = _rounded_for_colours(picked)
            axes = []
            for d, s in zip(var.dims, stride, strict=True):
                if d in ds.coords:
                    axis = _json_values(ds[d].values[::s])
                else:
                    axis = list(range(0, int(ds.sizes[d]), s))
                axes.append({"name": str(d), "values": axis})
            out |= {
                "variable": variable,
                "kind": kind,
                "dims": [str(d) for d in var.dims],
                "shape": list(var.shape),
                "stride": stride,
                "axes": axes,
                "units": str(var.attrs.get("units", "")),
                "values": _json_values(picked),
            }
    return out
