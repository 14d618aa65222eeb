"""A lean NetCDF-4 writer (h5py) for the datasets this reader produces.

``Dataset.to_netcdf(engine="h5netcdf")`` spends ~30 ms per file on bookkeeping, which
dominates syncing thousands of small runs. For the common shapes of data - numeric and
string variables on dimension coordinates - this module writes the same HDF5 layout that
xarray + h5netcdf write (same datasets, dtypes, fill values, dimension scales with
``_Netcdf4Dimid``/``_Netcdf4Coordinates``/``DIMENSION_LIST``/``REFERENCE_LIST``, the same
attribute encodings), in a fraction of the time. ``tests/backends/qcodes`` checks that
xarray reads both files back identically.

Anything else (complex values, non-dimension coordinates, zero-length or unlimited
dimensions, exotic dtypes or attributes) is declined - :func:`can_write` returns False -
and the caller uses xarray.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

_MAX_COMPACT_ATTRS = 64
_MIN_DENSE_ATTRS = 48
_NOT_A_VARIABLE = b"This is a netCDF dimension but not a netCDF variable."
_RESERVED_ATTRS = {
    "_FillValue",
    "_Netcdf4Dimid",
    "_Netcdf4Coordinates",
    "_NCProperties",
    "_nc3_strict",
    "CLASS",
    "NAME",
    "REFERENCE_LIST",
    "DIMENSION_LIST",
    "coordinates",
    "dtype",
}


@functools.lru_cache(maxsize=1)
def _package_version() -> str:
    try:
        return version("etiket_sync_agent")
    except PackageNotFoundError:
        return "unknown"


def _attr_ok(value: Any) -> bool:
    if isinstance(value, str | bytes | int | float | np.integer | np.floating):
        return not isinstance(value, bool | np.bool_)
    if isinstance(value, list | tuple):
        return all(isinstance(v, str) for v in value) or all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        )
    if isinstance(value, np.ndarray):
        return value.ndim <= 1 and value.dtype.kind in "iuf"
    return False


def _string_values(values: np.ndarray) -> np.ndarray | None:
    """Object array of str (missing -> ""), as xarray encodes text; None if not text."""
    flat = values.ravel()
    if values.dtype.kind == "U":
        return values.astype(object)
    out = np.empty(flat.shape, dtype=object)
    for i, v in enumerate(flat):
        if isinstance(v, str):
            out[i] = v
        elif v is None or (isinstance(v, float) and v != v):
            out[i] = ""
        else:
            return None
    return out.reshape(values.shape)


def _plain_variable(name: Hashable, var: xr.Variable) -> bool:
    if not isinstance(name, str) or "/" in name or not var.dims:
        return False
    if var.encoding.get("dtype") or var.dtype.kind not in "fiuUO":
        return False
    if any(k in _RESERVED_ATTRS for k in var.attrs):
        return False
    return all(_attr_ok(v) for v in var.attrs.values())


def can_write(ds: xr.Dataset) -> bool:
    """Whether :func:`write_netcdf4` reproduces xarray's file for ``ds``."""
    if any(size == 0 for size in ds.sizes.values()):
        return False
    if any(k in _RESERVED_ATTRS for k in ds.attrs) or not all(
        _attr_ok(v) for v in ds.attrs.values()
    ):
        return False
    for name, coord in ds.coords.items():
        # only dimension coordinates (non-dimension ones need a 'coordinates' attribute)
        if coord.dims != (name,):
            return False
    for name, var in ds.variables.items():
        if not _plain_variable(name, var):
            return False
        if var.dtype.kind == "O" and _string_values(var.values) is None:
            return False
    return True


def _attr_array(value: Any) -> np.ndarray:
    """The array h5netcdf/h5py would store for an attribute value."""
    import h5py

    if isinstance(value, str):
        return np.array(value, dtype=h5py.string_dtype("utf-8"))
    if isinstance(value, int | float | np.integer | np.floating):
        # h5netcdf stores non-string scalars as one-element arrays (as netCDF-C does)
        return np.atleast_1d(value)
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return np.array(value, dtype=h5py.string_dtype("utf-8"))
    return np.asarray(value)


_H5_TYPES: dict[tuple[str, str], tuple[Any, Any]] = {}


def _h5_types(dtype: np.dtype) -> tuple[Any, Any]:
    """(file type, memory type) for attribute data of ``dtype``, made once per dtype."""
    # keyed with the metadata: numpy treats h5py's vlen-str dtype as equal to plain object
    key = (dtype.str, repr(dtype.metadata))
    if key not in _H5_TYPES:
        import h5py

        _H5_TYPES[key] = (h5py.h5t.py_create(dtype, logical=True), h5py.h5t.py_create(dtype))
    return _H5_TYPES[key]


@functools.lru_cache(maxsize=64)
def _h5_space(shape: tuple[int, ...]) -> Any:
    import h5py

    return h5py.h5s.create(h5py.h5s.SCALAR) if shape == () else h5py.h5s.create_simple(shape)


