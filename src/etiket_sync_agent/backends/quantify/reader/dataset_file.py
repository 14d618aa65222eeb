"""Open a Quantify dataset file: NetCDF4/HDF5 (h5netcdf) or netCDF3 (scipy).

Quantify wrote ``dataset.hdf5`` with ``to_netcdf`` and no engine before 0.3.2 (2021), so
old files are netCDF3 despite the name; the format is told by the netCDF3 magic bytes
(``CDF\\x01``/``CDF\\x02``), never by assuming the HDF5 signature (an HDF5 file may start
with a user block). Everything else is opened with h5netcdf, which refuses HDF5 files
that are not NetCDF datasets.

:class:`SourceFile` reads variables one at a time (``values(name)``), so a big dataset
is never held twice in memory while it is rearranged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from etiket_sync_agent.backends.quantify.reader.errors import QuantifyFormatError

#: attributes that describe the file encoding, not the data (the writer sets its own)
_ENCODING_ATTRS = {
    "_FillValue",
    "missing_value",
    "coordinates",
    "_Netcdf4Dimid",
    "_Netcdf4Coordinates",
    "_NCProperties",
    "_nc3_strict",
    "DIMENSION_LIST",
    "REFERENCE_LIST",
    "CLASS",
    "NAME",
}


@dataclass
class VariableInfo:
    name: str
    dims: tuple[str, ...]
    dtype: np.dtype
    attrs: dict[str, Any]
    fill_value: Any = None
    #: names listed in the variable's ``coordinates`` attribute
    coordinates: tuple[str, ...] = ()


@dataclass
class SourceFile:
    """An open dataset file: its dimensions, attributes and variables (values on demand)."""

    format: str  # "netCDF3" or "NetCDF4/HDF5"
    dims: dict[str, int]
    attrs: dict[str, Any]
    variables: dict[str, VariableInfo] = field(default_factory=dict)
    _handle: Any = None

    def values(self, name: str) -> np.ndarray:
        """The values of variable ``name`` (fill values of float variables as NaN)."""
        info = self.variables[name]
        data = np.asarray(self._handle.variables[name][...])
        if self.format == "netCDF3":
            data = data.copy()  # do not keep the whole file's buffer alive
        fill = info.fill_value
        if (
            fill is not None
            and data.dtype.kind in "fc"
            and np.ndim(fill) == 0
            and not np.isnan(fill)
        ):
            data = np.where(data == fill, np.nan, data)
        return data


def _plain_attrs(attrs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dict(attrs).items():
        if key in _ENCODING_ATTRS:
            continue
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, np.ndarray) and value.ndim == 0:
            value = value[()]
        elif isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "biuf":
            value = value.reshape(()).item() if value.dtype.kind == "b" else value[0]
        out[str(key)] = value
    return out


def _coordinates(attrs: Any) -> tuple[str, ...]:
    raw = dict(attrs).get("coordinates")
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    return tuple(str(raw).split()) if raw else ()


def is_netcdf3(path: Path) -> bool:
    with open(path, "rb") as fh:
        magic = fh.read(4)
    return magic in (b"CDF\x01", b"CDF\x02")


@contextmanager
def open_dataset_file(path: Path, rel: str | None = None) -> Iterator[SourceFile]:
    """Open ``path`` (a private copy) for reading; the file is closed when the block
    exits. Raises QuantifyFormatError for a file that is not a NetCDF dataset and
    OSError for bytes that cannot be parsed (possibly a torn copy)."""
    rel = rel or path.name
    if is_netcdf3(path):
        with _open_netcdf3(path) as f:
            yield f
    else:
        with _open_hdf5(path, rel) as f:
            yield f


@contextmanager
def _open_netcdf3(path: Path) -> Iterator[SourceFile]:
    from scipy.io import netcdf_file

    try:
        handle = netcdf_file(path, "r", mmap=False)
    except (TypeError, ValueError, IndexError) as exc:
        raise OSError(f"not a readable netCDF3 file ({exc})") from exc
    try:
        dims = {str(k): int(v) if v is not None else 0 for k, v in handle.dimensions.items()}
        for var in handle.variables.values():  # unlimited dims: size from the data
            for d, n in zip(var.dimensions, var.shape, strict=False):
                if dims.get(d) in (0, None):
                    dims[d] = int(n)
        f = SourceFile("netCDF3", dims, _plain_attrs(handle._attributes), _handle=handle)
        for name, var in handle.variables.items():
            attrs = var._attributes
            f.variables[str(name)] = VariableInfo(
                str(name),
                tuple(str(d) for d in var.dimensions),
                np.dtype(var.data.dtype),
                _plain_attrs(attrs),
                fill_value=attrs.get("_FillValue", attrs.get("missing_value")),
                coordinates=_coordinates(attrs),
            )
        yield f
    finally:
        handle.close()


_PHONY_DIM = b"This is a netCDF dimension but not a netCDF variable"


class _HDF5Variables:
    """``variables[name][...]`` over an h5py file, text decoded as str (like h5netcdf)."""

    def __init__(self, h5file: Any) -> None:
        self._file = h5file

    def __getitem__(self, name: str) -> Any:
        import h5py

        ds = self._file[name]
        info = h5py.check_string_dtype(ds.dtype)
        return ds.asstr() if info is not None else ds


class _HDF5Handle:
    def __init__(self, h5file: Any) -> None:
        self.variables = _HDF5Variables(h5file)


@dataclass
class _H5Object:
    """One HDF5 dataset's attributes, each read once (attribute reads dominate the
    cost of opening a small file)."""

    attrs: dict[str, Any]
    is_scale: bool = False
    phony: bool = False
    dimension_list: Any = None
    fill_value: Any = None
    coordinates: tuple[str, ...] = ()


_SKIPPED_H5_ATTRS = {"REFERENCE_LIST", "_Netcdf4Dimid", "_Netcdf4Coordinates", "_nc3_strict"}


def _h5_object(obj: Any) -> _H5Object:
    attrs = obj.attrs
    out = _H5Object({})
    plain: dict[str, Any] = {}
    keys = list(attrs)
    is_scale = "CLASS" in keys and attrs["CLASS"] == b"DIMENSION_SCALE"
    for key in keys:
        if key in _SKIPPED_H5_ATTRS or key == "CLASS":
            continue
        if key == "NAME":
            if is_scale:
                label = attrs[key]
                out.phony = isinstance(label, bytes | np.bytes_) and label.startswith(_PHONY_DIM)
        elif key == "DIMENSION_LIST":
            out.dimension_list = attrs[key]
        elif key == "_FillValue":
            out.fill_value = attrs[key]
        elif key == "coordinates":
            out.coordinates = _coordinates({"coordinates": attrs[key]})
        elif key not in _ENCODING_ATTRS:
            plain[key] = attrs[key]
    out.is_scale = is_scale
    out.attrs = _plain_attrs(plain)
    return out


@contextmanager
def _open_hdf5(path: Path, rel: str) -> Iterator[SourceFile]:
    """NetCDF4 read straight from HDF5 with h5py: what h5netcdf does, minus its
    bookkeeping (this is the per-measurement hot path). Dimensions are the datasets
    marked as dimension scales; a variable's dimensions come from its
    ``DIMENSION_LIST``; a dataset without one is not NetCDF."""
    import h5py

    with h5py.File(path, "r") as h5:
        entries = list(h5.items())
        groups = [k for k, v in entries if isinstance(v, h5py.Group)]
        if groups:
            raise QuantifyFormatError(
                f"{rel} is not a Quantify dataset: it holds groups ({', '.join(groups)})"
            )
        # committed datatypes (h5netcdf's complex type) are no variables
        objects = {k: v for k, v in entries if isinstance(v, h5py.Dataset)}
        described = {name: _h5_object(obj) for name, obj in objects.items()}
        dims = {
            name: (int(objects[name].shape[0]) if objects[name].ndim else 0)
            for name, d in described.items()
            if d.is_scale
        }
        root_attrs = {k: h5.attrs[k] for k in h5.attrs if k not in _ENCODING_ATTRS}
        f = SourceFile("NetCDF4/HDF5", dims, _plain_attrs(root_attrs), _handle=_HDF5Handle(h5))
        for name, obj in objects.items():
            d = described[name]
            if d.phony:
                continue
            if d.is_scale:
                var_dims: tuple[str, ...] = (name,)
            elif obj.ndim == 0:
                var_dims = ()
            else:
                refs = d.dimension_list
                if refs is None or len(refs) != obj.ndim:
                    raise QuantifyFormatError(
                        f"{rel} is an HDF5 file but not a NetCDF dataset (the dataset"
                        f" {name!r} has no dimensions)",
                        hint="Quantify datasets are written by xarray/h5netcdf",
                    )
                var_dims = tuple(h5[axis[0]].name.rsplit("/", 1)[-1] for axis in refs)
            dtype = obj.dtype
            if h5py.check_string_dtype(dtype) is not None:
                dtype = np.dtype(object)
            f.variables[name] = VariableInfo(
                name, var_dims, np.dtype(dtype), d.attrs, d.fill_value, d.coordinates
            )
        if not f.variables:
            raise QuantifyFormatError(f"{rel} holds no variables: not a Quantify dataset")
        yield f
