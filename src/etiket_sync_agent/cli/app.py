"""``etiket-sync``: the Typer app. Each command parses, calls one service, renders.

:func:`main` is the only place exceptions become exit codes: an
:class:`~etiket_sync_agent.errors.EtiketSyncError` is one line with a hint (a JSON object
on stderr when the command was given ``--json``); anything else is a bug, reported in one
line while its traceback goes to the log file (``-v`` prints it too).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import typer

from etiket_sync_agent.cli import render

#: plain (click) help: Rich help shows flags as if they took values (``--once <bool>``)
_TYPER = {"rich_markup_mode": None, "pretty_exceptions_enable": False}

app = typer.Typer(
    name="etiket-sync",
    help="Synchronize lab measurement datasets (QCoDeS, Quantify, Labber, core-tools, "
    "folders) into a dataset store.",
    no_args_is_help=True,
    add_completion=True,
    **_TYPER,
)
sources_app = typer.Typer(
    help="List, inspect, edit, pause, resume and remove sync sources.",
    no_args_is_help=True,
    **_TYPER,
)
scopes_app = typer.Typer(help="Scopes of the dataset store.", no_args_is_help=True, **_TYPER)
datasets_app = typer.Typer(help="Datasets in the store.", no_args_is_help=True, **_TYPER)
app.add_typer(sources_app, name="sources")
app.add_typer(scopes_app, name="scopes")
app.add_typer(datasets_app, name="datasets")


class _Options:
    home: Path | None = None
    verbose: bool = False


_opts = _Options()

JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")
SOURCE_NAME = typer.Argument(..., metavar="SOURCE", help="A source name (`sources list`).")
HOME = typer.Option(
    None,
    "--home",
    envvar="ETIKET_SYNC_HOME",
    show_envvar=True,
    help="Keep all state (database, store, logs, lock) under this folder.",
)


def _runtime():  # noqa: ANN202
    from etiket_sync_agent.home import Home
    from etiket_sync_agent.runtime import Runtime

    return Runtime(Home.resolve(_opts.home))


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"etiket-sync {version('etiket_sync_agent')}")
        raise typer.Exit()


@app.callback()
def _global(
    home: Path | None = HOME,
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show tracebacks of unexpected errors."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    _opts.home = home
    _opts.verbose = _opts.verbose or verbose
    if home is not None:
        # defaults computed from the home (e.g. the native area) and child processes agree
        os.environ["ETIKET_SYNC_HOME"] = str(home)


# -- the loop ------------------------------------------------------------------------------

LOG_LEVELS = ("debug", "info", "warning", "error")

ONCE = typer.Option(False, "--once", help="Discover, attempt every due item once, exit.")
ITERATIONS = typer.Option(0, "--iterations", "-n", min=0, help="Stop after N iterations.")
VERBOSE = typer.Option(
    False, "--verbose", "-v", help="A line per item and live pass, and the log on the terminal."
)
QUIET = typer.Option(False, "--quiet", "-q", help="Print only problems.")
SOURCE = typer.Option(
    [], "--source", help="Synchronize only this source (repeatable; default: all).", metavar="NAME"
)
LOG_LEVEL = typer.Option(
    "info", "--log-level", help="What the log file keeps: debug, info, warning or error."
)
METRICS = typer.Option(
    None,
    "--metrics",
    help="Serve Prometheus metrics and /healthz at HOST:PORT (a bare port: 127.0.0.1); "
    "default: the `etiket-sync config metrics` setting; `off`: none.",
    metavar="HOST:PORT",
)
WEB = typer.Option(
    None,
    "--web",
    help="Serve the web page beside the loop at HOST:PORT (given bare: 127.0.0.1:8765); "
    "any but a loopback address needs a token (--token-file, --create-token).",
    metavar="[HOST:PORT]",
)
TOKEN_FILE = typer.Option(
    None, "--token-file", help="With --web: file whose first line is the access token.",
    metavar="FILE",
)  # fmt: skip
CREATE_TOKEN = typer.Option(
    False, "--create-token", help="With --web: make the home's access token if there is none."
)
DRY_RUN = typer.Option(
    False,
    "--dry-run",
    help="Discover and read everything and report what would be created or updated in "
    "the store, changing nothing (the store, the state and the home stay as they are). "
    "Implies --once.",
)
RUN_JSON = typer.Option(False, "--json", help="With --dry-run: print the report as JSON.")
SUMMARY = typer.Option(
    60.0, "--summary-every", min=0.0, help="Seconds between summary lines of `run`.",
    metavar="SECONDS",
)  # fmt: skip


def _run(
    once: bool,
    iterations: int,
    verbose: bool,
    quiet: bool,
    source: list[str],
    log_level: str,
    summary_every: float,
    metrics: str | None = None,
    dry_run: bool = False,
    json_: bool = False,
    web: str | None = None,
    token_file: Path | None = None,
    create_token: bool = False,
) -> None:
    import logging

    from etiket_sync_agent.cli.progress import ProgressReporter, SummaryReporter, line_reporter
    from etiket_sync_agent.errors import ConfigError
    from etiket_sync_agent.logs import setup_logging
    from etiket_sync_agent.run import sync_loop

    if log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"unknown log level {log_level!r}", hint=", ".join(LOG_LEVELS))
    if verbose and quiet:
        raise ConfigError("--verbose and --quiet exclude each other")
    _opts.verbose = _opts.verbose or verbose
    if dry_run:
        from etiket_sync_agent.cli.ops_cmd import dry_run as run_dry

        return run_dry(_opts.home, set(source) or None, as_json=json_, quiet=quiet)
    if json_:
        raise ConfigError("--json goes with --dry-run", hint="`etiket-sync status --json`")
    if web and (once or iterations):
        raise ConfigError(
            "--web serves the page beside the endless loop", hint="drop --once / --iterations"
        )
    rt = _runtime()
    setup_logging(rt.home, getattr(logging, log_level.upper()), console=verbose)
    only = set(source) or None
    if once or iterations:
        with ProgressReporter(quiet=quiet) as reporter:
            summary = sync_loop(
                iterations, once=once, reporter=reporter, runtime=rt, only_sources=only
            )
    else:
        from etiket_sync_agent.cli.ops_cmd import serve_metrics

        reporter = line_reporter if verbose else SummaryReporter(summary_every, quiet=quiet)
        # the metrics endpoint and the alert notifier (if the home has targets) run beside
        # the endless loop; a bad --metrics address is an error before anything runs
        ops = serve_metrics(rt, metrics, web, token_file, create_token)
        if not quiet:
            render.console.print(
                f"Agent running on {rt.home.data_dir}: problems are shown at once, a summary "
                f"every {summary_every:g} s. Ctrl-C to stop.",
                highlight=False,
            )
        try:
            summary = sync_loop(0, reporter=reporter, runtime=rt, only_sources=only)
        finally:
            ops.stop()
            if isinstance(reporter, SummaryReporter):
                reporter.flush()
    if not quiet or summary.failed:
        render.console.print(
            f"{summary.iterations} iteration(s), {summary.attempted} attempt(s), "
            f"{summary.failed} failed. See `etiket-sync status`.",
            highlight=False,
        )


@app.command()
def run(
    once: bool = ONCE,
    iterations: int = ITERATIONS,
    verbose: bool = VERBOSE,
    quiet: bool = QUIET,
    source: list[str] = SOURCE,
    log_level: str = LOG_LEVEL,
    summary_every: float = SUMMARY,
    metrics: str | None = METRICS,
    dry_run: bool = DRY_RUN,
    json_: bool = RUN_JSON,
    web: str | None = WEB,
    token_file: Path | None = TOKEN_FILE,
    create_token: bool = CREATE_TOKEN,
) -> None:
    """Run the sync loop (until Ctrl-C, or --once / --iterations N; --dry-run: report
    what one run would store, changing nothing; --web: serve the web page too)."""
    _run(
        once, iterations, verbose, quiet, source, log_level, summary_every, metrics,
        dry_run, json_, web, token_file, create_token,
    )  # fmt: skip


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
    elif watch:
        _watch(lambda: render.status_view(get_status(rt)))
    else:
        render.status(get_status(rt))


def _watch(view, every_s: float = 2.0) -> None:  # noqa: ANN001 - () -> renderable
    """Redraw ``view()`` in place until Ctrl-C.

    The alternate screen (as ``top`` and ``watch`` use) is redrawn whole at every frame,
    so a view taller or wider than the terminal, or a resize, never leaves old frames
    behind; Ctrl-C restores the screen as it was.
    """
    from rich.live import Live

    if not render.console.is_terminal:  # piped or logged: one frame after the other
        try:
            while True:
                render.console.print(view())
                render.console.print()
                time.sleep(every_s)
        except KeyboardInterrupt:
            return
    try:
        with Live(
            view(), console=render.console, screen=True, auto_refresh=True,
            refresh_per_second=4, redirect_stdout=False, redirect_stderr=False,
        ) as live:  # fmt: skip
            while True:
                time.sleep(every_s)
                live.update(view())
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


SET = typer.Option([], "--set", help="Config value key=value (repeatable).", metavar="KEY=VALUE")
CONFIG_FILE = typer.Option(None, "--config-file", help="YAML/JSON file with config values.")


@app.command("add-source")
def add_source(
    backend: str = typer.Argument(..., help="Backend name (see `etiket-sync plugins`)."),
    name: str = typer.Argument(..., help="A name for this source."),
    scope: str | None = typer.Option(None, "--scope", "-s", help="Store scope for its datasets."),
    set_: list[str] = SET,
    config_file: Path | None = CONFIG_FILE,
    map_: list[str] = typer.Option(
        [],
        "--map",
        help="Scope mapping IDENTIFIER=SCOPE (repeatable, if supported).",
        metavar="IDENTIFIER=SCOPE",
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
        render.console.print(f"Added source [bold]{render.escape(name)}[/] ({backend}).")
        render.source(data)


@sources_app.command("list")
def sources_list(json_: bool = JSON) -> None:
    """List sources."""
    from etiket_sync_agent.services import sources

    rows = sources.list_sources(_runtime())
    render.print_json(rows) if json_ else render.sources(rows)


@sources_app.command("show")
def sources_show(name: str = SOURCE_NAME, json_: bool = JSON) -> None:
    """Show one source (secrets redacted)."""
    from etiket_sync_agent.services import sources

    data = sources.show_source(_runtime(), name)
    render.print_json(data) if json_ else render.source(data)


@sources_app.command("edit")
def sources_edit(
    name: str = SOURCE_NAME,
    set_: list[str] = SET,
    config_file: Path | None = CONFIG_FILE,
    resync: bool = typer.Option(
        False,
        "--resync",
        help="Also synchronize the datasets already synchronized again, with the new settings.",
    ),
    json_: bool = JSON,
) -> None:
    """Change config values of a source (validated by its backend; nothing written on error).

    The new settings apply to datasets synchronized from now on; --resync synchronizes the
    source's datasets again so that those already in the store get them too.
    """
    from etiket_sync_agent.services import sources

    data = sources.edit_source(
        _runtime(), name, sources.parse_settings(set_, config_file), resync=resync
    )
    if json_:
        render.print_json(data)
        return
    render.console.print(f"Updated source [bold]{render.escape(name)}[/].")
    render.source(data)
    counts = data["items"]
    if resync:
        render.console.print(
            f"{data['requeued']} synchronized item(s) queued to be synchronized again.",
            highlight=False,
        )
    elif counts["synchronized"]:
        render.console.print(
            f"The new settings apply to datasets synchronized from now on; the "
            f"{counts['synchronized']} already synchronized keep theirs (add --resync to "
            "synchronize them again).",
            highlight=False,
        )
    if counts["failed"]:
        render.console.print(
            f"{counts['failed']} failed item(s) keep their state: "
            f"`etiket-sync retry {name}` tries them again with the new settings.",
            highlight=False,
        )


@sources_app.command("remove")
def sources_remove(
    name: str = SOURCE_NAME, yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask.")
) -> None:
    """Forget a source and its items (datasets already in the store stay)."""
    from etiket_sync_agent.errors import ConfigError
    from etiket_sync_agent.services import sources

    rt = _runtime()
    sources.show_source(rt, name)
    if not yes:
        if not sys.stdin.isatty():
            raise ConfigError(
                "refusing to remove without --yes (no terminal to ask)",
                hint=f"etiket-sync sources remove {name} --yes",
            )
        typer.confirm(f"Remove source {name!r}?", abort=True)
    sources.remove_source(rt, name)
    render.console.print(f"Removed source {render.escape(name)}.")


@sources_app.command("pause")
def sources_pause(name: str = SOURCE_NAME) -> None:
    """Stop synchronizing a source (until resumed)."""
    from etiket_sync_agent.services import sources

    sources.set_paused(_runtime(), name, True)
    render.console.print(f"Paused {render.escape(name)}.")


@sources_app.command("resume")
def sources_resume(name: str = SOURCE_NAME) -> None:
    """Resume a paused source."""
    from etiket_sync_agent.services import sources

    sources.set_paused(_runtime(), name, False)
    render.console.print(f"Resumed {render.escape(name)}.")


ITEM_REF = "An item: its identifier, label (a QCoDeS run id), dataset id (or its first "
ITEM_REF += "characters, as `items` shows) or the start of its name."


@app.command()
def items(
    source: str = SOURCE_NAME,
    status_: str | None = typer.Option(
        None, "--status", help="pending, live, synchronized, failed or waiting."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1),
    json_: bool = JSON,
) -> None:
    """List the items (datasets) of a source with their sync state."""
    from etiket_sync_agent.services import sources

    rows = sources.list_items(_runtime(), source, status_, limit)
    render.print_json(rows) if json_ else render.items(rows)


@app.command()
def item(
    source: str = SOURCE_NAME,
    ref: str = typer.Argument(..., metavar="ITEM", help=ITEM_REF),
    json_: bool = JSON,
) -> None:
    """Show one item with the sync records (tasks, logs, errors) of its last attempts."""
    from etiket_sync_agent.services import sources

    data = sources.show_item(_runtime(), source, ref)
    render.print_json(data) if json_ else render.item(data)


@app.command()
def retry(
    source: str = SOURCE_NAME,
    refs: list[str] | None = typer.Argument(None, metavar="[ITEM]...", help=ITEM_REF),
) -> None:
    """Queue failed items of SOURCE (all, or the given ones) for another attempt."""
    from etiket_sync_agent.services import sources

    n = sources.retry(_runtime(), source, refs or None)
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
    if json_:
        render.print_json(data)
    else:
        render.console.print(f"Scope {render.escape(data['name'])} ready.")


@scopes_app.command("map")
def scopes_map(
    source: str = SOURCE_NAME,
    identifier: str = typer.Argument(..., help="The scope identifier the source reports."),
    scope: str = typer.Argument(..., help="An existing store scope (`scopes list`)."),
    json_: bool = JSON,
) -> None:
    """Send a source's datasets with IDENTIFIER (e.g. CT_PROJECT_x) to SCOPE."""
    from etiket_sync_agent.services.scope_mappings import map_scope

    data = map_scope(_runtime(), source, identifier, scope)
    if json_:
        render.print_json(data)
    else:
        render.console.print(
            f"{render.escape(source)}: {render.escape(identifier)} -> "
            f"{render.escape(scope)} ({data['requeued']} item(s) queued again)."
        )


