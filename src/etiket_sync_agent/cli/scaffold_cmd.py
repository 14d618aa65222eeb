"""The scaffold generators as commands.

``generate_sync_agent_scaffold`` / ``generate_converter_scaffold`` (stand-alone scripts)
and ``etiket-sync generate_sync_agent_scaffold`` / ``etiket-sync generate_converter_scaffold``
are the same two functions below: they parse, call :mod:`etiket_sync_agent.scaffold`,
and render the result.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from etiket_sync_agent.cli import render

BACKEND_COMMAND = "generate_sync_agent_scaffold"
CONVERTER_COMMAND = "generate_converter_scaffold"

_VERSION = typer.Option("0.0.1", "--version", help="Initial version of the package.")
_DEPENDENCY = typer.Option(
    [],
    "--dependency",
    help="A dependency of the package, e.g. 'h5py>=3' (repeatable).",
    metavar="REQUIREMENT",
)
_OUTPUT_DIR = typer.Option(
    Path("."), "--output-dir", "-o", help="Where to create the package folder."
)
_FORCE = typer.Option(
    False, "--force", help="Overwrite the generated files of an existing package folder."
)


def generate_backend(
    backend: str = typer.Argument(
        ..., metavar="BACKEND", help="Name of the backend, e.g. qcodes, my-instrument, 'lab data'."
    ),
    version: str = _VERSION,
    dependency: list[str] = _DEPENDENCY,
    base: str = typer.Option(
        "database",
        "--base",
        help="database: datasets are rows of a database; file: folders (or files) under a "
        "root folder.",
        metavar="database|file",
    ),
    default_scope: str = typer.Option(
        "REQUIRED",
        "--default-scope",
        help="REQUIRED: every source names its scope; OPTIONAL: it may; DISABLED: the "
        "backend picks the scope of each dataset.",
        metavar="REQUIRED|OPTIONAL|DISABLED",
    ),
    live_sync: str = typer.Option(
        "False",
        "--live-sync",
        help="True if you will implement live sync of measurements still running.",
        metavar="True|False",
    ),
    level: int | None = typer.Option(
        None,
        "--level",
        help="File backends: -1 = every folder holding _QH_dataset_info.yaml (default), "
        "1 = each folder in the root, N = folders at depth N.",
    ),
    output_dir: Path = _OUTPUT_DIR,
    force: bool = _FORCE,
) -> None:
    """Generate a backend plugin package: etiket-sync-agent-<backend>/."""
    from etiket_sync_agent import scaffold

    result = scaffold.generate_backend(
        backend,
        version=version,
        dependencies=dependency,
        base=base,
        default_scope=default_scope,
        live_sync=live_sync,
        level=level,
        output_dir=output_dir,
        force=force,
    )
    _render(result)


def generate_converter(
    converter: str = typer.Argument(
        ..., metavar="CONVERTER", help="Name of the converter, e.g. csv-to-hdf5, mat-to-zarr."
    ),
    version: str = _VERSION,
    dependency: list[str] = _DEPENDENCY,
    entry_name: str | None = typer.Option(
        None,
        "--entry-name",
        help="The converter's registered name (default: the name in snake_case, e.g. csv_to_hdf5).",
    ),
    output_dir: Path = _OUTPUT_DIR,
    force: bool = _FORCE,
) -> None:
    """Generate a converter plugin package: etiket-sync-agent-<converter>-converters/."""
    from etiket_sync_agent import scaffold

    result = scaffold.generate_converter(
        converter,
        version=version,
        dependencies=dependency,
        entry_name=entry_name,
        output_dir=output_dir,
        force=force,
    )
    _render(result)


def _render(result) -> None:  # noqa: ANN001 - a scaffold.ScaffoldResult (imported lazily)
    from rich.markup import escape
    from rich.tree import Tree

    verb = "Updated" if result.overwritten else "Created"
    render.console.print(
        f"{verb} {result.kind} package [bold]{escape(result.distribution)}[/] in "
        f"{escape(str(result.path.parent))}",
        highlight=False,
    )
    render.console.print(
        f"entry point {escape(result.entry_point_group)}: "
        f"{escape(result.entry_name)} = {escape(result.entry_point)}",
        highlight=False,
    )
    tree = Tree(escape(f"{result.path.name}/"))
    nodes: dict[Path, Tree] = {Path("."): tree}
    for rel in result.files:
        for parent in reversed(rel.parents[:-1]):
            if parent not in nodes:
                nodes[parent] = nodes[parent.parent].add(escape(f"{parent.name}/"))
        mark = "  [yellow]<- implement the TODOs[/]" if rel == result.todo_file else ""
        nodes[rel.parent].add(escape(rel.name) + mark)
    render.console.print(tree, highlight=False)
    steps = [
        f"implement the TODOs in {result.todo_file.as_posix()}",
        "write a small sample of your data in the test in tests/ (the tests fail until "
        "it is there and synchronizes)"
        if result.kind == "backend"
        else "write a small sample input file in the test in tests/ (the tests fail "
        "until it is there and converts)",
        f"cd {result.path.name} && pip install -e '.[test]' && pytest",
        f"etiket-sync plugins  (lists {result.entry_name})",
    ]
    render.console.print("Next:", highlight=False)
    for i, step in enumerate(steps, 1):
        render.console.print(f"  {i}. {escape(step)}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add both generators to the ``etiket-sync`` app."""
    app.command(BACKEND_COMMAND)(generate_backend)
    app.command(CONVERTER_COMMAND)(generate_converter)


def _standalone(command: Callable[..., None], prog_name: str) -> None:
    """Run one generator as its own program; errors end as ``etiket-sync``'s do."""
    from etiket_sync_agent.cli.app import invoke

    single = typer.Typer(
        add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False
    )
    single.command()(command)
    invoke(single, None, prog_name)


def backend_main() -> None:
    """Console entry point ``generate_sync_agent_scaffold``."""
    _standalone(generate_backend, BACKEND_COMMAND)


def converter_main() -> None:
    """Console entry point ``generate_converter_scaffold``."""
    _standalone(generate_converter, CONVERTER_COMMAND)
