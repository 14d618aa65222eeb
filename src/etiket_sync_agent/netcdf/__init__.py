"""Write xarray Datasets as NetCDF4/HDF5 files (engine h5netcdf), readable by plain xarray.

One writer for the whole agent: the SDK's ``write_netcdf`` / ``SyncContext.upload_xarray``
and the QCoDeS backend use it. It makes the adjustments NetCDF needs:

* a pandas MultiIndex dimension (sparse, non-grid data) is stored with CF "compression by
  gathering" - the index levels as coordinates and the dimension as the flat cell number
  with a ``compress`` attribute - exactly as ``cf_xarray.encode_multi_index_as_compress``
  does, so xarray users (and QCoDeS) can decode it back;
* attributes NetCDF cannot hold are converted: None -> ``""``, bool -> int, dicts (and
  lists holding non-scalars) -> JSON strings;
* a variable of mixed Python objects (e.g. a numeric column that also holds the text
  "overload") is written as text, each value as ``str(value)`` (missing values as ``""``);
* complex values are written natively (h5netcdf >= 1.4 with xarray >= 2024.10; with older
  versions ``invalid_netcdf=True`` is used).

Common datasets are written by :mod:`.nc4_writer` (the same file layout as xarray's, much
faster for small files); the rest by ``xarray.Dataset.to_netcdf(engine="h5netcdf")``.
Files are written next to the target under a temporary name, read back and compared with
the Dataset (:mod:`.verify`), and only then renamed into place: readers never see a
half-written file, and a file that does not hold what the Dataset holds is never kept.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from etiket_sync_agent.netcdf.nc4_writer import can_write, write_netcdf4
from etiket_sync_agent.netcdf.verify import NetCDFVerifyError, Verification, verify_netcdf

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "NetCDFVerifyError",
    "Verification",
    "can_write",
    "take_verification",
    "to_netcdf_ready",
    "write_netcdf",
]


def _version_tuple(package: str) -> tuple[int, ...]:
    try:
        text = version(package)
    except PackageNotFoundError:
        return (0,)
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _complex_needs_invalid_netcdf() -> bool:
    return _version_tuple("xarray") < (2024, 10) or _version_tuple("h5netcdf") < (1, 4)


def _netcdf_attr(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, list | tuple) and any(
        isinstance(v, dict | list | tuple) or v is None for v in value
    ):
        return json.dumps(list(value))
    return value


def _encode_multi_index(ds: xr.Dataset) -> xr.Dataset:
    import pandas as pd

    names = [
        name
        for name, index in ds.indexes.items()
        if isinstance(index, pd.MultiIndex) and index.name == name
    ]
    if not names:
        return ds
    encoded = ds.reset_index(names)
    for name in names:
        mindex = ds.indexes[name]
        assert isinstance(mindex, pd.MultiIndex)
        levels = dict(zip(mindex.names, mindex.levels, strict=True))
        encoded = encoded.assign(levels)
        for level in levels:
            encoded[level].attrs = dict(ds[level].attrs)
        encoded[name] = np.ravel_multi_index(mindex.codes, mindex.levshape)
        encoded[name].attrs = {**ds[name].attrs, "compress": " ".join(map(str, mindex.names))}
    return encoded


def to_netcdf_ready(ds: xr.Dataset) -> xr.Dataset:
    """A copy of ``ds`` that ``to_netcdf(engine="h5netcdf")`` can write (see module doc)."""
    out = _encode_multi_index(ds)
    if out is ds:
        out = ds.copy()
    out.attrs = {k: _netcdf_attr(v) for k, v in ds.attrs.items()}
    for name, var in list(out.variables.items()):
        var.attrs = {k: _netcdf_attr(v) for k, v in var.attrs.items()}
        if var.dtype == object and name not in out.indexes and _mixed(var.values):
            out[name] = var.copy(data=_as_text(var.values))
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _mixed(values: np.ndarray) -> bool:
    return not all(isinstance(v, str) or _missing(v) for v in values.flat)


def _as_text(values: np.ndarray) -> np.ndarray:
    out = np.empty(values.shape, dtype=object)
    out.flat[:] = ["" if _missing(v) else str(v) for v in values.flat]
    return out


def write_netcdf(
    ds: xr.Dataset,
    out_path: str | Path,
    *,
    fill: Mapping[Hashable, Callable[[Any], None]] | None = None,
    before_verify: Callable[[Path], None] | None = None,
) -> Path:
    """Write ``ds`` to ``out_path`` as NetCDF4 (h5netcdf), atomically. Returns the path.

    The file is read back and compared with ``ds`` before it is renamed into place (see
    :mod:`.verify`): a difference raises :class:`~.verify.NetCDFVerifyError` and leaves
    no file. What the check covered is kept for :func:`take_verification`.

    ``fill``: variables whose values are streamed in by the given callables (see
    :func:`.nc4_writer.write_netcdf4`); only possible when that writer takes ``ds``.
    ``before_verify`` is called with the written temp file just before it is read back
    (tests use it to damage the file on disk).
    """
    target = Path(out_path)
    ready = to_netcdf_ready(ds)
    fast = can_write(ready)
    if fill and not fast:
        raise ValueError("streamed variables need a dataset the NetCDF-4 writer takes")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if fast:
            write_netcdf4(ready, tmp, fill)
        else:
            has_complex = any(v.dtype.kind == "c" for v in ready.variables.values())
            invalid = has_complex and _complex_needs_invalid_netcdf()
            ready.to_netcdf(tmp, engine="h5netcdf", invalid_netcdf=invalid)
        if before_verify is not None:
            before_verify(tmp)
        checked = verify_netcdf(tmp, ready, streamed=tuple(fill or ()))
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    _remember(target, replace(checked, file=target.name))
    return target


# What the read-back of recently written files checked, by resolved path, until the
# caller that stores the file takes it (SyncContext.upload_file puts it on the record).
_VERIFIED: OrderedDict[str, Verification] = OrderedDict()
_VERIFIED_LOCK = threading.Lock()
_VERIFIED_MAX = 256


def _remember(path: Path, checked: Verification) -> None:
    key = str(path.resolve())
    with _VERIFIED_LOCK:
        _VERIFIED[key] = checked
        _VERIFIED.move_to_end(key)
        while len(_VERIFIED) > _VERIFIED_MAX:
            _VERIFIED.popitem(last=False)


def take_verification(path: str | Path) -> Verification | None:
    """What the read-back of the file this process last wrote at ``path`` checked (once:
    the entry is removed), or None if this module did not write it."""
    with _VERIFIED_LOCK:
        return _VERIFIED.pop(str(Path(path).resolve()), None)