@scopes_app.command("unmap")
def scopes_unmap(
    source: str = SOURCE_NAME,
    identifier: str = typer.Argument(..., help="A mapped scope identifier."),
) -> None:
    """Remove a mapping: new datasets with IDENTIFIER wait for a mapping again."""
    from etiket_sync_agent.services.scope_mappings import unmap_scope

    unmap_scope(_runtime(), source, identifier)
    render.console.print(f"{render.escape(source)}: {render.escape(identifier)} unmapped.")


@scopes_app.command("mappings")
def scopes_mappings(source: str = SOURCE_NAME, json_: bool = JSON) -> None:
    """A source's scope mappings and the identifiers still waiting for one."""
    from etiket_sync_agent.services.scope_mappings import list_scope_mappings

    data = list_scope_mappings(_runtime(), source)
    render.print_json(data) if json_ else render.scope_mappings(source, data)


DATASET_REF = "A dataset: its id (or its first 8 characters), a QCoDeS GUID or run id, "
DATASET_REF += "or the start of its name."


@datasets_app.command("list")
def datasets_list(
    scope: str | None = typer.Option(None, "--scope"),
    source: str | None = typer.Option(None, "--source"),
    text: str | None = typer.Option(
        None, "--text", help="Only names containing TEXT (any case).", metavar="TEXT"
    ),
    tag: str | None = typer.Option(None, "--tag", help="Only datasets with this tag."),
    attribute: str | None = typer.Option(
        None,
        "--attribute",
        help="Only datasets with attribute NAME (=VALUE: with that value).",
        metavar="NAME[=VALUE]",
    ),
    since: str | None = typer.Option(
        None, "--since", help="Collected on or after this day (UTC).", metavar="YYYY-MM-DD"
    ),
    until: str | None = typer.Option(
        None, "--until", help="Collected on or before this day (UTC).", metavar="YYYY-MM-DD"
    ),
    limit: int | None = typer.Option(None, "--limit", min=1),
    json_: bool = JSON,
) -> None:
    """List datasets, newest first (the filters combine: all must match)."""
    from etiket_sync_agent.services import datasets

    rows = datasets.list_datasets(
        _runtime(), scope, source, limit, text=text, tag=tag, attribute=attribute,
        since=since, until=until,
    )  # fmt: skip
    render.print_json(rows) if json_ else render.datasets(rows)


