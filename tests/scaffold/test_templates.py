"""The templates as product code: every option combination renders a package that parses,
passes the contract checks and lints clean; values are data; the user's cookiecutter
config is ignored; folders are not overwritten without --force; the wheel ships them."""

from __future__ import annotations

import ast
import importlib
import itertools
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from etiket_sync_agent import scaffold
from etiket_sync_agent.plugins import ScopeRequirement
from etiket_sync_agent.scaffold import ScaffoldError, generate_backend, generate_converter
from etiket_sync_agent.testing import (
    check_backend_class,
    check_converter_class,
    converter_problems,
)
from tests.scaffold.conftest import (
    REPO_ROOT,
    assert_no_cookiecutter_state,
    clean_env,
    write_hostile_cookiecutterrc,
)

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

BACKEND_VARIANTS = [
    *(("database", scope, live, None) for scope, live in itertools.product(
        ["REQUIRED", "OPTIONAL", "DISABLED"], [False, True]
    )),
    ("file", "REQUIRED", False, None),
    ("file", "OPTIONAL", True, 1),
    ("file", "DISABLED", True, 3),
    ("file", "REQUIRED", True, 2),
    ("file", "OPTIONAL", False, 0),
]  # fmt: skip


def _pyproject(package: Path) -> dict:
    return tomllib.loads((package / "pyproject.toml").read_text(encoding="utf-8"))


def _python_files(package: Path) -> list[Path]:
    return sorted(package.rglob("*.py"))


@pytest.fixture
def importable(tmp_path: Path) -> Iterator[Path]:
    """Generate into tmp_path/out and import from there (undone afterwards)."""
    out = tmp_path / "out"
    out.mkdir()
    before = set(sys.modules)
    yield out
    for name in set(sys.modules) - before:
        if name.startswith("etiket_sync_agent_"):
            del sys.modules[name]
    for entry in [p for p in sys.path if p.startswith(str(out))]:
        sys.path.remove(entry)


def _import_from(package: Path, module: str):  # noqa: ANN202
    sys.path.insert(0, str(package))
    importlib.invalidate_caches()
    return importlib.import_module(module)


@pytest.mark.parametrize(("base", "scope", "live", "level"), BACKEND_VARIANTS)
def test_every_backend_variant_renders_a_package_that_passes_the_contract(
    importable: Path, base: str, scope: str, live: bool, level: int | None
) -> None:
    name = f"{base} {scope} {'live' if live else 'still'}"
    result = generate_backend(
        name, base=base, default_scope=scope, live_sync=live, level=level, output_dir=importable
    )
    pkg = result.path
    assert result.files == sorted(
        [
            Path("README.md"),
            Path("pyproject.toml"),
            Path(result.import_name, "__init__.py"),
            Path(result.import_name, f"{result.entry_name}_config_class.py"),
            Path(result.import_name, f"{result.entry_name}_sync_class.py"),
            Path("tests", f"test_{result.entry_name}.py"),
        ]
    )
    for path in _python_files(pkg):
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    meta = _pyproject(pkg)
    assert meta["project"]["name"] == result.distribution
    assert meta["project"]["entry-points"] == {
        scaffold.BACKEND_GROUP: {result.entry_name: result.entry_point}
    }
    module = _import_from(pkg, result.import_name)
    cls = getattr(module, result.entry_point.split(":")[1])
    check_backend_class(cls)
    assert cls.sync_agent_name == result.entry_name
    assert cls.scope_requirement is ScopeRequirement(scope)
    assert cls.live_sync_implemented is live
    assert cls.kind == base
    if base == "file":
        assert cls.level == (-1 if level is None else level)
        assert cls.is_single_file is (level == 0)
    todo_methods = ["sync_dataset_normal"]
    todo_methods += ["get_new_datasets"] if base == "database" else []
    todo_methods += ["check_live_dataset", "sync_dataset_live"] if live else []
    text = (pkg / result.todo_file).read_text(encoding="utf-8")
    for method in todo_methods:
        assert f'raise NotImplementedError("TODO: implement {cls.__name__}.{method}")' in text


