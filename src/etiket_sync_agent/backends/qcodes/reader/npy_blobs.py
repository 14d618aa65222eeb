"""Decode the ``.npy`` blobs QCoDeS stores for ``array`` and ``complex`` parameters.

QCoDeS' sqlite adapters write each value with ``np.lib.format.write_array`` (arrays, npy
format 3.0) or ``np.save`` of a one-element array (complex scalars). A column of such
blobs almost always shares one header (same dtype and shape in every row), so we check
the headers with one vectorised comparison and view all payloads as one array, instead
of parsing every blob in Python. Blobs that differ fall back to ``np.lib.format.read_array``
one by one (what QCoDeS does for every value). Pickled (object) arrays are refused, as
QCoDeS refuses them.
"""

from __future__ import annotations

import ast
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import QCoDeSFormatError

_MAGIC = b"\x93NUMPY"


def _parse_header(blob: bytes) -> tuple[int, np.dtype, tuple[int, ...], bool] | None:
    """``(payload offset, dtype, shape, fortran_order)`` of one npy blob, or None if odd."""
    if len(blob) < 10 or not blob.startswith(_MAGIC):
        return None
    major = blob[6]
    if major == 1:
        hlen, start = int.from_bytes(blob[8:10], "little"), 10
    elif major in (2, 3):
        hlen, start = int.from_bytes(blob[8:12], "little"), 12
    else:
        return None
    try:
        header = ast.literal_eval(
            blob[start : start + hlen].decode("utf-8" if major == 3 else "latin1")
        )
        dtype = np.lib.format.descr_to_dtype(header["descr"])
        shape = tuple(int(s) for s in header["shape"])
        fortran = bool(header["fortran_order"])
    except (ValueError, SyntaxError, KeyError, TypeError, UnicodeDecodeError):
        return None
    if dtype.hasobject:
        return None
    return start + hlen, dtype, shape, fortran


def decode_one(blob: Any) -> Any:
    """Decode one stored value the way QCoDeS' converter does (None stays None)."""
    if blob is None:
        return None
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise QCoDeSFormatError(f"expected an npy blob, found a {type(blob).__name__} value")
    try:
        return np.lib.format.read_array(io.BytesIO(blob), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise QCoDeSFormatError(f"cannot decode stored array value: {exc}") from exc


def decode_column(blobs: Sequence[Any]) -> np.ndarray | list[Any]:
    """Decode a column of npy blobs.

    Returns one array of shape ``(len(blobs), *value_shape)`` when every blob has the same
    header (the common case, done without per-row parsing), otherwise a list with one
    decoded array (or None) per row.

    Raises:
        QCoDeSFormatError: a value is not a decodable npy blob.
    """
    n = len(blobs)
    if n == 0:
        return []
    first = blobs[0]
    parsed = _parse_header(first) if isinstance(first, bytes) else None
    if parsed is not None:
        offset, dtype, shape, fortran = parsed
        length = len(first)
        payload = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        if (
            not fortran
            and length == offset + payload
            and all(isinstance(b, bytes) and len(b) == length for b in blobs)
        ):
            raw = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(n, length)
            if bool((raw[:, :offset] == raw[0, :offset]).all()):
                body = np.ascontiguousarray(raw[:, offset:])
                return body.view(dtype).reshape((n, *shape))
    return [decode_one(b) for b in blobs]
