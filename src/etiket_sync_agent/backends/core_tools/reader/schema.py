"""Which core-tools schema a database holds, found from its tables and columns.

* ``global_measurement_overview`` must exist (else it is not a core-tools database);
* ``measurement_parameters`` (1.0.0+) holds the arrays of new-format measurements; older
  ones name a table of their own in ``exp_data_location``;
* ``coretools_version`` / ``database_version`` (1.1.0+), when readable, give the version;
* ``global_measurement_overview.scope`` (1.2.0) gives each measurement a scope.

Only catalog queries and SELECTs: nothing is written or upgraded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import CoreToolsPermissionError, NotCoreToolsError

OVERVIEW = "global_measurement_overview"
PARAMETERS = "measurement_parameters"
#: columns the reader needs in the overview table
REQUIRED_COLUMNS = frozenset(
    {"id", "uuid", "exp_name", "set_up", "project", "sample", "start_time", "completed"}
)


@dataclass(frozen=True)
class Schema:
    version: str
    has_parameters_table: bool
    has_scope: bool
    overview_columns: frozenset[str]

    def has(self, column: str) -> bool:
        return column in self.overview_columns


def _columns(cur: Any, table: str) -> frozenset[str]:
    cur.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
        "AND attnum > 0 AND NOT attisdropped",
        (table,),
    )
    return frozenset(r[0] for r in cur.fetchall())


def _exists(cur: Any, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
    return bool(cur.fetchone()[0])


def _version_from_table(cur: Any, table: str) -> str | None:
    if not _exists(cur, table):
        return None
    cur.execute(
        "SELECT has_table_privilege(to_regclass(%s), 'SELECT')",
        (table,),
    )
    if not cur.fetchone()[0]:
        return None
    order = "ORDER BY major DESC, minor DESC, patch DESC LIMIT 1"
    cur.execute(f"SELECT major, minor, patch FROM {table} {order}")  # noqa: S608 - fixed names
    row = cur.fetchone()
    return ".".join(str(int(v)) for v in row) if row else None


def detect_schema(cur: Any) -> Schema:
    """The schema of the database ``cur`` is connected to; NotCoreToolsError if none."""
    columns = _columns(cur, OVERVIEW)
    if not columns:
        raise NotCoreToolsError(
            f"this database has no {OVERVIEW} table: it is not a core-tools database",
            hint=f"check the database name (core-tools databases hold {OVERVIEW} and {PARAMETERS})",
        )
    missing = sorted(REQUIRED_COLUMNS - columns)
    if missing:
        raise NotCoreToolsError(
            f"table {OVERVIEW} lacks the column(s) {', '.join(missing)}: "
            "not a core-tools schema this agent knows",
        )
    has_params = _exists(cur, PARAMETERS)
    has_scope = "scope" in columns
    version = None
    for table in ("database_version", "coretools_version"):
        version = version or _version_from_table(cur, table)
    if version is None:
        if has_scope:
            version = "1.2.0"
        elif _exists(cur, "coretools_export_updates"):
            version = "1.1.0"
        elif has_params:
            version = "1.0.0"
        else:
            version = "0 (one table per measurement)"
    return Schema(version, has_params, has_scope, columns)


def check_access(cur: Any, schema: Schema) -> None:
    """CoreToolsPermissionError naming the grant if the user cannot read the tables."""
    tables = [OVERVIEW] + ([PARAMETERS] if schema.has_parameters_table else [])
    cur.execute("SELECT current_user")
    user = cur.fetchone()[0]
    for table in tables:
        cur.execute("SELECT has_table_privilege(to_regclass(%s), 'SELECT')", (table,))
        if not cur.fetchone()[0]:
            raise CoreToolsPermissionError(
                f"user {user!r} may not read table {table}",
                hint=f"grant it: GRANT SELECT ON ALL TABLES IN SCHEMA public TO {user}",
            )
