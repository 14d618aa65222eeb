"""Read columns of a run's result table in short, bounded statements.

Every query is limited to rows with ``id <= id_bound`` (the last row that existed when the
run's metadata was read) and walks the table in windows of ``batch_rows`` ids. QCoDeS
only ever appends rows (``id INTEGER PRIMARY KEY`` grows), so the windows together are a
consistent prefix of the table even while a writer appends, and each statement holds its
read lock only briefly (a rollback-journal writer waits for readers to finish).

Numeric columns go straight from the cursor into a float64 array (``np.fromiter``): NULL
becomes NaN and the text ``'nan'`` QCoDeS stores for NaN becomes NaN, as QCoDeS' own
conversion does. Other columns come back as Python lists for the converters.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import QCoDeSFormatError
from .schema import quote_identifier
from .sqlite_open import ReadOnlyConnection, translate_errors

DEFAULT_BATCH_ROWS = 250_000


@dataclass(frozen=True)
class ResultTable:
    """A run's result table: its name, id column, declared column types and row bound."""

    name: str
    columns: dict[str, str]  # column -> declared type (lower case), table order
    id_column: str
    first_id: int | None
    id_bound: int | None  # highest id included in this read; None if the table is empty

    @property
    def quoted(self) -> str:
        return quote_identifier(self.name)

    def windows(self, batch_rows: int) -> Iterator[tuple[int, int]]:
        """``(lo, hi)`` id windows (``lo < id <= hi``) covering ``first_id..id_bound``."""
        if self.first_id is None or self.id_bound is None:
            return
        lo = self.first_id - 1
        while lo < self.id_bound:
            hi = min(lo + batch_rows, self.id_bound)
            yield lo, hi
            lo = hi


def open_result_table(
    conn: ReadOnlyConnection, name: str, *, max_rows: int | None = None
) -> ResultTable | None:
    """Describe ``name`` and fix the row bound for this read (None if the table is missing).

    ``max_rows`` limits the read to the first ``max_rows`` rows of the table.
    """
    quoted = quote_identifier(name)
    with translate_errors(conn.source_path, f"result table {name!r}"):
        info = conn.execute(f"PRAGMA table_info({quoted})").fetchall()
        if not info:
            return None
        columns = {row[1]: (row[2] or "").lower() for row in info}
        id_column = "id" if "id" in columns else "rowid"
        qid = quote_identifier(id_column) if id_column == "id" else "rowid"
        # two queries: SQLite answers a lone min() or max() from the b-tree, both at once
        # would scan the whole table
        first = conn.execute(f"SELECT min({qid}) FROM {quoted}").fetchone()[0]
        last = conn.execute(f"SELECT max({qid}) FROM {quoted}").fetchone()[0]
        if max_rows is not None and first is not None:
            if max_rows <= 0:
                last = None
            else:
                row = conn.execute(
                    f"SELECT {qid} FROM {quoted} ORDER BY {qid} LIMIT 1 OFFSET ?",
                    (max_rows - 1,),
                ).fetchone()
                last = last if row is None else row[0]
    return ResultTable(name, columns, id_column, first, last)


def _id_expr(table: ResultTable) -> str:
    return quote_identifier(table.id_column) if table.id_column == "id" else "rowid"


def _select(table: ResultTable, columns: Sequence[str], not_null: str | None) -> str:
    cols = ", ".join(quote_identifier(c) for c in columns)
    ident = _id_expr(table)
    where = f"{ident} > ? AND {ident} <= ?"
    if not_null is not None:
        where += f" AND {quote_identifier(not_null)} IS NOT NULL"
    return f"SELECT {cols} FROM {table.quoted} WHERE {where}"


