"""HDF5 values as plain Python: text, JSON-ready settings tables and attributes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def text(value: Any) -> str:
    """A string from what h5py returns for Labber text (bytes, numpy str, 1-element arrays)."""
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return ""
        value = value.reshape(-1)[0]
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def texts(value: Any) -> list[str]:
    """A list of non-empty strings from a text attribute (Labber's ``Tags`` etc. are
    arrays of strings, or an empty float array when there are none)."""
    if value is None:
        return []
    arr = np.atleast_1d(np.asarray(value, dtype=object))
    out = []
    for v in arr.reshape(-1):
        if isinstance(v, bytes | np.bytes_ | str | np.str_):
            s = text(v).strip()
            if s:
                out.append(s)
    return out


def jsonable(value: Any) -> Any:
    """``value`` (attribute, compound row, array) as JSON-serializable data.

    Non-finite floats become the strings ``"nan"``, ``"inf"``, ``"-inf"`` (strict JSON).
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes | np.bytes_ | str | np.str_):
        return text(value)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else str(f)
    if isinstance(value, complex | np.complexfloating):
        return {"real": jsonable(value.real), "imag": jsonable(value.imag)}
    if isinstance(value, np.void) and value.dtype.names:
        return {name: jsonable(value[name]) for name in value.dtype.names}
    if isinstance(value, np.ndarray):
        if value.dtype.names:
            # tolist(): one C call for the whole table (rows of Python scalars/bytes)
            names = value.dtype.names
            return [
                {n: _plain(v) for n, v in zip(names, row, strict=True)}
                for row in value.reshape(-1).tolist()
            ]
        if value.ndim == 0:
            return jsonable(value[()])
        return [jsonable(v) for v in value]
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None:
        return None
    return str(value)


def _plain(value: Any) -> Any:
    """A value of ``ndarray.tolist()`` (Python scalars, bytes, nested lists) as JSON."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bool | int | str) or value is None:
        return value
    return jsonable(value)


def attrs_json(obj: Any) -> dict[str, Any]:
    """The attributes of an HDF5 object as a JSON-ready dict."""
    return {str(k): jsonable(v) for k, v in obj.attrs.items()}


def node_json(obj: Any) -> Any:
    """An HDF5 group (attributes + children) or dataset (its rows) as JSON-ready data."""
    import h5py

    if isinstance(obj, h5py.Dataset):
        return jsonable(obj[()])
    out: dict[str, Any] = {}
    attrs = attrs_json(obj)
    if attrs:
        out["attributes"] = attrs
    for key in obj:
        out[key] = node_json(obj[key])
    return out


def compound_field(row: Any, *names: str, index: int | None = None) -> Any:
    """The field of a compound row under the first of ``names`` present (Labber and
    look-alikes spell them differently), else the field at ``index``."""
    fields = row.dtype.names or ()
    for name in names:
        if name in fields:
            return row[name]
    if index is not None and index < len(fields):
        return row[fields[index]]
    return None