@datasets_app.command("show")
def datasets_show(
    ref: str = typer.Argument(..., metavar="DATASET", help=DATASET_REF), json_: bool = JSON
) -> None:
    """Show a dataset's metadata and files."""
    from etiket_sync_agent.services import datasets

    data = datasets.show_dataset(_runtime(), ref)
    render.print_json(data) if json_ else render.dataset(data)


@datasets_app.command("export")
def datasets_export(
    ref: str = typer.Argument(..., metavar="DATASET", help=DATASET_REF),
    target: Path = typer.Argument(..., metavar="DIR", help="Folder to write the files into."),
    force: bool = typer.Option(False, "--force", help="Replace different files of the same name."),
) -> None:
    """Write the latest version of every file of the dataset into DIR."""
    from etiket_sync_agent.services import datasets

    paths = datasets.export_dataset(_runtime(), ref, target, force=force)
    render.console.print(f"Wrote {len(paths)} file(s) to {target}.", highlight=False)


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
    render.console.print(f"Demo workspace in [bold]{render.escape(str(rt.home.demo_dir))}[/]")
    with ProgressReporter() as reporter:
        result = run_demo(rt, reporter)
    render.console.print(
        f"{result.created} new sample dataset(s) in {result.workspace}; "
        f"{result.summary.attempted} synchronized or attempted.",
        highlight=False,
    )
    render.status(get_status(rt))
    render.datasets(datasets.list_datasets(rt, scope=DEMO_SCOPE))
    render.console.print(
        "Next: `etiket-sync datasets show UUID`, `etiket-sync run` to keep watching."
    )


