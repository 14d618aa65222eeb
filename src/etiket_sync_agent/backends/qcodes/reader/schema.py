"""What a QCoDeS database looks like: schema version, tables and ``runs`` columns.

QCoDeS has schema versions 0..9 (``PRAGMA user_version``). The differences that matter to
a reader (QCoDeS' ``db_upgrades`` adds them when it upgrades a file in place, which we
never do):

* v0: no ``guid`` column (the 0->1 upgrade derives one from the run timestamp).
* v<3: no ``run_description`` column; parameters live in ``layouts``/``dependencies``.
* v3: ``run_description`` exists but may be wrong or NULL; the 3->4 upgrade rebuilds it
  from ``layouts``/``dependencies``, so we do the same for v<4.
* v<5: the ``snapshot`` column only exists once some run stored a snapshot.
* v<6: ``run_description`` JSON has no ``version`` key.
* v<7: no ``captured_run_id``/``captured_counter`` (upgrade copies run_id/result_counter).
* v<8: no ``parent_datasets``.
Any other column of ``runs`` is user metadata added with ``DataSet.add_metadata``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import QCoDeSFormatError
from .sqlite_open import ReadOnlyConnection, open_readonly, translate_errors

LATEST_SCHEMA_VERSION = 9

#: Columns of ``runs`` that are not user metadata (QCoDeS' ``RUNS_TABLE_COLUMNS``).
STANDARD_RUN_COLUMNS = (
    "run_id",
    "exp_id",
    "name",
    "result_table_name",
    "result_counter",
    "run_timestamp",
    "completed_timestamp",
    "is_completed",
    "parameters",
    "guid",
    "run_description",
    "snapshot",
    "parent_datasets",
    "captured_run_id",
    "captured_counter",
)


@dataclass(frozen=True)
class SchemaInfo:
    """The parts of a QCoDeS database schema a reader needs to know."""

    user_version: int
    tables: frozenset[str]  # which of runs, experiments, layouts, dependencies exist
    run_columns: tuple[str, ...]

    @property
    def has_layouts(self) -> bool:
        return "layouts" in self.tables and "dependencies" in self.tables

    @property
    def metadata_columns(self) -> tuple[str, ...]:
        """User metadata columns of ``runs`` (added with ``add_metadata``), in table order."""
        return tuple(c for c in self.run_columns if c not in STANDARD_RUN_COLUMNS)

    def has_run_column(self, name: str) -> bool:
        return name in self.run_columns

    @property
    def description_from_layouts(self) -> bool:
        """Whether run descriptions come from ``layouts`` (v<4) or ``run_description``."""
        return self.user_version < 4 or not self.has_run_column("run_description")


def quote_identifier(name: str) -> str:
    """Quote an SQL identifier (table/column names in QCoDeS may contain spaces)."""
    return '"' + name.replace('"', '""') + '"'


def read_schema(conn: ReadOnlyConnection) -> SchemaInfo:
    """Read the schema version, table names and ``runs`` columns in one short transaction.

    Raises:
        QCoDeSFormatError: the file has no ``runs``/``experiments`` tables, or a schema
            version newer than this reader knows.
    """
    path = conn.source_path
    with translate_errors(path, "the schema"):
        conn.execute("BEGIN")
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            # SQLite bumps schema_version with every schema change (QCoDeS adds a table
            # per run): while it stands, the schema read last time on this connection holds
            cookie = (version, int(conn.execute("PRAGMA schema_version").fetchone()[0]))
            cached = getattr(conn, "schema_cache", None)
            if cached is not None and cached[0] == cookie:
                return cached[1]
            # only the fixed tables: listing thousands of result tables costs per call
            tables = frozenset(
                row[0]
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN"
                    " ('runs', 'experiments', 'layouts', 'dependencies')"
                )
            )
            run_columns: tuple[str, ...] = ()
            if "runs" in tables:
                run_columns = tuple(row[1] for row in conn.execute("PRAGMA table_info(runs)"))
        finally:
            conn.execute("COMMIT")
    missing = {"runs", "experiments"} - tables
    if missing:
        with translate_errors(path, "the schema"):
            found = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
        raise QCoDeSFormatError(
            f"not a QCoDeS database: {path} has no {' and '.join(sorted(missing))} table "
            f"(tables: {', '.join(sorted(found)[:10]) or 'none'})",
            hint="point the source at the .db file QCoDeS writes (qcodes.config core.db_location)",
        )
    if version > LATEST_SCHEMA_VERSION:
        raise QCoDeSFormatError(
            f"QCoDeS database {path} has schema version {version}; this reader knows up to "
            f"{LATEST_SCHEMA_VERSION}",
            hint="upgrade etiket_sync_agent",
        )
    info = SchemaInfo(user_version=version, tables=tables, run_columns=run_columns)
    if isinstance(conn, ReadOnlyConnection):
        conn.schema_cache = (cookie, info)
    return info


def table_exists(conn: ReadOnlyConnection, name: str) -> bool:
    """Whether table ``name`` exists (answered from SQLite's in-memory schema)."""
    with translate_errors(conn.source_path, f"table {name!r}"):
        return bool(conn.execute(f"PRAGMA table_info({quote_identifier(name)})").fetchone())


def validate_database(path: str | Path, *, busy_timeout: float | None = None) -> SchemaInfo:
    """Check that ``path`` is a QCoDeS database this reader can read (for ``add-source``):
    an SQLite file (by its header, whatever its name) with QCoDeS' tables.

    Opens the file read-only exactly like every other read (no side effects), waiting up
    to ``busy_timeout`` seconds (default: the reader's) for a writer's lock.

    Raises:
        QCoDeSFormatError: not an SQLite file, not a QCoDeS database, unknown version.
        QCoDeSDatabaseBusy: the file is locked by a writer right now.
    """
    timeout = {} if busy_timeout is None else {"busy_timeout": busy_timeout}
    conn = open_readonly(path, **timeout)
    try:
        return read_schema(conn)
    finally:
        conn.close()