@pytest.mark.parametrize("name", ["csv-to-hdf5", "Mat2Zarr", "tidy"])
def test_converter_packages_render_and_leave_unknown_suffixes_to_the_author(
    importable: Path, name: str
) -> None:
    result = generate_converter(name, output_dir=importable, entry_name=None)
    pkg = result.path
    for path in _python_files(pkg):
        ast.parse(path.read_text(encoding="utf-8"))
    assert _pyproject(pkg)["project"]["entry-points"] == {
        scaffold.CONVERTER_GROUP: {result.entry_name: result.entry_point}
    }
    cls = getattr(_import_from(pkg, result.import_name), result.entry_point.split(":")[1])
    if name == "tidy":
        # the name does not say the suffixes: the contract check points at the TODO
        assert any("input_type must be a file suffix" in p for p in converter_problems(cls))
    else:
        check_converter_class(cls)
    with pytest.raises(NotImplementedError, match="TODO"):
        cls().convert(Path("in"), Path("."))


def test_generated_code_is_lint_clean(tmp_path: Path) -> None:
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.skip("ruff is not installed")
    packages = [
        generate_backend("my-backend", output_dir=tmp_path).path,
        generate_backend(
            "lab data", base="file", level=2, live_sync=True, default_scope="DISABLED",
            output_dir=tmp_path,
        ).path,
        generate_converter("csv-to-hdf5", output_dir=tmp_path).path,
        generate_converter("tidy", output_dir=tmp_path).path,
    ]  # fmt: skip
    for pkg in packages:
        proc = subprocess.run(
            [ruff, "check", "--isolated", "--no-cache", "--line-length", "100",
             "--target-version", "py310", "--select", "E,F,W,I,UP,B,SIM", "."],
            cwd=pkg, capture_output=True, text=True,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_values_are_rendered_as_data_not_code(tmp_path: Path) -> None:
    """A dependency full of quoting characters arrives verbatim in pyproject.toml."""
    nasty = 'pkg; platform_version == "a\' ] # \\\\ = [tool.evil] z"'
    result = generate_converter(
        "csv-to-hdf5", dependencies=[nasty, "h5py>=3"], version="1.0.0rc1",
        entry_name="csv.to-h5", output_dir=tmp_path,
    )  # fmt: skip
    meta = _pyproject(result.path)
    assert set(meta) == {"build-system", "project", "tool"}
    assert set(meta["tool"]) == {"hatch", "pytest"}
    assert meta["project"]["dependencies"][1:] == [nasty, "h5py>=3"]
    assert meta["project"]["version"] == "1.0.0rc1"
    assert meta["project"]["entry-points"] == {
        scaffold.CONVERTER_GROUP: {"csv.to-h5": result.entry_point}
    }
    module = result.path / "tests" / "test_csv_to_hdf5_converter.py"
    tree = ast.parse(module.read_text(encoding="utf-8"))
    assigned = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
    }
    assert assigned["entry_name"] == "csv.to-h5"


def test_the_users_cookiecutter_config_is_never_read_or_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cookiecutter.config

    home = tmp_path / "home"
    write_hostile_cookiecutterrc(home)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(home / ".cookiecutterrc"))

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the user's cookiecutter config must not be read")

    monkeypatch.setattr(cookiecutter.config, "get_user_config", forbidden)
    result = generate_backend("my-backend", output_dir=tmp_path / "out")
    meta = _pyproject(result.path)
    assert meta["project"]["version"] == "0.0.1"
    assert "my_backend" in meta["project"]["entry-points"][scaffold.BACKEND_GROUP]
    assert_no_cookiecutter_state(home)


def test_existing_folders_are_only_overwritten_with_force(tmp_path: Path) -> None:
    first = generate_backend("my-backend", output_dir=tmp_path)
    sync = first.path / first.todo_file
    sync.write_text("# my implementation\n", encoding="utf-8")
    (first.path / "NOTES.md").write_text("mine", encoding="utf-8")
    with pytest.raises(ScaffoldError, match="already exists") as info:
        generate_backend("my-backend", output_dir=tmp_path, base="file")
    assert "--force" in (info.value.hint or "")
    assert sync.read_text(encoding="utf-8") == "# my implementation\n"

    again = generate_backend("my-backend", output_dir=tmp_path, base="file", force=True)
    assert again.overwritten and again.path == first.path
    assert "class MyBackendSync(FileBackend)" in sync.read_text(encoding="utf-8")
    assert (first.path / "NOTES.md").read_text(encoding="utf-8") == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["etiket-sync-agent-my-backend"]


