"""Reading float64 values from PostgreSQL large objects with plain SELECTs (``lo_get``).

core-tools appends each array's values as native little-endian float64 bytes to a large
object and counts them in ``write_cursor``; values are read by byte range, in binary
result format, so nothing larger than one chunk is ever held (plus its bytes).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .errors import CoreToolsDataError, CoreToolsPermissionError

#: values per lo_get call when streaming (8 MiB)
CHUNK_VALUES = 1 << 20
_F8 = np.dtype("<f8")


def _query(cur: Any, sql: str, args: tuple[Any, ...], oid: int, what: str) -> list[Any]:
    import psycopg

    try:
        cur.execute(sql, args, binary=True)
        return cur.fetchall()
    except psycopg.errors.UndefinedObject:
        raise CoreToolsDataError(
            f"large object {oid} of {what} does not exist", retryable=False
        ) from None
    except psycopg.errors.InsufficientPrivilege:
        user = cur.connection.info.user
        raise CoreToolsPermissionError(
            f"user {user!r} may not read large object {oid} of {what}",
            hint=f"grant it: GRANT SELECT ON LARGE OBJECT {oid} TO {user} (for every object),"
            " or set lo_compat_privileges = on in postgresql.conf",
        ) from None


def read_range(cur: Any, oid: int, start: int, count: int, what: str) -> np.ndarray:
    """Values ``[start, start + count)``; CoreToolsDataError if the object is shorter."""
    if count <= 0:
        return np.empty(0, _F8)
    rows = _query(
        cur, "SELECT lo_get(%s::oid, %s::bigint, %s)", (oid, start * 8, count * 8), oid, what
    )
    data = rows[0][0] or b""
    if len(data) < count * 8:
        raise CoreToolsDataError(
            f"large object {oid} of {what} holds {(start * 8 + len(data)) // 8} values, "
            f"fewer than its write cursor {start + count}",
            retryable=False,
        )
    return np.frombuffer(data, dtype=_F8).astype(np.float64, copy=False)


def iter_chunks(
    cur: Any, oid: int, start: int, stop: int, what: str, chunk: int = CHUNK_VALUES
) -> Iterator[tuple[int, np.ndarray]]:
    """(offset, values) pieces of ``[start, stop)``, ``chunk`` values each at most."""
    pos = start
    while pos < stop:
        n = min(chunk, stop - pos)
        yield pos, read_range(cur, oid, pos, n, what)
        pos += n


def read_strided(cur: Any, oid: int, length: int, stride: int, limit: int, what: str) -> np.ndarray:
    """``length`` values at positions ``0, stride, 2*stride, ...`` (positions at or after
    ``limit``, the write cursor, are NaN), in one query."""
    out = np.full(length, np.nan)
    n = min(length, -(-limit // stride)) if stride > 0 else 0
    if n <= 0:
        return out
    if stride == 1:
        for pos, chunk in iter_chunks(cur, oid, 0, n, what):
            out[pos : pos + chunk.size] = chunk
        return out
    rows = _query(
        cur,
        "SELECT lo_get(%s::oid, g * %s::bigint, 8) FROM generate_series(0, %s - 1) AS g ORDER BY g",
        (oid, stride * 8, n),
        oid,
        what,
    )
    data = b"".join(r[0] or b"" for r in rows)
    if len(data) < n * 8:
        raise CoreToolsDataError(
            f"large object {oid} of {what} is shorter than its write cursor {limit}",
            retryable=False,
        )
    out[:n] = np.frombuffer(data, dtype=_F8)
    return out
