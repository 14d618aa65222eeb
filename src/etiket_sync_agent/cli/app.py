"""``etiket-sync``: the Typer app. Each command parses, calls one service, renders."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from etiket_sync_agent.cli import render
from etiket_sync_agent.errors import EtiketSyncError

app = typer.Typer(
    name="etiket-sync",
    help="Synchronize lab measurement datasets (QCoDeS, Quantify, Labber, core-tools, "
    "folders) into a dataset store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
sources_app = typer.Typer(help="List, inspect, edit, pause, resume and remove sync sources.")
scopes_app = typer.Typer(help="Scopes of the dataset store.")
datasets_app = typer.Typer(help="Datasets in the store.")
app.add_typer(sources_app, name="sources")
app.add_typer(scopes_app, name="scopes")
app.add_typer(datasets_app, name="datasets")

_home: Path | None = None

JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")


def _runtime():  # noqa: ANN202
    from etiket_sync_agent.home import Home
    from etiket_sync_agent.runtime import Runtime

    return Runtime(Home.resolve(_home))


@app.callback()
def _global(
    home: Path | None = typer.Option(
        None,
        "--home",
        envvar="ETIKET_SYNC_HOME",
        show_envvar=True,
        help="Keep all state (database, store, logs, lock) under this folder.",
    ),
) -> None:
    global _home
    _home = home


# -- the loop ------------------------------------------------------------------------------


@app.command()
def run(
    once: bool = typer.Option(False, "--once", help="Discover, attempt every due item once, exit."),
    iterations: int = typer.Option(0, "--iterations", "-n", min=0, help="Stop after N iterations."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also log to the terminal."),
    source: list[str] = typer.Option(
        [], "--source", help="Synchronize only this source (repeatable; default: all)."
    ),
) -> None:
    """Run the sync loop (until Ctrl-C, or --once / --iterations N)."""
    from etiket_sync_agent.cli.progress import ProgressReporter, line_reporter
    from etiket_sync_agent.logs import setup_logging
    from etiket_sync_agent.run import sync_loop

    rt = _runtime()
    setup_logging(rt.home, console=verbose)
    only = set(source) or None
    if once or iterations:
        with ProgressReporter() as reporter:
            summary = sync_loop(
                iterations, once=once, reporter=reporter, runtime=rt, only_sources=only
            )
    else:
        render.console.print(f"Agent running on {rt.home.data_dir} — Ctrl-C to stop.")
        summary = sync_loop(0, reporter=line_reporter, runtime=rt, only_sources=only)
    render.console.print(
        f"{summary.iterations} iteration(s), {summary.attempted} attempt(s), "
        f"{summary.failed} failed. See `etiket-sync status`."
    )


@app.command()
def status(
    json_: bool = JSON,
    watch: bool = typer.Option(False, "--watch", "-w", help="Refresh every 2 s until Ctrl-C."),
) -> None:
    """Show the agent and every source with its item counts."""
    from etiket_sync_agent.services.status import status as get_status

    rt = _runtime()
    if json_:
        render.print_json(get_status(rt))
        return
    if not watch:
        render.status(get_status(rt))
        return
    from rich.live import Live

    try:
        with Live(console=render.console, auto_refresh=False) as live:
            while True:
                with render.console.capture() as cap:
                    render.status(get_status(rt))
                from rich.text import Text

                live.update(Text.from_ansi(cap.get()), refresh=True)
                time.sleep(2)
    except KeyboardInterrupt:
        pass


# -- sources -------------------------------------------------------------------------------


def _pairs(values: list[str], what: str) -> dict[str, str]:
    from etiket_sync_agent.errors import ConfigError

    out = {}
    for v in values:
        k, sep, val = v.partition("=")
        if not sep or not k:
            raise ConfigError(f"{what} expects IDENTIFIER=SCOPE, got {v!r}")
        out[k] = val
    return out


@app.command("add-source")
def add_source(
    backend: str = typer.Argument(..., help="Backend name (see `etiket-sync plugins`)."),
    name: str = typer.Argument(..., help="A name for this source."),
    scope: str | None = typer.Option(None, "--scope", "-s", help="Store scope for its datasets."),
    set_: list[str] = typer.Option([], "--set", help="Config value key=value (repeatable)."),
    config_file: Path | None = typer.Option(
        None, "--config-file", help="YAML/JSON file with config values."
    ),
    map_: list[str] = typer.Option(
        [], "--map", help="Scope mapping IDENTIFIER=SCOPE (repeatable, if supported)."
    ),
    json_: bool = JSON,
) -> None:
    """Add a sync source. The config is validated by the backend; nothing is written on error."""
    from etiket_sync_agent.services import sources

    rt = _runtime()
    data = sources.add_source(
        rt,
        backend,
        name,
        scope=scope,
        settings=sources.parse_settings(set_, config_file),
        scope_mappings=_pairs(map_, "--map"),
    )
    if json_:
        render.print_json(data)
    else:
        render.console.print(f"Added source [bold]{name}[/] ({backend}).")
        render.source(data)


@sources_app.command("list")
def sources_list(json_: bool = JSON) -> None:
    """List sources."""
    from etiket_sync_agent.services import sources

    rows = sources.list_sources(_runtime())
    render.print_json(rows) if json_ else render.sources(rows)


@sources_app.command("show")
def sources_show(name: str, json_: bool = JSON) -> None:
    """Show one source (secrets redacted)."""
    from etiket_sync_agent.services import sources

    data = sources.show_source(_runtime(), name)
    render.print_json(data) if json_ else render.source(data)


@sources_app.command("edit")
def sources_edit(
    name: str,
    set_: list[str] = typer.Option([], "--set", help="Config value key=value (repeatable)."),
    config_file: Path | None = typer.Option(
        None, "--config-file", help="YAML/JSON file with config values."
    ),
    json_: bool = JSON,
) -> None:
    """Change config values of a source (validated by its backend; nothing written on error)."""
    from etiket_sync_agent.services import sources

    data = sources.edit_source(_runtime(), name, sources.parse_settings(set_, config_file))
    if json_:
        render.print_json(data)
        return
    render.console.print(f"Updated source [bold]{name}[/].")
    render.source(data)
    if data["items"]["failed"]:
        render.console.print(
            f"{data['items']['failed']} failed item(s) keep their state: "
            f"`etiket-sync retry {name}` tries them again with the new settings."
        )


@sources_app.command("remove")
def sources_remove(
    name: str, yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask.")
) -> None:
    """Forget a source and its items (datasets already in the store stay)."""
    from etiket_sync_agent.services import sources

    rt = _runtime()
    sources.show_source(rt, name)
    if not yes:
        import sys

        if not sys.stdin.isatty():
            raise typer.BadParameter("refusing to remove without --yes (no terminal to ask)")
        typer.confirm(f"Remove source {name!r}?", abort=True)
    sources.remove_source(rt, name)
    render.console.print(f"Removed source {name}.")


@sources_app.command("pause")
def sources_pause(name: str) -> None:
    """Stop synchronizing a source (until resumed)."""
    from etiket_sync_agent.services import sources

    sources.set_paused(_runtime(), name, True)
    render.console.print(f"Paused {name}.")


@sources_app.command("resume")
def sources_resume(name: str) -> None:
    """Resume a paused source."""
    from etiket_sync_agent.services import sources

    sources.set_paused(_runtime(), name, False)
    render.console.print(f"Resumed {name}.")


@app.command()
def items(
    source: str,
    status_: str | None = typer.Option(
        None, "--status", help="pending, live, synchronized or failed."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1),
    json_: bool = JSON,
) -> None:
    """List the items (datasets) of a source with their sync state."""
    from etiket_sync_agent.services import sources

    rows = sources.list_items(_runtime(), source, status_, limit)
    render.print_json(rows) if json_ else render.items(rows)


@app.command()
def item(source: str, identifier: str, json_: bool = JSON) -> None:
    """Show one item with the sync records (tasks, logs, errors) of its last attempts."""
    from etiket_sync_agent.services import sources

    data = sources.show_item(_runtime(), source, identifier)
    render.print_json(data) if json_ else render.item(data)


@app.command()
def retry(source: str, item: list[str] | None = typer.Argument(None)) -> None:
    """Queue failed items of SOURCE (all, or the given ones) for another attempt."""
    from etiket_sync_agent.services import sources

    n = sources.retry(_runtime(), source, item or None)
    render.console.print(f"{n} item(s) queued again.")


@app.command()
def plugins(json_: bool = JSON) -> None:
    """List installed backends and converters (broken ones with their error)."""
    from etiket_sync_agent.services.plugins import list_plugins

    rows = list_plugins(_runtime())
    render.print_json(rows) if json_ else render.plugins(rows)


# -- store -------------------------------------------------------------------------------


@scopes_app.command("list")
def scopes_list(json_: bool = JSON) -> None:
    """List scopes."""
    from etiket_sync_agent.services import datasets

    rows = datasets.list_scopes(_runtime())
    render.print_json(rows) if json_ else render.scopes(rows)


@scopes_app.command("create")
def scopes_create(
    name: str, description: str = typer.Option("", "--description", "-d"), json_: bool = JSON
) -> None:
    """Create a scope (existing: unchanged)."""
    from etiket_sync_agent.services import datasets

    data = datasets.create_scope(_runtime(), name, description)
    render.print_json(data) if json_ else render.console.print(f"Scope {data['name']} ready.")


@datasets_app.command("list")
def datasets_list(
    scope: str | None = typer.Option(None, "--scope"),
    source: str | None = typer.Option(None, "--source"),
    limit: int | None = typer.Option(None, "--limit", min=1),
    json_: bool = JSON,
) -> None:
    """List datasets, newest first."""
    from etiket_sync_agent.services import datasets

    rows = datasets.list_datasets(_runtime(), scope, source, limit)
    render.print_json(rows) if json_ else render.datasets(rows)


@datasets_app.command("show")
def datasets_show(uuid: str, json_: bool = JSON) -> None:
    """Show a dataset's metadata and files."""
    from etiket_sync_agent.services import datasets

    data = datasets.show_dataset(_runtime(), uuid)
    render.print_json(data) if json_ else render.dataset(data)