def fetch_float_block(
    conn: ReadOnlyConnection,
    table: ResultTable,
    columns: Sequence[str],
    *,
    not_null: str | None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> np.ndarray | None:
    """All rows of ``columns`` (where ``not_null`` is not NULL) as a float64 ``(n, k)`` array.

    Returns None when some value is not convertible to a float (a blob, or text other
    than a number) - the caller then uses :func:`fetch_rows`, which keeps such values.
    """
    sql = _select(table, columns, not_null)
    k = len(columns)
    blocks = []
    with translate_errors(conn.source_path, f"result table {table.name!r}"):
        for lo, hi in table.windows(batch_rows):
            cursor = conn.execute(sql, (lo, hi))
            try:
                flat = np.fromiter(itertools.chain.from_iterable(cursor), dtype=np.float64)
            except (ValueError, TypeError):
                cursor.close()
                return None
            blocks.append(flat.reshape(-1, k))
    if not blocks:
        return np.empty((0, k), dtype=np.float64)
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


def iter_float_column(
    conn: ReadOnlyConnection,
    table: ResultTable,
    column: str,
    *,
    not_null: str,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[np.ndarray]:
    """``column`` at the rows where ``not_null`` is not NULL, in row order, as float64
    blocks of at most ``batch_rows`` values (NULL becomes NaN).

    Raises:
        QCoDeSFormatError: a value is not a number.
    """
    ident = _id_expr(table)
    sql = (
        f"SELECT ifnull({quote_identifier(column)}, 'nan') FROM {table.quoted}"
        f" WHERE {ident} > ? AND {ident} <= ? AND {quote_identifier(not_null)} IS NOT NULL"
    )
    with translate_errors(conn.source_path, f"result table {table.name!r}"):
        for lo, hi in table.windows(batch_rows):
            cursor = conn.execute(sql, (lo, hi))
            try:
                yield np.fromiter(itertools.chain.from_iterable(cursor), dtype=np.float64)
            except (ValueError, TypeError) as exc:
                cursor.close()
                raise QCoDeSFormatError(
                    f"column {column!r} of result table {table.name!r} holds a value that is"
                    f" not a number: {exc}"
                ) from None


def fetch_rows(
    conn: ReadOnlyConnection,
    table: ResultTable,
    columns: Sequence[str],
    *,
    not_null: str | None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> list[list[Any]]:
    """All rows of ``columns`` (where ``not_null`` is not NULL), as one Python list per column."""
    sql = _select(table, columns, not_null)
    per_column: list[list[Any]] = [[] for _ in columns]
    with translate_errors(conn.source_path, f"result table {table.name!r}"):
        for lo, hi in table.windows(batch_rows):
            rows = conn.execute(sql, (lo, hi)).fetchall()
            if rows:
                for target, values in zip(per_column, zip(*rows, strict=True), strict=True):
                    target.extend(values)
    return per_column


def first_ids(conn: ReadOnlyConnection, table: ResultTable, not_null: str, n: int) -> list[int]:
    """Ids of the first ``n`` rows (up to the bound) where ``not_null`` is not NULL."""
    ident = _id_expr(table)
    sql = (
        f"SELECT {ident} FROM {table.quoted} WHERE {ident} <= ?"
        f" AND {quote_identifier(not_null)} IS NOT NULL ORDER BY {ident} LIMIT ?"
    )
    with translate_errors(conn.source_path, f"result table {table.name!r}"):
        return [row[0] for row in conn.execute(sql, (table.id_bound, n))]


def rows_and_bytes(
    conn: ReadOnlyConnection, table: ResultTable, not_null: str, columns: Sequence[str]
) -> tuple[int, int]:
    """Rows (up to the bound) where ``not_null`` is not NULL, and the stored size in bytes
    of ``columns`` in those rows (one scan inside SQLite)."""
    ident = _id_expr(table)
    sizes = "".join(f", sum(length({quote_identifier(c)}))" for c in columns)
    sql = (
        f"SELECT count({quote_identifier(not_null)}){sizes} FROM {table.quoted}"
        f" WHERE {ident} <= ? AND {quote_identifier(not_null)} IS NOT NULL"
    )
    with translate_errors(conn.source_path, f"result table {table.name!r}"):
        counts = conn.execute(sql, (table.id_bound,)).fetchone()
    return int(counts[0] or 0), sum(int(c or 0) for c in counts[1:])


def count_not_null(conn: ReadOnlyConnection, table: ResultTable, column: str) -> int:
    """Number of rows (up to the bound) where ``column`` is not NULL (one scan inside SQLite)."""
    ident = _id_expr(table)
    sql = f"SELECT count({quote_identifier(column)}) FROM {table.quoted} WHERE {ident} <= ?"
    with translate_errors(conn.source_path, f"result table {table.name!r}"):
        return int(conn.execute(sql, (table.id_bound,)).fetchone()[0])


class LayoutChanged(Exception):
    """Internal: rows were not where a strided read expected them (caller falls back)."""


@dataclass(frozen=True)
class StridedColumn:
    """A numeric column of ``count`` rows at ids ``first, first + stride, ...``: the rows
    of one parameter tree when ``stride`` parameters are saved together, one row each."""

    table: ResultTable
    column: str
    first: int
    stride: int
    count: int

    def iter_blocks(
        self, conn: ReadOnlyConnection, batch_rows: int = DEFAULT_BATCH_ROWS, align: int = 1
    ) -> Iterator[np.ndarray]:
        """The values as float64 blocks, in order, each a multiple of ``align`` long.

        Raises:
            LayoutChanged: an expected id is missing or holds NULL or a non-number.
        """
        table = self.table
        ident = _id_expr(table)
        # NULL becomes an empty blob, which np.fromiter refuses: a cheap way to see NULLs.
        sql = (
            f"SELECT ifnull({quote_identifier(self.column)}, x'') FROM {table.quoted}"
            f" WHERE {ident} >= ? AND {ident} < ?"
        )
        if self.stride > 1:
            sql += f" AND ({ident} - {int(self.first)}) % {int(self.stride)} = 0"
        per_block = max(align, (batch_rows // align) * align)
        end = self.first + self.count * self.stride
        with translate_errors(conn.source_path, f"result table {table.name!r}"):
            for lo in range(self.first, end, per_block * self.stride):
                hi = min(lo + per_block * self.stride, end)
                cursor = conn.execute(sql, (lo, hi))
                try:
                    block = np.fromiter(itertools.chain.from_iterable(cursor), dtype=np.float64)
                except (ValueError, TypeError) as exc:
                    cursor.close()
                    raise LayoutChanged(str(exc)) from exc
                if block.size != (hi - lo) // self.stride:
                    raise LayoutChanged(
                        f"{block.size} rows where {(hi - lo) // self.stride} were expected"
                    )
                yield block

    def read(self, conn: ReadOnlyConnection, batch_rows: int = DEFAULT_BATCH_ROWS) -> np.ndarray:
        """All values as one float64 array (filled in place: no second copy).

        Raises:
            LayoutChanged: as :meth:`iter_blocks`.
        """
        out = np.empty(self.count, dtype=np.float64)
        pos = 0
        for block in self.iter_blocks(conn, batch_rows):
            out[pos : pos + block.size] = block
            pos += block.size
        return out


def fetch_floats_at_ids(
    conn: ReadOnlyConnection, table: ResultTable, column: str, ids: np.ndarray
) -> np.ndarray | None:
    """``column`` at the given ids (in the given order) as float64; None if an id is missing
    or a value is not a number."""
    ident = _id_expr(table)
    sql_head = f"SELECT {ident}, {quote_identifier(column)} FROM {table.quoted} WHERE {ident} IN "
    found: dict[int, Any] = {}
    wanted = [int(i) for i in ids]
    with translate_errors(conn.source_path, f"result table {table.name!r}"):
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            placeholders = ",".join("?" * len(chunk))
            found.update(conn.execute(sql_head + f"({placeholders})", chunk).fetchall())
    if len(found) != len(set(wanted)):
        return None
    try:
        return np.array([found[i] for i in wanted], dtype=np.float64)
    except (ValueError, TypeError):
        return None
