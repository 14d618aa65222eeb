"""Write core-tools databases the way core-tools does, for tests and benchmarks.

A database gets the corpus DDL (1.0.0, then 1.1.0) when the shared corpus is present,
else an equivalent schema written from the format notes. Measurements are registered
as core-tools registers them (overview row marked ``New measurement_parameters``, one
``measurement_parameters`` row per array with a fresh large object and
``write_cursor = 0``), filled by appending float64 values to the large objects and moving
the write cursors in the same transaction, and finished by setting ``completed``.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "core_tools"
DDL_FILES = (
    "equal1__core_tools@07756d4/core_tools/data/SQL/model/versions/1_0_0.sql",
    "equal1__core_tools@4b3a269/core_tools/data/SQL/model/versions/1_1_0.sql",
)
NEW_FORMAT = "New measurement_parameters"

#: our own schema (used when the corpus is absent): the columns of the format notes
OWN_DDL = """
CREATE TABLE global_measurement_overview (
    id SERIAL, uuid BIGINT NOT NULL UNIQUE, exp_name text NOT NULL, set_up text NOT NULL,
    project text NOT NULL, sample text NOT NULL, creasted_by text NOT NULL,
    start_time TIMESTAMP, stop_time TIMESTAMP, exp_data_location text, snapshot BYTEA,
    metadata BYTEA, keywords JSONB, starred BOOL DEFAULT False, completed BOOL DEFAULT False,
    data_size int, data_cleared BOOL DEFAULT False, data_update_count int DEFAULT 0,
    data_synchronized BOOL DEFAULT False, table_synchronized BOOL DEFAULT False,
    sync_location text);
CREATE TABLE measurement_parameters (
    id SERIAL primary key, exp_uuid BIGINT NOT NULL, param_index INT NOT NULL,
    param_id BIGINT, nth_set INT, nth_dim INT, param_id_m_param BIGINT, setpoint BOOL,
    setpoint_local BOOL, name_gobal text, name text NOT NULL, label text NOT NULL,
    unit text NOT NULL, depencies jsonb, shape jsonb, write_cursor INT, total_size INT,
    oid INT);
CREATE TABLE sample_info_overview (sample_info_hash TEXT NOT NULL UNIQUE,
    set_up TEXT NOT NULL, project TEXT NOT NULL, sample TEXT NOT NULL);
"""


def admin(dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(dbname=dbname, autocommit=True, connect_timeout=5, **PG)


def create_database(prefix: str = "ct_test") -> str:
    name = f"{prefix}_{secrets.token_hex(4)}"
    with admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    with admin() as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def ddl_texts() -> list[str]:
    if all((CORPUS / f).is_file() for f in DDL_FILES):
        return [(CORPUS / f).read_text() for f in DDL_FILES]
    return [OWN_DDL]


def apply_schema(dbname: str, scope_column: bool = False) -> None:
    """Corpus DDL 1.0.0 then 1.1.0 (or our equivalent); ``scope_column``: 1.2.0's
    ``global_measurement_overview.scope``."""
    with admin(dbname) as conn:
        for text in ddl_texts():
            conn.execute(text)
        if scope_column:
            conn.execute("ALTER TABLE global_measurement_overview ADD COLUMN scope TEXT")


def make_uuid() -> int:
    """core-tools' uuid: milliseconds since the epoch * 1e6 + a machine number."""
    time.sleep(0.002)  # unique milliseconds
    return int(time.time() * 1000) * 1_000_000 + secrets.randbelow(99_999_999)


@dataclass
class Array:
    """One stored array (a parameter row): its full flat data and its row fields."""

    name: str
    label: str
    unit: str
    param_id: int
    m_param: int
    nth_set: int
    nth_dim: int
    setpoint: bool
    depencies: list[int]
    shape: tuple[int, ...]
    data: np.ndarray  # full flat values, written in order
    oid: int = 0
    index: int = 0
    cursor: int = 0


@dataclass
class Handle:
    id: int
    uuid: int
    arrays: list[Array]
    table: str | None = None  # old format

    @property
    def points(self) -> int:
        return max(a.data.size for a in self.arrays)


@dataclass
class Output:
    name: str
    unit: str
    values: np.ndarray  # full N-D values on the grid of the axes
    label: str = ""


@dataclass
class Axis:
    name: str
    unit: str
    values: np.ndarray
    label: str = ""


@dataclass
class MParam:
    """A measured parameter (one or more outputs) swept over ``axes``."""

    outputs: list[Output]
    axes: list[Axis] = field(default_factory=list)


def _arrays(mparams: list[MParam]) -> list[Array]:
    out: list[Array] = []
    next_id = 140_000_000_000
    for mp in mparams:
        m_id = next_id
        next_id += 1
        axis_ids = []
        for _ in mp.axes:
            axis_ids.append(next_id)
            next_id += 1
        for k, o in enumerate(mp.outputs):
            shape = tuple(len(a.values) for a in mp.axes) or (1,)
            vals = np.asarray(o.values, dtype=float).reshape(shape)
            out.append(
                Array(
                    o.name,
                    o.label or o.name,
                    o.unit,
                    m_id,
                    m_id,
                    k,
                    0,
                    False,
                    axis_ids,
                    shape,
                    vals.ravel(),
                )
            )
            grids = np.meshgrid(*[a.values for a in mp.axes], indexing="ij") if mp.axes else []
            for d, (a, g) in enumerate(zip(mp.axes, grids, strict=True)):
                out.append(
                    Array(
                        a.name,
                        a.label or a.name,
                        a.unit,
                        axis_ids[d],
                        m_id,
                        k,
                        d,
                        True,
                        [],
                        shape,
                        np.asarray(g, dtype=float).ravel(),
                    )
                )
    return out


