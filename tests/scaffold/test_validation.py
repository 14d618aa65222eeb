"""Names and values given to the generators: normalized, or refused with nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from etiket_sync_agent import scaffold
from etiket_sync_agent.scaffold import ScaffoldError, generate_backend, generate_converter


@pytest.mark.parametrize(
    ("raw", "slug", "snake", "camel"),
    [
        ("my-backend", "my-backend", "my_backend", "MyBackend"),
        ("lab data", "lab-data", "lab_data", "LabData"),
        ("csv-to-hdf5", "csv-to-hdf5", "csv_to_hdf5", "CsvToHdf5"),
        ("Mat2Zarr", "mat2zarr", "mat2zarr", "Mat2Zarr"),
        ("QCoDeS", "qcodes", "qcodes", "QCoDeS"),
        ("my_backend.v2", "my-backend-v2", "my_backend_v2", "MyBackendV2"),
        ("  padded  ", "padded", "padded", "Padded"),
    ],
)
def test_names_map_to_distribution_import_and_class_names(
    raw: str, slug: str, snake: str, camel: str
) -> None:
    name = scaffold.plugin_name(raw)
    assert (name.slug, name.snake, name.camel) == (slug, snake, camel)
    ctx = scaffold.backend_context(raw)
    assert ctx["distribution"] == f"etiket-sync-agent-{slug}"
    assert ctx["import_name"] == f"etiket_sync_agent_{snake}"
    assert (ctx["entry_name"], ctx["sync_class"], ctx["config_class"]) == (
        snake, f"{camel}Sync", f"{camel}Config",
    )  # fmt: skip
    conv = scaffold.converter_context(raw)
    assert conv["distribution"] == f"etiket-sync-agent-{slug}-converters"
    assert conv["import_name"] == f"etiket_sync_agent_{snake}_converters"
    assert conv["converter_class"] == f"{camel}Converter"


@pytest.mark.parametrize(
    ("raw", "types"),
    [("csv-to-hdf5", (".csv", ".hdf5")), ("Mat2Zarr", (".mat", ".zarr")), ("tidy", ("", ""))],
)
def test_converter_suffixes_come_from_the_name_when_it_says_them(raw: str, types: tuple) -> None:
    ctx = scaffold.converter_context(raw)
    assert (ctx["input_type"], ctx["output_type"]) == types


HOSTILE_NAMES = [
    "",
    "   ",
    "1st-backend",
    "9",
    "class",
    "Import",
    "../evil",
    "a/b",
    "a\\b",
    "C:evil",
    "it's",
    'say"hi"',
    "{{7*7}}",
    "x{{cookiecutter.version}}",
    "{% raw %}",
    "{#c#}",
    "name\nimport os",
    "trailing-newline\n",
    "tab\tname",
    "naïve",
    "-lead",
    "trail-",
    "a--b",
    "x;rm -rf ~",
    "$HOME",
    "a" * 61,
]


def _assert_empty(folder: Path) -> None:
    assert list(folder.iterdir()) == [], "nothing may be written for a refused request"


@pytest.mark.parametrize("raw", HOSTILE_NAMES)
def test_hostile_names_are_refused_and_nothing_is_written(raw: str, tmp_path: Path) -> None:
    for generate in (generate_backend, generate_converter):
        with pytest.raises(ScaffoldError) as info:
            generate(raw, output_dir=tmp_path)
        assert info.value.exit_code == 2
        assert "name" in info.value.message
    _assert_empty(tmp_path)


@pytest.mark.parametrize(
    "version",
    ["", "1.0\n", '1.0"', "1.0'; import os", "latest", "1.0 beta", "{{v}}", "\uff11.0", "1..0"],
)
def test_bad_versions_are_refused(version: str, tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="version"):
        generate_backend("ok", version=version, output_dir=tmp_path)
    _assert_empty(tmp_path)


@pytest.mark.parametrize("version", ["0.0.1", "1.0rc1", "2024.1.post2", "1.0.dev3", "1!2.0"])
def test_pep440_versions_are_accepted(version: str) -> None:
    assert scaffold.backend_context("ok", version=version)["version"] == version


@pytest.mark.parametrize(
    "dependency",
    [
        "",
        "numpy\nimport os",
        'numpy"]',
        "numpy; python_version<",
        "../x",
        "{{x}}",
        "name with space",
        "numpy>=1\r",
    ],
)
def test_bad_dependencies_are_refused(dependency: str, tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="dependency"):
        generate_converter("ok", dependencies=["h5py", dependency], output_dir=tmp_path)
    _assert_empty(tmp_path)


def test_dependencies_follow_the_agent_and_can_replace_its_requirement() -> None:
    deps = scaffold.check_dependencies(
        ["numpy>=1.24", "xarray[io]>=2024.1", 'pywin32; sys_platform == "win32"']
    )
    assert deps[0].startswith("etiket_sync_agent")
    assert deps[1:] == ["numpy>=1.24", "xarray[io]>=2024.1", 'pywin32; sys_platform == "win32"']
    assert scaffold.check_dependencies(["etiket-sync-agent>=0.1"]) == ["etiket-sync-agent>=0.1"]
    with pytest.raises(ScaffoldError, match="given twice"):
        scaffold.check_dependencies(["h5py", "H5PY>=3"])


@pytest.mark.parametrize("entry_name", ["bad name", "a=b", "x:y", "1abc", "", '"q"', "a[0]"])
def test_bad_entry_names_are_refused(entry_name: str, tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="entry name"):
        generate_converter("csv-to-hdf5", entry_name=entry_name, output_dir=tmp_path)
    _assert_empty(tmp_path)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"base": "sql"}, "invalid --base"),
        ({"default_scope": "maybe"}, "invalid --default-scope"),
        ({"live_sync": "perhaps"}, "invalid --live-sync"),
        ({"base": "file", "level": -2}, "invalid level"),
        ({"level": 2}, "--level only applies to file backends"),
    ],
)
def test_bad_backend_options_are_refused(options: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match=message):
        generate_backend("ok", output_dir=tmp_path, **options)
    _assert_empty(tmp_path)


def test_options_are_case_insensitive_where_it_is_harmless() -> None:
    ctx = scaffold.backend_context(
        "ok", base="File", default_scope="optional", live_sync="yes", level=3
    )
    assert (ctx["base"], ctx["default_scope"], ctx["live_sync"], ctx["level"]) == (
        "file", "OPTIONAL", True, 3,
    )  # fmt: skip
