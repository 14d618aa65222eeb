"""A damaged or truncated state.db / catalog.db: every command answers with one line,
naming the file and what to do, and exit code 5 — never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etiket_sync_agent.errors import StateDBError
from etiket_sync_agent.home import Home
from etiket_sync_agent.state.db import StateDB
from etiket_sync_agent.state.models import Source
from etiket_sync_agent.store.interface import DatasetSpec
from etiket_sync_agent.store.local import LocalStore


def _truncate(path: Path) -> None:
    """Cut a closed (checkpointed) SQLite file in half, as a full disk or a bad copy would."""
    for side in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        side.unlink(missing_ok=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _state_with_rows(path: Path) -> None:
    db = StateDB(path)
    with db.session() as s, s.begin():
        for i in range(60):  # enough pages that half the file loses some
            s.add(Source(name=f"source-{i}", backend="folderbase", config={"pad": "x" * 2000}))
    db.close()


def _catalog_with_rows(root: Path) -> None:
    store = LocalStore(root)
    store.create_scope("lab")
    for i in range(60):
        store.upsert_dataset(DatasetSpec(uuid=f"{i:036d}", scope="lab", name="d" * 900))
    store.close()


def _assert_one_line_exit_5(proc, path: Path) -> None:  # noqa: ANN001 - CompletedProcess
    out = proc.stdout + proc.stderr
    assert proc.returncode == 5, out
    assert "Traceback" not in out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out
    assert str(path) in errors[0] and "damaged" in errors[0]
    assert "aside" in out  # the hint: what to do


@pytest.mark.parametrize(
    "command", [["status"], ["sources", "list"], ["items", "anything"], ["run", "--once"]]
)
def test_a_state_db_that_is_not_a_database(cli, home: Home, command: list[str]) -> None:
    home.ensure()
    home.state_db.write_bytes(b"this is not an SQLite database\n" * 200)
    _assert_one_line_exit_5(cli(*command, check=False), home.state_db)


def test_a_truncated_state_db(cli, home: Home) -> None:
    home.ensure()
    _state_with_rows(home.state_db)
    _truncate(home.state_db)
    for command in (["sources", "list"], ["status"]):
        _assert_one_line_exit_5(cli(*command, check=False), home.state_db)
    proc = cli("status", "--json", check=False)
    assert proc.returncode == 5
    err = json.loads(proc.stdout or proc.stderr)
    assert err["type"] == "StateDBError" and str(home.state_db) in err["error"]


@pytest.mark.parametrize("command", [["datasets", "list"], ["scopes", "list"]])
def test_a_truncated_store_catalog(cli, home: Home, command: list[str]) -> None:
    home.ensure()
    _catalog_with_rows(home.store_dir)
    catalog = home.store_dir / "catalog.db"
    _truncate(catalog)
    _assert_one_line_exit_5(cli(*command, check=False), catalog)


def test_opening_a_damaged_file_raises_state_db_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"\0" * 100 + b"garbage" * 100)
    with pytest.raises(StateDBError) as err:
        StateDB(path)
    assert str(path) in err.value.message and err.value.exit_code == 5
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "catalog.db").write_bytes(b"garbage" * 1000)
    with pytest.raises(StateDBError, match="store catalog"):
        LocalStore(tmp_path / "store")


def test_the_agent_does_not_start_on_a_damaged_catalog(cli, home: Home, tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "run1").mkdir(parents=True)
    (root / "run1" / "data.txt").write_text("x")
    _catalog_with_rows(home.store_dir)  # scope "lab" and datasets
    cli("add-source", "folderbase", "lab", "--scope", "lab", "--set", f"root_directory={root}")
    catalog = home.store_dir / "catalog.db"
    _truncate(catalog)
    _assert_one_line_exit_5(cli("run", "--once", check=False), catalog)