class Writer:
    """A core-tools-like writer on its own connection (as core-tools, not read-only)."""

    def __init__(self, dbname: str, user: str = "postgres") -> None:
        self.conn = psycopg.connect(dbname=dbname, **{**PG, "user": user})

    def close(self) -> None:
        self.conn.close()

    def register(
        self,
        name: str,
        mparams: list[MParam],
        *,
        project: str = "qubits",
        set_up: str = "fridge-1",
        sample: str = "S1",
        keywords: list[str] | None = None,
        metadata: Any = None,
        snapshot: Any = None,
        scope: str | None = None,
        old_format: bool = False,
        old_without_nth_dim: bool = False,
    ) -> Handle:
        arrays = _arrays(mparams)
        uuid = make_uuid()
        cur = self.conn.cursor()
        table = f"{name.lower().replace(' ', '_')}_{uuid}" if old_format else None
        cols = [
            "uuid",
            "exp_name",
            "set_up",
            "project",
            "sample",
            "creasted_by",
            "start_time",
            "keywords",
            "metadata",
            "snapshot",
            "exp_data_location",
            "sync_location",
        ]
        vals = [
            uuid,
            name,
            set_up,
            project,
            sample,
            "tester",
            "now()",
            json.dumps(keywords or []),
            json.dumps(metadata or {}).encode(),
            json.dumps(snapshot or {}).encode(),
            table,
            None if old_format else NEW_FORMAT,
        ]
        if scope is not None:
            cols.append("scope")
            vals.append(scope)
        marks = ", ".join("now()" if v == "now()" else "%s" for v in vals)
        cur.execute(
            f"INSERT INTO global_measurement_overview ({', '.join(cols)}) VALUES ({marks}) "
            "RETURNING id",
            [v for v in vals if v != "now()"],
        )
        mid = cur.fetchone()[0]
        if old_format:
            nth = "" if old_without_nth_dim else "nth_dim INT, "
            cur.execute(
                f'CREATE TABLE "{table}" (id SERIAL primary key, param_id BIGINT, nth_set INT, '
                f"{nth}param_id_m_param BIGINT, setpoint BOOL, setpoint_local BOOL, "
                "name_gobal text, name text NOT NULL, label text NOT NULL, unit text NOT NULL, "
                "depencies jsonb, shape jsonb, write_cursor INT, total_size INT, oid INT)"
            )
        for i, a in enumerate(arrays):
            cur.execute("SELECT lo_create(0)")
            a.oid, a.index = cur.fetchone()[0], i
            row = {
                "param_id": a.param_id,
                "nth_set": a.nth_set,
                "nth_dim": a.nth_dim,
                "param_id_m_param": a.m_param,
                "setpoint": a.setpoint,
                "setpoint_local": False,
                "name_gobal": a.name,
                "name": a.name,
                "label": a.label,
                "unit": a.unit,
                "depencies": json.dumps(a.depencies),
                "shape": json.dumps(list(a.shape)),
                "write_cursor": 0,
                "total_size": math.prod(a.shape),
                "oid": a.oid,
            }
            if old_format:
                if old_without_nth_dim:
                    row.pop("nth_dim")
                target = f'"{table}"'
            else:
                row = {"exp_uuid": uuid, "param_index": i, **row}
                target = "measurement_parameters"
            cur.execute(
                f"INSERT INTO {target} ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
                list(row.values()),
            )
        self.conn.commit()
        return Handle(mid, uuid, arrays, table)

    def write(self, h: Handle, n: int) -> int:
        """Append the next ``n`` points of every array and move the cursors, in one
        transaction (a core-tools flush). Returns the points written so far."""
        cur = self.conn.cursor()
        table = f'"{h.table}"' if h.table else "measurement_parameters"
        for a in h.arrays:
            chunk = a.data[a.cursor : a.cursor + n]
            if not chunk.size:
                continue
            cur.execute(
                "SELECT lo_put(%s::oid, %s::bigint, %s)",
                (a.oid, a.cursor * 8, chunk.astype("<f8").tobytes()),
            )
            a.cursor += chunk.size
            cur.execute(f"UPDATE {table} SET write_cursor = %s WHERE oid = %s", (a.cursor, a.oid))
        cur.execute(
            "UPDATE global_measurement_overview SET data_update_count = data_update_count + 1,"
            " data_synchronized = false WHERE uuid = %s",
            (h.uuid,),
        )
        self.conn.commit()
        return max(a.cursor for a in h.arrays)

    def finish(self, h: Handle) -> None:
        self.conn.execute(
            "UPDATE global_measurement_overview SET stop_time = now(), completed = true, "
            "data_size = %s WHERE uuid = %s",
            (sum(a.cursor * 8 for a in h.arrays), h.uuid),
        )
        self.conn.commit()

    def complete(self, name: str, mparams: list[MParam], **kw: Any) -> Handle:
        h = self.register(name, mparams, **kw)
        self.write(h, h.points)
        self.finish(h)
        return h


def one_d(name: str, n: int = 100, scale: float = 1.0) -> list[MParam]:
    x = np.linspace(0, 1, n)
    return [
        MParam(
            [Output("current", "A", scale * np.sin(7 * x), "Current")],
            [Axis("gate", "V", x, "Gate voltage")],
        )
    ]


def two_d(nx: int = 5, ny: int = 4, outputs: int = 1) -> list[MParam]:
    x = np.linspace(-1, 1, nx)
    y = np.linspace(0, 2, ny)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    outs = [
        Output(f"m{k + 1}", "V", xx * 10 + yy + k * 100, f"output {k + 1}") for k in range(outputs)
    ]
    return [MParam(outs, [Axis("P1", "mV", x), Axis("P2", "mV", y)])]