# -- scaffolds --------------------------------------------------------------------------

from etiket_sync_agent.cli.scaffold_cmd import register as _register_scaffold  # noqa: E402

_register_scaffold(app)

from etiket_sync_agent.cli.web_cmd import register as _register_web  # noqa: E402

_register_web(app)

from etiket_sync_agent.cli.ops_cmd import alerts_app, config_app, service_app  # noqa: E402

app.add_typer(service_app, name="service")
app.add_typer(alerts_app, name="alerts")
app.add_typer(config_app, name="config")

from etiket_sync_agent.cli.store_cmd import store_app  # noqa: E402

app.add_typer(store_app, name="store")


# -- entry points ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``etiket-sync``."""
    invoke(app, argv, "etiket-sync")


module_app = typer.Typer(add_completion=False, **_TYPER)


@module_app.command()
def _module_run(
    home: Path | None = HOME,
    once: bool = ONCE,
    iterations: int = ITERATIONS,
    verbose: bool = VERBOSE,
    quiet: bool = QUIET,
    source: list[str] = SOURCE,
    log_level: str = LOG_LEVEL,
    summary_every: float = SUMMARY,
    metrics: str | None = METRICS,
    web: str | None = WEB,
    token_file: Path | None = TOKEN_FILE,
    create_token: bool = CREATE_TOKEN,
) -> None:
    """Run the sync loop, as `etiket-sync run` does (until Ctrl-C or SIGTERM)."""
    _opts.home = home
    _run(
        once, iterations, verbose, quiet, source, log_level, summary_every, metrics,
        web=web, token_file=token_file, create_token=create_token,
    )  # fmt: skip


