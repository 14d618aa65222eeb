"""Plugin discovery: entry points in, broken plugins isolated, lazy imports."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from etiket_sync_agent.errors import PluginError
from etiket_sync_agent.plugins.registry import BACKEND_GROUP, CONVERTER_GROUP, Registry
from etiket_sync_agent.testing import check_backend_class, check_converter_class

GOOD = EntryPoint(
    "folderbase", "etiket_sync_agent.backends.folderbase:FolderBaseBackend", BACKEND_GROUP
)
BROKEN_IMPORT = EntryPoint("ghost", "etiket_sync_agent_no_such_module:Backend", BACKEND_GROUP)
NOT_A_BACKEND = EntryPoint("wrong", "etiket_sync_agent.errors:ConfigError", BACKEND_GROUP)
CONVERTER = EntryPoint(
    "csv_to_netcdf",
    "etiket_sync_agent.converters.csv_to_netcdf:CsvToNetCDFConverter",
    CONVERTER_GROUP,
)


def test_installed_builtins_are_found_through_entry_points() -> None:
    reg = Registry()
    names = {(i.kind, i.name) for i in reg.list()}
    assert ("backend", "folderbase") in names
    assert ("converter", "csv_to_netcdf") in names
    info = next(i for i in reg.list() if i.name == "folderbase")
    assert info.ok and info.distribution == "etiket_sync_agent" and info.version


def test_broken_plugins_are_listed_with_their_error_and_others_still_load() -> None:
    reg = Registry([BROKEN_IMPORT, GOOD, NOT_A_BACKEND, CONVERTER])
    by_name = {i.name: i for i in reg.list()}
    assert by_name["ghost"].error and "ModuleNotFoundError" in by_name["ghost"].error
    assert by_name["wrong"].error and "not a subclass of SyncBackend" in by_name["wrong"].error
    assert by_name["folderbase"].ok
    assert reg.backend("folderbase").sync_agent_name == "folderbase"
    with pytest.raises(PluginError, match="failed to load"):
        reg.backend("ghost")
    with pytest.raises(PluginError, match="no backend called 'nope'") as exc:
        reg.backend("nope")
    assert "etiket-sync plugins" in (exc.value.hint or "")


def test_duplicate_names_keep_the_first_registration() -> None:
    dup = EntryPoint("folderbase", "etiket_sync_agent.errors:ConfigError", BACKEND_GROUP)
    reg = Registry([GOOD, dup])
    assert reg.backend("folderbase").__name__ == "FolderBaseBackend"


def test_builtins_pass_the_plugin_contract_checks() -> None:
    reg = Registry()
    for info in reg.list():
        if info.distribution == "etiket_sync_agent":
            assert info.ok, info.error
            if info.kind == "backend":
                check_backend_class(info.obj)
            else:
                check_converter_class(info.obj)


def test_importing_the_cli_does_not_import_heavy_modules() -> None:
    code = (
        "import sys, etiket_sync_agent.cli.app;"
        "heavy = [m for m in ('xarray', 'h5py', 'h5netcdf', 'alembic', 'cookiecutter', "
        "'watchdog', 'numpy', 'starlette', 'uvicorn', 'boto3', 'apprise', "
        "'prometheus_client', 'psycopg', 'scipy', 'pandas') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_entry_point_group_names_are_defined_once() -> None:
    """``plugins/registry.py`` names the groups; the SDK and the scaffold use its names."""
    src = Path(__file__).resolve().parents[2] / "src" / "etiket_sync_agent"
    defining = [
        p.relative_to(src).as_posix()
        for p in src.rglob("*.py")
        if '"etiket_sync_agent.connectors"' in p.read_text(encoding="utf-8")
    ]
    assert defining == ["plugins/registry.py"]