def test_a_file_in_the_way_is_refused_even_with_force(tmp_path: Path) -> None:
    (tmp_path / "etiket-sync-agent-x").write_text("not a folder", encoding="utf-8")
    with pytest.raises(ScaffoldError, match="not a folder"):
        generate_backend("x", output_dir=tmp_path, force=True)
    with pytest.raises(ScaffoldError, match="not a folder"):
        generate_backend("x", output_dir=tmp_path / "etiket-sync-agent-x")


def test_a_failed_rendering_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cookiecutter.generate

    def half_done(repo_dir: str, context: dict, output_dir: str, **kw: object) -> str:
        (Path(output_dir) / "etiket-sync-agent-x").mkdir()
        (Path(output_dir) / "etiket-sync-agent-x" / "README.md").write_text("half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(cookiecutter.generate, "generate_files", half_done)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_backend("x", output_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kind", "name"), [("backend", "my-backend"), ("converter", "csv-to-hdf5")]
)
def test_cookiecutter_json_documents_the_variables_with_the_readme_example(
    kind: str, name: str
) -> None:
    declared = scaffold.template_variables(kind)
    ctx = (scaffold.backend_context if kind == "backend" else scaffold.converter_context)(name)
    assert set(declared) == set(ctx)
    assert {k: v for k, v in declared.items() if k != "dependencies"} == {
        k: v for k, v in ctx.items() if k != "dependencies"
    }


# -- the commands ------------------------------------------------------------------------------

STANDALONE = {
    "backend": "from etiket_sync_agent.cli.scaffold_cmd import backend_main; backend_main()",
    "converter": "from etiket_sync_agent.cli.scaffold_cmd import converter_main; converter_main()",
    "etiket-sync": "from etiket_sync_agent.cli.app import main; main()",
}