def module_main(argv: list[str] | None = None) -> None:
    """``python -m etiket_sync_agent [OPTIONS]``: ``etiket-sync run`` with the same options."""
    invoke(module_app, argv, "python -m etiket_sync_agent")


def invoke(command: typer.Typer, argv: list[str] | None, prog_name: str) -> None:
    """Run ``command`` and turn every outcome into an exit code (see the module doc).

    Every console script (``etiket-sync``, ``python -m etiket_sync_agent``, the scaffold
    generators) runs through here."""
    from typer._click.exceptions import ClickException  # typer's own (vendored) click

    from etiket_sync_agent.errors import EtiketSyncError

    args = _bare_web(list(sys.argv[1:] if argv is None else argv))
    as_json = "--json" in args
    _opts.verbose = any(a in ("-v", "--verbose") for a in args)
    try:
        code = command(args=args, prog_name=prog_name, standalone_mode=False)
    except EtiketSyncError as exc:
        _fail(" ".join(exc.message.split()), exc.hint, exc.exit_code, type(exc).__name__, as_json)
    except typer.Abort:
        render.err_console.print("Aborted.")
        raise SystemExit(1) from None
    except ClickException as exc:
        if as_json:
            _fail(exc.format_message(), "see --help", exc.exit_code, "UsageError", True)
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except BrokenPipeError:  # `etiket-sync items lab | head`: the reader left
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None
    except Exception as exc:  # noqa: BLE001 - the one place a bug becomes one line
        _unexpected(exc, as_json)
    raise SystemExit(code if isinstance(code, int) else 0)