@datasets_app.command("export")
def datasets_export(uuid: str, target: Path) -> None:
    """Write the latest version of every file of the dataset into TARGET."""
    from etiket_sync_agent.services import datasets

    paths = datasets.export_dataset(_runtime(), uuid, target)
    render.console.print(f"Wrote {len(paths)} file(s) to {target}.")


# -- demo ------------------------------------------------------------------------------


@app.command()
def demo() -> None:
    """Create sample datasets in the home, add a source, sync them, show the result."""
    from etiket_sync_agent.cli.progress import ProgressReporter
    from etiket_sync_agent.logs import setup_logging
    from etiket_sync_agent.services import datasets
    from etiket_sync_agent.services.demo import DEMO_SCOPE, run_demo
    from etiket_sync_agent.services.status import status as get_status

    rt = _runtime()
    setup_logging(rt.home)
    render.console.print(f"Demo workspace in [bold]{rt.home.demo_dir}[/]")
    with ProgressReporter() as reporter:
        result = run_demo(rt, reporter)
    render.console.print(
        f"{result.created} new sample dataset(s) in {result.workspace}; "
        f"{result.summary.attempted} synchronized or attempted."
    )
    render.status(get_status(rt))
    render.datasets(datasets.list_datasets(rt, scope=DEMO_SCOPE))
    render.console.print(
        "Next: `etiket-sync datasets show UUID`, `etiket-sync run` to keep watching."
    )


# -- scaffolds --------------------------------------------------------------------------

from etiket_sync_agent.cli.scaffold_cmd import register as _register_scaffold  # noqa: E402

_register_scaffold(app)


def main() -> None:
    """Console entry point: user errors become one red line and an exit code.

    Typer runs in standalone mode, so usage errors print usage and exit 2 as usual.
    """
    try:
        app(prog_name="etiket-sync")
    except EtiketSyncError as exc:
        render.error(exc.message, exc.hint)
        raise SystemExit(exc.exit_code) from None