def _cli(which: str, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    home = cwd.parent / "home"
    return subprocess.run(
        [sys.executable, "-c", STANDALONE[which], *map(str, args)],
        cwd=cwd, env=clean_env(home), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "work").mkdir()
    return tmp_path / "work"


@pytest.mark.parametrize(
    ("which", "args", "message"),
    [
        ("backend", ["../evil"], "invalid backend name '../evil'"),
        ("etiket-sync", ["generate_sync_agent_scaffold", "class"], "is a Python keyword"),
        ("converter", ["csv-to-hdf5", "--version", '1"\nx'], "contains control"),
        ("etiket-sync", ["generate_converter_scaffold", "{{x}}"], "contains template syntax"),
        ("backend", ["ok", "--level", "2"], "--level only applies to file backends"),
    ],
)
def test_commands_refuse_with_exit_code_2_and_write_nothing(
    workdir: Path, which: str, args: list[str], message: str
) -> None:
    proc = _cli(which, *args, cwd=workdir)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "error:" in proc.stderr and message in " ".join(proc.stderr.split())
    assert "Traceback" not in proc.stderr
    assert list(workdir.iterdir()) == []


def test_names_with_markup_are_refused_like_any_other(workdir: Path) -> None:
    proc = _cli("backend", "a[/]b", cwd=workdir)
    assert proc.returncode == 2 and "invalid backend name 'a[/]b'" in proc.stderr


def test_standalone_usage_errors_exit_2_with_a_usage_message(workdir: Path) -> None:
    proc = _cli("converter", "csv-to-hdf5", "--version", cwd=workdir)
    assert proc.returncode == 2 and "requires an argument" in proc.stderr
    proc = _cli("backend", cwd=workdir)
    assert proc.returncode == 2 and "Missing argument" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_etiket_sync_usage_errors_exit_2_with_a_usage_message(workdir: Path) -> None:
    proc = _cli("etiket-sync", "generate_sync_agent_scaffold", cwd=workdir)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_commands_create_the_package_and_keep_an_existing_one(workdir: Path) -> None:
    proc = _cli("converter", "csv-to-hdf5", "--dependency", "h5py", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert "etiket-sync-agent-csv-to-hdf5-converters" in proc.stdout
    assert "csv_to_hdf5_converter.py  <- implement the TODOs" in proc.stdout
    proc = _cli("etiket-sync", "generate_converter_scaffold", "csv-to-hdf5", cwd=workdir)
    assert proc.returncode == 2 and "already exists" in proc.stderr and "--force" in proc.stderr
    proc = _cli("backend", "lab data", "--base", "file", "--level", "-1", "-o", "sub", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert (workdir / "sub" / "etiket-sync-agent-lab-data" / "pyproject.toml").is_file()
    assert_no_cookiecutter_state(workdir.parent / "home")


@pytest.mark.parametrize("which", ["backend", "converter"])
def test_standalone_and_etiket_sync_commands_share_their_options(workdir: Path, which: str) -> None:
    command = (
        "generate_sync_agent_scaffold" if which == "backend" else "generate_converter_scaffold"
    )
    standalone = _cli(which, "--help", cwd=workdir).stdout
    sub = _cli("etiket-sync", command, "--help", cwd=workdir).stdout
    options = {"--version", "--dependency", "--output-dir", "--force"}
    options |= (
        {"--base", "--default-scope", "--live-sync", "--level"}
        if which == "backend"
        else {"--entry-name"}
    )
    for option in options:
        assert option in standalone and option in sub, (command, option)


# -- packaging -----------------------------------------------------------------------------------


def test_the_wheel_ships_the_templates_and_the_package_finds_them(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    if not (REPO_ROOT / "pyproject.toml").is_file() or not (REPO_ROOT / "templates").is_dir():
        pytest.skip("not running from a source tree")
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(dist)],
        cwd=REPO_ROOT, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        expected = {
            "etiket_sync_agent/templates/" + p.relative_to(REPO_ROOT / "templates").as_posix()
            for p in (REPO_ROOT / "templates").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        assert expected <= names
        zf.extractall(tmp_path / "site")
    code = (
        "import json, sys; from etiket_sync_agent import scaffold; "
        "r = scaffold.generate_converter('csv-to-hdf5', output_dir=sys.argv[1]); "
        "print(json.dumps([str(scaffold.templates_root()), scaffold.__file__, r.to_json()]))"
    )
    env = {**clean_env(tmp_path / "home"), "PYTHONPATH": str(tmp_path / "site")}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "out")],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    root, module_file, result = json.loads(proc.stdout)
    assert Path(module_file).is_relative_to(tmp_path / "site")
    assert Path(root) == tmp_path / "site" / "etiket_sync_agent" / "templates"
    assert Path(result["path"], "pyproject.toml").is_file()


def test_a_checkout_finds_the_repository_templates() -> None:
    if (
        not (REPO_ROOT / "templates").is_dir()
        or (Path(scaffold.__file__).parent / "templates").is_dir()
    ):
        pytest.skip("not running from a source checkout")
    assert scaffold.templates_root() == REPO_ROOT / "templates"


# -- the README ------------------------------------------------------------------------------

_TREE_BLOCK = re.compile(r"```\n(etiket-sync-agent-[a-z0-9-]+/\n.*?)```", re.DOTALL)
_TREE_LINE = re.compile(r"((?:│   |    )*)[├└]── (\S+)")


def _tree_paths(block: str) -> tuple[str, set[str]]:
    """The root and the relative paths of a `tree`-like block (``# comments`` allowed)."""
    lines = [line.split("#", 1)[0].rstrip() for line in block.splitlines() if line.strip()]
    stack: list[str] = []
    paths = set()
    for line in lines[1:]:
        m = _TREE_LINE.fullmatch(line)
        assert m, f"not a tree line: {line!r}"
        stack = stack[: len(m.group(1)) // 4] + [m.group(2).rstrip("/")]
        paths.add("/".join(stack))
    return lines[0].rstrip("/"), paths


def test_the_readme_trees_match_what_the_generators_write(tmp_path: Path) -> None:
    readme = REPO_ROOT / "README.md"
    blocks = _TREE_BLOCK.findall(readme.read_text(encoding="utf-8")) if readme.is_file() else []
    if not blocks:
        pytest.skip("README.md shows no generated package tree")
    for block in blocks:
        root, documented = _tree_paths(block)
        name = root.removeprefix("etiket-sync-agent-")
        if name.endswith("-converters"):
            result = generate_converter(name.removesuffix("-converters"), output_dir=tmp_path)
        else:
            result = generate_backend(name, output_dir=tmp_path)
        written = {p.as_posix() for f in result.files for p in [f, *f.parents[:-1]]}
        assert documented == written, root
