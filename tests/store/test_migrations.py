"""The catalog schema comes from the shipped Alembic migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from etiket_sync_agent.errors import StoreError
from etiket_sync_agent.store.catalog import Base
from etiket_sync_agent.store.local import LocalStore
from etiket_sync_agent.store.migrations import HEAD, VERSION_TABLE, alembic_config

BACKENDS = ["sqlite", "postgres"]

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(params=BACKENDS)
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str | None]:
    """A store root and an empty catalog (None = the default SQLite one)."""
    if request.param == "sqlite":
        return tmp_path / "store", None
    return tmp_path / "store", request.getfixturevalue("make_pg_database")()


def test_head_constant_matches_the_migration_scripts() -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [HEAD]


# SQLite cannot reflect expression indexes; the one concerned is PostgreSQL's only
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression")
def test_migrated_schema_equals_the_models(fresh: tuple[Path, str | None]) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    store = LocalStore(*fresh)
    try:
        with store._engine.connect() as conn:  # noqa: SLF001
            assert conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() == HEAD
            opts = {
                "version_table": VERSION_TABLE,
                "compare_type": True,
                "include_object": _on_dialect(conn.dialect.name),
            }
            context = MigrationContext.configure(conn, opts=opts)
            assert compare_metadata(context, Base.metadata) == []
    finally:
        store.close()


def _on_dialect(dialect: str):  # noqa: ANN202
    """Leave out of the comparison what the models create on another database only
    (``Index(...).ddl_if(dialect=...)``: Alembic's comparison does not read it)."""

    def include(obj: object, name: str, type_: str, reflected: bool, compare_to: object) -> bool:
        condition = getattr(obj, "_ddl_if", None)
        return condition is None or condition.dialect in (None, dialect)

    return include


def test_catalog_from_a_newer_version_is_refused(fresh: tuple[Path, str | None]) -> None:
    store = LocalStore(*fresh)
    with store._engine.begin() as conn:  # noqa: SLF001
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999_future'"))
    store.close()
    with pytest.raises(StoreError, match="9999_future") as err:
        LocalStore(*fresh)
    assert "upgrade etiket_sync_agent" in err.value.hint


def test_reopening_a_current_catalog_skips_alembic(tmp_path: Path) -> None:
    LocalStore(tmp_path / "store").close()
    code = (
        "import sys; from pathlib import Path;"
        "from etiket_sync_agent.store.local import LocalStore;"
        f"LocalStore(Path({str(tmp_path / 'store')!r})).close();"
        "assert 'alembic' not in sys.modules, 'alembic imported'"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": str(SRC)}, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_unreachable_catalog_raises_store_error_without_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://agent:s3cret@127.0.0.1:1/nowhere"
    with pytest.raises(StoreError, match="cannot open the store catalog") as err:
        LocalStore(tmp_path / "store", catalog_url=url)
    assert "s3cret" not in str(err.value) and "STORE_URL" in err.value.hint


def _older_revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in script.walk_revisions() if r.revision != HEAD]


@pytest.mark.parametrize("revision", _older_revisions())
def test_an_older_catalog_holding_rows_is_upgraded_keeping_them(
    fresh: tuple[Path, str | None], revision: str
) -> None:
    """Every revision before head upgraded with data in it, on both databases (the
    parameters come from the scripts, so a new revision is covered at once)."""
    from alembic import command

    from etiket_sync_agent.db.engine import make_engine, sqlite_url
    from etiket_sync_agent.store.migrations import ROLE

    root, url = fresh
    root.mkdir()
    engine = make_engine(url or sqlite_url(root / "catalog.db"), ROLE)
    with engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.execute(
            text(
                "INSERT INTO scopes (id, name, description, created) "
                "VALUES (1, 'lab', 'kept', '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO datasets (uuid, scope_id, name, description, collected, tags, "
                "attributes, ranking, created, modified) VALUES ('d1', 1, 'Old Sweep', '', "
                "'2026-01-02 00:00:00', '[\"t\"]', '{\"k\": 3}', 0, '2026-01-02 00:00:00', "
                "'2026-01-02 00:00:00')"
            )
        )
    engine.dispose()
    store = LocalStore(root, url)
    try:
        (scope,) = store.list_scopes()
        assert (scope.name, scope.description) == ("lab", "kept")
        found = store.list_datasets(text="sweep", tag="t", attribute=("k", "3"))
        assert [d.uuid for d in found] == ["d1"]
        assert store.list_agents() == []
    finally:
        store.close()