def _bare_web(args: list[str]) -> list[str]:
    """``run --web`` given without an address gets the default one (a click option
    cannot have an optional value)."""
    if "--web" not in args:
        return args
    from etiket_sync_agent.ops.runner import WEB_DEFAULT

    out: list[str] = []
    for i, arg in enumerate(args):
        out.append(arg)
        if arg == "--web" and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append(WEB_DEFAULT)
    return out


def _fail(message: str, hint: str | None, exit_code: int, kind: str, as_json: bool) -> None:
    if as_json:
        render.json_error(message, hint, exit_code, kind)
    else:
        render.error(message, hint)
    raise SystemExit(exit_code)


def _unexpected(exc: BaseException, as_json: bool) -> None:
    """A bug: one line for the user, the traceback into the log file (and, with -v, here)."""
    import logging
    import traceback

    where = None
    try:
        from etiket_sync_agent.home import Home
        from etiket_sync_agent.logs import setup_logging

        home = Home.resolve(_opts.home)
        setup_logging(home)
        logging.getLogger("etiket_sync_agent.cli").error(
            "unexpected error", exc_info=(type(exc), exc, exc.__traceback__)
        )
        where = home.log_file
    except Exception:  # noqa: BLE001 - the home itself may be what is broken
        pass
    if _opts.verbose:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    text = " ".join(str(exc).split())[:500]
    hint = "this is a bug in etiket_sync_agent or a plugin; " + (
        f"the traceback is in {where}" if where else "run with -v to see the traceback"
    )
    if where and not _opts.verbose:
        hint += " (or run with -v to see it here)"
    _fail(f"unexpected {type(exc).__name__}: {text}", hint, 1, type(exc).__name__, as_json)