@functools.lru_cache(maxsize=1)
def _str_types() -> tuple[Any, Any, np.dtype]:
    import h5py

    dtype = h5py.string_dtype("utf-8")
    return (*_h5_types(dtype), dtype)


def _compact_attrs_dcpl() -> Any:
    """A dataset creation property list keeping attributes compact (see write_netcdf4)."""
    import h5py

    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_attr_phase_change(_MAX_COMPACT_ATTRS, _MIN_DENSE_ATTRS)
    return dcpl


def _set_attr(obj: Any, key: str, value: Any) -> None:
    """Create one attribute with h5py's low-level API (the high-level one costs ~70 us;
    type and dataspace objects are reused between attributes)."""
    import h5py

    if type(value) is str:  # most attributes: skip the dtype inspection
        file_type, memory_type, dtype = _str_types()
        data = np.array(value, dtype=dtype)
    else:
        data = _attr_array(value)
        file_type, memory_type = _h5_types(data.dtype)
    attr = h5py.h5a.create(obj.id, key.encode("utf-8"), file_type, _h5_space(data.shape))
    if data.size:
        attr.write(data, mtype=memory_type)


def write_netcdf4(
    ds: xr.Dataset,
    path: str | Path,
    fill: Mapping[Hashable, Callable[[Any], None]] | None = None,
) -> None:
    """Write ``ds`` (for which :func:`can_write` is True) to ``path`` as NetCDF-4.

    ``fill`` maps variable names to callables that write the variable's values into the
    (already created, empty) h5py dataset themselves - to stream large data in pieces;
    the values ``ds`` holds for those variables are not used.
    """
    import h5py

    fillers = fill or {}
    dims: dict[Hashable, int] = {}
    for var in ds.variables.values():
        for dim, size in zip(var.dims, var.shape, strict=True):
            dims.setdefault(dim, size)
    dimid = {dim: np.int32(i) for i, dim in enumerate(dims)}

    # Attributes stay in the object header ("compact") up to _MAX_COMPACT_ATTRS instead
    # of moving to dense storage after 8: dense storage with creation order (which
    # netCDF-4 requires) costs ~20 % more per attribute. Readers see no difference.
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_link_creation_order(h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED)
    fcpl.set_attr_creation_order(h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED)
    fcpl.set_attr_phase_change(_MAX_COMPACT_ATTRS, _MIN_DENSE_ATTRS)
    # no object times: the same content gives the same bytes (the store then keeps one version)
    fcpl.set_obj_track_times(False)
    fid = h5py.h5f.create(str(path).encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl)
    with h5py.File(fid) as f:
        f.attrs["_NCProperties"] = np.bytes_(
            f"version=2,etiket_sync_agent={_package_version()},"
            f"hdf5={h5py.version.hdf5_version},h5py={h5py.__version__}".encode("ascii")
        )
        for key, value in ds.attrs.items():
            _set_attr(f, str(key), value)

        scales: dict[Hashable, Any] = {}
        for dim, size in dims.items():
            if dim in ds.variables:
                continue
            phony = f.create_dataset(
                str(dim), shape=(size,), dtype=">f4", track_order=True, track_times=False
            )
            phony.make_scale(_NOT_A_VARIABLE + f"{size:10}".encode("ascii"))
            _set_attr(phony, "_Netcdf4Dimid", np.array(dimid[dim]))
            scales[dim] = phony

        created = []
        for name, var in ds.variables.items():
            is_text = var.dtype.kind in "UO"
            dtype = h5py.string_dtype("utf-8") if is_text else var.dtype
            fill_value = np.nan if var.dtype.kind == "f" else None
            if name in fillers:
                h5ds = f.create_dataset(
                    str(name),
                    shape=var.shape,
                    dtype=dtype,
                    fillvalue=fill_value,
                    track_order=True,
                    track_times=False,
                    dcpl=_compact_attrs_dcpl(),
                )
                fillers[name](h5ds)
            else:
                values = _string_values(var.values) if is_text else var.values
                h5ds = f.create_dataset(
                    str(name),
                    data=values,
                    dtype=dtype,
                    fillvalue=fill_value,
                    track_order=True,
                    track_times=False,
                    dcpl=_compact_attrs_dcpl(),
                )
            if var.dims == (name,):
                h5ds.make_scale(str(name))
                scales[name] = h5ds
            created.append((name, var, h5ds, fill_value))

        for name, var, h5ds, fill_value in created:
            if var.dims != (name,):
                for axis, dim in enumerate(var.dims):
                    h5ds.dims[axis].attach_scale(scales[dim])
            coordinates = np.array([dimid[d] for d in var.dims], np.int32)
            _set_attr(h5ds, "_Netcdf4Coordinates", coordinates)
            _set_attr(h5ds, "_Netcdf4Dimid", np.array(dimid[var.dims[0]]))
            if fill_value is not None:
                _set_attr(h5ds, "_FillValue", np.array([fill_value], dtype=var.dtype))
            for key, value in var.attrs.items():
                _set_attr(h5ds, str(key), value)
