"""``etiket-sync service ...`` and ``etiket-sync alerts ...``, and the operations that
``etiket-sync run`` starts beside the loop (metrics endpoint, alert notifier).

Each command parses, calls one function of :mod:`etiket_sync_agent.ops`, renders.
The sub-apps are registered in ``cli/app.py``::

    app.add_typer(service_app, name="service")
    app.add_typer(alerts_app, name="alerts")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from etiket_sync_agent.cli import render

_TYPER = {"rich_markup_mode": None, "pretty_exceptions_enable": False}

service_app = typer.Typer(
    help="Run the agent as a background service of your user (systemd, launchd, Task Scheduler).",
    no_args_is_help=True,
    **_TYPER,
)
config_app = typer.Typer(
    help="Agent settings kept in the home (e.g. the metrics address `run` serves on).",
    no_args_is_help=True,
    **_TYPER,
)
alerts_app = typer.Typer(
    help="Notification targets (apprise URLs) told when syncing fails or falls behind.",
    no_args_is_help=True,
    **_TYPER,
)

JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")
NAME = typer.Option("etiket-sync", "--name", help="Name of the service.", metavar="NAME")
MANAGER = typer.Option(
    None,
    "--manager",
    help="systemd, launchd or windows-task (default: this platform's), e.g. to --print "
    "another platform's files.",
    metavar="MANAGER",
)
PRINT = typer.Option(False, "--print", help="Show what would be written and run; change nothing.")


def _home_override() -> Path | None:
    """The home the user chose (``--home`` / ``ETIKET_SYNC_HOME``), or None."""
    from etiket_sync_agent.cli import app as cli_app
    from etiket_sync_agent.home import HOME_ENV

    if cli_app._opts.home is not None:
        return Path(cli_app._opts.home)
    env = os.environ.get(HOME_ENV)
    return Path(env) if env else None


def _runtime():  # noqa: ANN202
    from etiket_sync_agent.home import Home
    from etiket_sync_agent.runtime import Runtime

    return Runtime(Home.resolve(_home_override()))


def _print_plan(plan: dict[str, Any], *, uninstall: bool = False) -> None:
    # plain echo: file contents must come out exactly, never wrapped to the terminal
    echo = typer.echo
    if uninstall:
        echo("Would run:")
        for argv in plan["uninstall"]:
            echo("  " + " ".join(argv))
        echo("and remove:")
        for f in plan["files"]:
            echo(f"  {f['path']}")
        echo("Nothing was changed (--print).")
        return
    for f in plan["files"]:
        echo(f"Would write {f['path']}:")
        echo(f["content"])
    echo("Would run:")
    for argv in plan["install"]:
        echo("  " + " ".join(argv))
    for note in plan["notes"]:
        echo(note)
    echo("Nothing was changed (--print).")


# -- service ---------------------------------------------------------------------------


@service_app.command("install")
def service_install(
    name: str = NAME,
    manager: str | None = MANAGER,
    print_: bool = PRINT,
    no_start: bool = typer.Option(
        False, "--no-start", help="Only write the files; enable and start them yourself."
    ),
    system: bool = typer.Option(
        False, "--system", help="Explain how to run it as a system service (headless rigs)."
    ),
    metrics: str | None = typer.Option(
        None,
        "--metrics",
        help="The service serves Prometheus metrics on HOST:PORT (written into its command "
        "line; without it, the `etiket-sync config metrics` setting applies).",
        metavar="HOST:PORT",
    ),
    json_: bool = JSON,
) -> None:
    """Install and start the agent as a service of your user (no admin rights)."""
    from etiket_sync_agent.ops.service import manager as svc

    if system:
        typer.echo(svc.system_notes(manager))
        return
    rt = _runtime()
    plan = svc.build_plan(
        rt, name=name, manager=manager, home_override=_home_override(), metrics=metrics
    )
    if print_:
        if json_:
            render.print_json({**plan.as_json(), "changed": False})
        else:
            _print_plan(plan.as_json())
        return
    result = svc.install(rt, plan, start=not no_start)
    if json_:
        render.print_json(result)
        return
    for path in result["written"]:
        typer.echo(f"Wrote {path}")
    if no_start:
        typer.echo("Not started (--no-start). To start it, run:")
        for argv in result["install"]:
            typer.echo("  " + " ".join(argv))
    else:
        typer.echo(f"Service {plan.name} installed and started ({plan.manager}).")
    for note in plan.notes:
        typer.echo(note)


@service_app.command("uninstall")
def service_uninstall(print_: bool = PRINT, json_: bool = JSON) -> None:
    """Stop the service and remove exactly what `service install` wrote."""
    from etiket_sync_agent.ops.service import manager as svc

    rt = _runtime()
    plan = svc.installed_plan(rt, home_override=_home_override())
    if print_:
        data = plan.as_json()
        record = svc.read_record(rt)
        data["files"] = [{"path": p} for p in (record["files"] if record else [])]
        if json_:
            render.print_json({**data, "changed": False})
        else:
            _print_plan(data, uninstall=True)
        return
    result = svc.uninstall(rt, plan)
    if json_:
        render.print_json(result)
        return
    for path in result["removed"]:
        typer.echo(f"Removed {path}")
    typer.echo(f"Service {result['name']} uninstalled.")


@service_app.command("status")
def service_status(json_: bool = JSON) -> None:
    """The service manager's view of the service and the agent's own heartbeat."""
    from etiket_sync_agent.ops.service import manager as svc

    rt = _runtime()
    data = svc.service_status(rt, svc.installed_plan(rt, home_override=_home_override()))
    if json_:
        render.print_json(data)
        return
    typer.echo(f"Service {data['name']} ({data['manager']}): {data['summary']}")
    view = data["service"]
    if view.get("error"):
        typer.echo(f"  service manager: {view['error']}")
    elif data["installed"]:
        shown = {k: v for k, v in view.items() if k != "active"}
        typer.echo("  service manager: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    loop = data["agent"]
    beat = render.when(loop["last_heartbeat"]) or "never"
    typer.echo(f"  agent: {loop['state_text']}; last heartbeat {beat}")


@service_app.command("start")
def service_start() -> None:
    """Start the installed service."""
    from etiket_sync_agent.ops.service import manager as svc

    rt = _runtime()
    result = svc.start(rt, svc.installed_plan(rt, home_override=_home_override()))
    typer.echo(f"Service {result['name']} started.")


@service_app.command("stop")
def service_stop() -> None:
    """Stop the installed service (it starts again at the next login)."""
    from etiket_sync_agent.ops.service import manager as svc

    rt = _runtime()
    result = svc.stop(rt, svc.installed_plan(rt, home_override=_home_override()))
    typer.echo(f"Service {result['name']} stopped.")


@service_app.command("logs")
def service_logs(
    lines: int = typer.Option(50, "--lines", "-n", min=1, help="How many lines."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
    journal: bool = typer.Option(
        False, "--journal", help="The systemd journal of the service instead of the log file."
    ),
) -> None:
    """The agent's log file (or, with --journal, the service's systemd journal)."""
    from etiket_sync_agent.ops.service import manager as svc

    rt = _runtime()
    if journal:
        code = svc.journal(svc.installed_plan(rt), lines, follow)
        raise typer.Exit(code)
    for line in svc.log_tail(rt, lines):
        typer.echo(line)
    if follow:
        try:
            for line in svc.follow_log(rt):
                typer.echo(line)
        except KeyboardInterrupt:
            return


# -- alerts ------------------------------------------------------------------------------


@alerts_app.command("add")
def alerts_add(
    url: str = typer.Argument(
        ..., metavar="URL", help="An apprise URL: mailto://..., json://..., slack://..."
    ),
    json_: bool = JSON,
) -> None:
    """Add a notification target (the URL is a secret: it is shown redacted)."""
    from etiket_sync_agent.ops.alerts import targets

    target = targets.add_target(_runtime().home, url)
    if json_:
        render.print_json(target)
    else:
        typer.echo(f"Added alert target {target['id']}: {target['url']}")
        typer.echo("Try it: `etiket-sync alerts test`.")


@alerts_app.command("list")
def alerts_list(json_: bool = JSON) -> None:
    """The notification targets (redacted) and the alert settings."""
    from dataclasses import asdict

    from etiket_sync_agent.ops.alerts import targets

    home = _runtime().home
    rows, settings = targets.list_targets(home), asdict(targets.settings(home))
    if json_:
        render.print_json({"targets": rows, "settings": settings})
        return
    if not rows:
        typer.echo("No alert targets. Add one with `etiket-sync alerts add URL`.")
    for row in rows:
        typer.echo(f"{row['id']:>3}  {row['url']}  (added {row['added']})")
    typer.echo("Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))


@alerts_app.command("remove")
def alerts_remove(
    target_id: int = typer.Argument(..., metavar="ID", help="The target's id (`alerts list`)."),
) -> None:
    """Remove a notification target."""
    from etiket_sync_agent.ops.alerts import targets

    gone = targets.remove_target(_runtime().home, target_id)
    typer.echo(f"Removed alert target {gone['id']}: {gone['url']}")


@alerts_app.command("test")
def alerts_test(json_: bool = JSON) -> None:
    """Send a test message to every target; exit 1 if one did not get it."""
    from etiket_sync_agent.ops.alerts.notifier import send_test

    results = send_test(_runtime())
    if json_:
        render.print_json(results)
    else:
        for r in results:
            typer.echo(f"{'ok' if r['ok'] else 'FAILED'}  {r['url']}  {r.get('error', '')}")
    if not all(r["ok"] for r in results):
        raise typer.Exit(1)


@alerts_app.command("set")
def alerts_set(
    values: list[str] = typer.Argument(
        ..., metavar="KEY=VALUE", help="e.g. min_interval_s=600 digest_hour=8"
    ),
) -> None:
    """Change alert settings (see `alerts list`)."""
    from dataclasses import asdict

    from etiket_sync_agent.ops.alerts import targets
    from etiket_sync_agent.services.sources import parse_settings

    settings = targets.set_settings(_runtime().home, parse_settings(values, None))
    typer.echo("Settings: " + ", ".join(f"{k}={v}" for k, v in asdict(settings).items()))


@alerts_app.command("watch")
def alerts_watch(
    once: bool = typer.Option(False, "--once", help="Check once and exit."),
) -> None:
    """Check and alert from a process of its own (until Ctrl-C): it can tell you when
    the agent itself has died. `run` already alerts while it runs."""
    from etiket_sync_agent.ops.alerts.notifier import watch

    try:
        for message in watch(_runtime(), once=once):
            typer.echo(message["title"])
    except KeyboardInterrupt:
        return


# -- config ----------------------------------------------------------------------------


@config_app.command("show")
def config_show(json_: bool = JSON) -> None:
    """The saved agent settings."""
    from etiket_sync_agent.ops import settings

    data = {"metrics": settings.metrics_address(_runtime().home, None)}
    if json_:
        render.print_json(data)
        return
    for key, value in data.items():
        typer.echo(f"{key}: {value if value is not None else 'off'}")


@config_app.command("metrics")
def config_metrics(
    address: str | None = typer.Argument(
        None, metavar="[HOST:PORT|off]", help="e.g. 127.0.0.1:9464; `off` removes it."
    ),
) -> None:
    """Show or set the address `etiket-sync run` serves Prometheus metrics on when it is
    given no --metrics (a running agent picks it up when it starts again)."""
    from etiket_sync_agent.ops import settings

    home = _runtime().home
    if address is None:
        saved = settings.metrics_address(home, None)
        typer.echo(f"metrics: {saved or 'off'}")
        return
    saved = settings.set_metrics(home, address)
    if saved is None:
        typer.echo("metrics: off (`run` serves no metrics unless given --metrics)")
    else:
        typer.echo(f"metrics: {saved} (`run` serves /metrics and /healthz there)")


# -- beside `run` ----------------------------------------------------------------------

METRICS = typer.Option(
    None,
    "--metrics",
    help="Serve Prometheus /metrics and /healthz on HOST:PORT (e.g. 127.0.0.1:9464; "
    "a bare PORT binds to 127.0.0.1).",
    metavar="HOST:PORT",
)


def serve_metrics(  # noqa: ANN201 - OpsHandle (lazy import)
    rt: Any,  # noqa: ANN401 - a Runtime
    metrics: str | None,
    web: str | None = None,
    token_file: Path | None = None,
    create_token: bool = False,
):
    """Start what runs beside the loop for ``etiket-sync run``: the metrics endpoint
    (``metrics`` = ``--metrics HOST:PORT`` or ``off``; None: the saved setting), the web
    page (``web`` = ``--web HOST:PORT``) and the alert notifier (when the home has
    targets). Returns a handle; call ``handle.stop()`` when the loop ends."""
    from etiket_sync_agent.ops.runner import start_ops
    from etiket_sync_agent.ops.settings import metrics_address

    handle = start_ops(
        rt, metrics=metrics_address(rt.home, metrics), web=web, token_file=token_file,
        create_token=create_token,
    )  # fmt: skip
    if handle.metrics_url:
        typer.echo(
            f"Metrics on {handle.metrics_url}/metrics, health on {handle.metrics_url}/healthz"
        )
    page = handle.web
    if page is not None:
        if page.token_created:
            typer.echo(
                f"Access token (shown once, kept in {page.token_path} with mode 0600): "
                f"{page.token_created}"
            )
        elif page.token_path is not None:
            typer.echo(f"Access token: the one in {page.token_path}.")
        typer.echo(f"Web page on {page.url}/")
    return handle


# -- run --dry-run ---------------------------------------------------------------------

_ACTION_STYLE = {"new": "green", "updated": "yellow", "new_version": "yellow",
                 "replaced": "cyan", "finalized": "cyan", "unchanged": "dim"}  # fmt: skip


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _file_action(f: dict[str, Any]) -> str:
    text = {"new_version": f"new version {f['version']}", "replaced": "live content replaced"}
    label = text.get(f["action"], f["action"])
    live = " (live)" if f["status"] == "live" else ""
    return f"[{_ACTION_STYLE[f['action']]}]{label}[/]{live}"


def dry_run(home: Path | None, only: set[str] | None, *, as_json: bool, quiet: bool) -> None:
    """``etiket-sync run --dry-run``: run the engine against copies, render the report."""
    from etiket_sync_agent.engine.dry_run import dry_run as run_dry
    from etiket_sync_agent.home import Home

    where = Home.resolve(home)
    if as_json or quiet or not render.err_console.is_terminal:
        report = run_dry(where, only)
    else:
        with render.err_console.status("Dry run: discovering and reading every source..."):
            report = run_dry(where, only)
    if as_json:
        render.print_json(report)
        return
    console, esc = render.console, render.escape
    if report["datasets"]:
        table = render.Table(title="Dry run: what `etiket-sync run --once` would store")
        for col in ("source", "dataset", "scope", "tags", "action", "file", "file action", "size"):
            table.add_column(col, justify="right" if col == "size" else "left")
        for d in report["datasets"]:
            action = f"[{_ACTION_STYLE[d['action']]}]{d['action']}[/]"
            tags = esc(", ".join(d["tags"]))
            first = [esc(d["source"] or ""), esc(d["name"]), esc(d["scope"]), tags, action]
            # unchanged files are counted, not listed: what changes stands out
            rows = [
                [esc(f["name"]), _file_action(f), _size(f["size"])]
                for f in d["files"]
                if f["action"] != "unchanged"
            ]
            same = [f for f in d["files"] if f["action"] == "unchanged"]
            if same or not rows:
                size = _size(sum(f["size"] for f in same)) if same else ""
                rows.append([f"[dim]{len(same)} file(s)[/]", "[dim]unchanged[/]", size])
            for cells in rows:
                table.add_row(*first, *cells)
                first = [""] * 5
        console.print(table)
    t = report["totals"]
    ds, fs = t["datasets"], t["files"]
    console.print(
        f"Would store {ds['new']} new and {ds['updated']} updated dataset(s); "
        f"{fs['new']} new file(s), {fs['new_version']} new version(s), "
        f"{fs['replaced'] + fs['finalized']} live update(s), {fs['unchanged']} unchanged; "
        f"{_size(t['bytes'])} to upload"
        + (f"; new scope(s): {', '.join(report['scopes'])}" if report["scopes"] else "")
        + f". Sources: {', '.join(report['sources']) or 'none'}.",
        highlight=False,
    )
    for p in report["problems"]:
        what = f"{p['source']}: {p['item']}" if p["item"] else f"source {p['source']}"
        color = "yellow" if p["status"] == "waiting" else "red"
        console.print(f"[{color}]{p['status']}[/] {esc(what)}: {esc(p['error'] or '')}")
    console.print("Nothing was changed (--dry-run).", style="dim")
