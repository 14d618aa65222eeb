"""``etiket_sync_agent.testing``: the contract checks plugin packages run, and their helpers.

Each broken class below breaks the contract in one way; the check must name that way.
Working classes are synchronized with the real engine by ``run_backend_once``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest

from etiket_sync_agent.backends.folderbase import FolderBaseBackend, generate_dataset_info
from etiket_sync_agent.converters.csv_to_netcdf import CsvToNetCDFConverter
from etiket_sync_agent.plugins import (
    DatabaseBackend,
    FileBackend,
    FileConverter,
    NewItem,
    ScopeRequirement,
    SyncContext,
    SyncItem,
)
from etiket_sync_agent.testing import (
    BackendContractTests,
    ContractError,
    ConverterContractTests,
    check_backend_class,
    check_converter_class,
    check_entry_point,
    run_backend_once,
    run_converter,
)


@dataclass
class FolderConfig:
    root_directory: Path = field(metadata={"help": "the data"})


class LevelOneBackend(FileBackend):
    """Every folder in the root is a dataset; all its files are uploaded."""

    sync_agent_name = "level_one"
    config_class = FolderConfig
    level = 1

    def root_path(self) -> Path:
        return Path(self.config.root_directory)

    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        assert item.path is not None
        ctx.create_or_update_dataset(name=item.path.name)
        for path in sorted(p for p in item.path.rglob("*") if p.is_file()):
            if path.name == "broken.txt":
                raise ValueError("cannot read broken.txt")
            ctx.upload_file(path, name=path.relative_to(item.path).as_posix())


class UpperConverter(FileConverter):
    """``.txt`` -> ``.upper``: upper-cased text (an uninstalled converter)."""

    input_type = ".txt"
    output_type = ".upper"

    def convert(self, input_path: Path, output_dir: Path) -> Path:
        out = output_dir / (input_path.stem + self.output_type)
        out.write_text(input_path.read_text(encoding="utf-8").upper(), encoding="utf-8")
        return out


class ModifyingConverter(UpperConverter):
    def convert(self, input_path: Path, output_dir: Path) -> Path:
        input_path.write_text("changed", encoding="utf-8")
        return super().convert(input_path, output_dir)


@dataclass
class DbConfig:
    path: str = ""


class GoodDatabase(DatabaseBackend):
    sync_agent_name = "good_db"
    config_class = DbConfig

    def get_new_datasets(self, last_item: SyncItem | None) -> list[NewItem]:
        return []

    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        pass


# -- one way to break the contract each ----------------------------------------------------


class NoSync(DatabaseBackend):
    sync_agent_name = "no_sync"
    config_class = DbConfig

    def get_new_datasets(self, last_item: SyncItem | None) -> list[NewItem]:
        return []


class BadName(GoodDatabase):
    sync_agent_name = "has space"


class NotDataclassConfig(GoodDatabase):
    config_class = dict


@dataclass
class SetConfig:
    names: set[str] = field(default_factory=set)


class UnsupportedFieldType(GoodDatabase):
    config_class = SetConfig


class StringScope(GoodDatabase):
    scope_requirement = "REQUIRED"  # type: ignore[assignment]


class LiveWithoutMethods(GoodDatabase):
    live_sync_implemented = True


class LiveMethodsWithoutFlag(GoodDatabase):
    def check_live_dataset(self, item: SyncItem) -> bool:
        return True

    def sync_dataset_live(self, item: SyncItem, ctx: SyncContext) -> None:
        pass


class LevelZero(LevelOneBackend):
    level = 0


class SingleFileMarker(LevelOneBackend):
    level = -1
    is_single_file = True


class ShortSignature(GoodDatabase):
    def sync_dataset_normal(self, item: SyncItem) -> None:  # type: ignore[override]
        pass


class NoSuffix(UpperConverter):
    input_type = "csv"
    output_type = ""


class NoConvert(FileConverter):
    input_type = ".a"
    output_type = ".b"


@pytest.mark.parametrize(
    ("cls", "problem"),
    [
        (ScopeRequirement, "not a subclass of DatabaseBackend or FileBackend"),
        (NoSync, "abstract methods not implemented: sync_dataset_normal"),
        (BadName, "sync_agent_name must be the entry-point name"),
        (NotDataclassConfig, "config_class must be a dataclass"),
        (UnsupportedFieldType, "config field 'names' has type set[str]"),
        (StringScope, "scope_requirement must be a ScopeRequirement"),
        (LiveWithoutMethods, "live_sync_implemented is True but check_live_dataset"),
        (LiveMethodsWithoutFlag, "live_sync_implemented is False: it never runs"),
        (LevelZero, "level must be -1 or an int >= 1, got 0"),
        (SingleFileMarker, "is_single_file needs a level >= 1"),
        (ShortSignature, "sync_dataset_normal must accept 2 argument(s) after self"),
    ],
)
def test_backend_check_names_the_broken_part(cls: type, problem: str) -> None:
    with pytest.raises(ContractError) as info:
        check_backend_class(cls)
    assert problem in str(info.value)


def test_every_problem_is_reported_at_once() -> None:
    class Everything(LevelZero):
        sync_agent_name = ""
        config_class = dict
        live_sync_implemented = True

    with pytest.raises(ContractError) as info:
        check_backend_class(Everything)
    assert len(info.value.problems) == 4, info.value.problems


@pytest.mark.parametrize(
    ("cls", "problem"),
    [
        (GoodDatabase, "not a subclass of FileConverter"),
        (NoSuffix, "input_type must be a file suffix starting with '.'"),
        (NoSuffix, "output_type must be a file suffix"),
        (NoConvert, "abstract methods not implemented: convert"),
    ],
)
def test_converter_check_names_the_broken_part(cls: type, problem: str) -> None:
    with pytest.raises(ContractError) as info:
        check_converter_class(cls)
    assert problem in str(info.value)


def test_working_classes_pass() -> None:
    for backend in (GoodDatabase, LevelOneBackend, FolderBaseBackend):
        check_backend_class(backend)
    for converter in (UpperConverter, CsvToNetCDFConverter):
        check_converter_class(converter)


def test_check_entry_point_finds_installed_plugins_and_reports_missing_ones() -> None:
    assert check_entry_point(FolderBaseBackend).value.endswith(":FolderBaseBackend")
    assert check_entry_point(CsvToNetCDFConverter, "csv_to_netcdf").name == "csv_to_netcdf"
    with pytest.raises(ContractError, match="no entry point 'level_one'.*pip install -e"):
        check_entry_point(LevelOneBackend)

    class Impostor(FolderBaseBackend):
        pass

    with pytest.raises(ContractError, match="loads .*FolderBaseBackend"):
        check_entry_point(Impostor)


def test_run_converter_checks_output_and_that_the_input_is_untouched(tmp_path: Path) -> None:
    src = tmp_path / "note.txt"
    src.write_text("hello", encoding="utf-8")
    out = run_converter(UpperConverter, src, tmp_path / "out")
    assert out.read_text(encoding="utf-8") == "HELLO"
    with pytest.raises(ContractError, match="modified its input"):
        run_converter(ModifyingConverter, src, tmp_path / "out2")


def test_run_backend_once_syncs_an_uninstalled_backend_with_the_real_engine(
    tmp_path: Path,
) -> None:
    root = tmp_path / "data"
    for name, files in {"a": ["x.txt", "sub/y.txt"], "b": ["z.txt"]}.items():
        for rel in files:
            (root / name / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / name / rel).write_text(rel, encoding="utf-8")
    datasets = run_backend_once(LevelOneBackend, {"root_directory": str(root)}, tmp_path / "h")
    by_name = {d["name"]: sorted(f["name"] for f in d["files"]) for d in datasets}
    assert by_name == {"a": ["sub/y.txt", "x.txt"], "b": ["z.txt"]}
    assert {d["scope"] for d in datasets} == {"test"}


def test_run_backend_once_reports_failed_items(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "bad").mkdir(parents=True)
    (root / "bad" / "broken.txt").write_text("?", encoding="utf-8")
    config = {"root_directory": str(root)}
    with pytest.raises(ContractError, match="item 'bad' failed: .*cannot read broken.txt"):
        run_backend_once(LevelOneBackend, config, tmp_path / "h1")
    datasets = run_backend_once(LevelOneBackend, config, tmp_path / "h2", allow_failures=True)
    assert [d["files"] for d in datasets] == [[]]


def test_run_backend_once_uses_uninstalled_converters(tmp_path: Path) -> None:
    root = tmp_path / "data"
    generate_dataset_info(root / "ds", "ds", converters=["upper"])
    (root / "ds" / "note.txt").write_text("hello", encoding="utf-8")
    (ds,) = run_backend_once(
        FolderBaseBackend,
        {"root_directory": str(root)},
        tmp_path / "h",
        converters={"upper": UpperConverter},
    )
    files = {f["name"]: f["generator"] for f in ds["files"]}
    assert files["note.upper"] == "upper" and "note.txt" in files


def test_run_backend_once_needs_importable_classes(tmp_path: Path) -> None:
    class Local(LevelOneBackend):
        sync_agent_name = "local"

    with pytest.raises(ContractError, match="define it at module level"):
        run_backend_once(Local, {"root_directory": str(tmp_path)}, tmp_path / "h")


# -- the pytest classes plugin packages subclass ---------------------------------------------


class _FolderBaseSuite(BackendContractTests):
    backend_class: ClassVar[type] = FolderBaseBackend


class _UpperSuite(ConverterContractTests):
    converter_class = UpperConverter


def test_backend_suite_runs_checks_and_skips_the_sync_without_a_sample(tmp_path: Path) -> None:
    suite = _FolderBaseSuite()
    suite.test_backend_class()
    suite.test_entry_point()
    with pytest.raises(pytest.skip.Exception, match="define sample_config"):
        suite.test_sync_sample(tmp_path)

    class WithSample(_FolderBaseSuite):
        def sample_config(self, tmp_path: Path) -> dict[str, str]:
            generate_dataset_info(tmp_path / "data" / "one", "one")
            (tmp_path / "data" / "one" / "x.txt").write_text("x", encoding="utf-8")
            return {"root_directory": str(tmp_path / "data")}

    WithSample().test_sync_sample(tmp_path)

    class EmptySample(_FolderBaseSuite):
        def sample_config(self, tmp_path: Path) -> dict[str, str]:
            (tmp_path / "empty").mkdir(parents=True)
            return {"root_directory": str(tmp_path / "empty")}

    with pytest.raises(AssertionError, match="produced no dataset"):
        EmptySample().test_sync_sample(tmp_path / "e")


def test_converter_suite_needs_an_entry_name_and_converts_the_sample(tmp_path: Path) -> None:
    suite = _UpperSuite()
    suite.test_converter_class()
    with pytest.raises(ContractError, match="set entry_name"):
        suite.test_entry_point()
    with pytest.raises(pytest.skip.Exception, match="define sample_input"):
        suite.test_convert_sample(tmp_path)

    class WithSample(_UpperSuite):
        def sample_input(self, tmp_path: Path) -> Path:
            (tmp_path / "s.txt").write_text("abc", encoding="utf-8")
            return tmp_path / "s.txt"

    WithSample().test_convert_sample(tmp_path)
    assert (tmp_path / "converted" / "s.upper").read_text(encoding="utf-8") == "ABC"
