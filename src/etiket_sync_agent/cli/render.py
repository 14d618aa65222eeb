"""Rich rendering of the data the services return. The only place Rich is used."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table as _Table

console = Console()


def Table(**kw: Any) -> _Table:  # noqa: N802 - a compact Rich table
    kw.setdefault("box", box.SIMPLE_HEAD)
    kw.setdefault("pad_edge", False)
    return _Table(**kw)


err_console = Console(stderr=True)

_STATUS_STYLE = {
    "synchronized": "green",
    "pending": "yellow",
    "live": "cyan",
    "failed": "red",
    "active": "green",
    "paused": "yellow",
    "error": "red",
    "running": "green",
}


def styled(value: str | None) -> str:
    if value is None:
        return ""
    style = _STATUS_STYLE.get(value)
    return f"[{style}]{value}[/]" if style else value


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def error(message: str, hint: str | None = None) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    if hint:
        err_console.print(f"[dim]hint:[/] {escape(hint)}", highlight=False)


def _when(iso: str | None) -> str:
    return (iso or "")[:19].replace("T", " ") + (" UTC" if iso else "")


def status(data: dict[str, Any]) -> None:
    loop = data["loop"]
    details = [
        f"pid {loop['pid']}" if loop.get("pid") else "",
        f"iteration {loop['iteration']}" if loop.get("iteration") else "",
        f"last heartbeat {_when(loop.get('last_heartbeat'))}" if loop.get("last_heartbeat") else "",
    ]
    extra = ", ".join(d for d in details if d)
    console.print(
        f"Agent: {styled(loop['state'])}" + (f" ({extra})" if extra else ""), highlight=False
    )
    if loop.get("message"):
        console.print(f"[red]{loop['message']}[/]", highlight=False)
    console.print(f"[dim]home: {data['home']}[/]", highlight=False)
    sources(data["sources"], title="Sources")


def sources(rows: list[dict[str, Any]], title: str | None = None) -> None:
    if not rows:
        console.print("No sources yet. Add one with `etiket-sync add-source BACKEND NAME ...`.")
        return
    t = Table(title=title)
    t.add_column("source", no_wrap=True)
    t.add_column("backend")
    t.add_column("status")
    t.add_column("scope")
    t.add_column("synced", justify="right")
    t.add_column("pending", justify="right")
    t.add_column("live", justify="right")
    t.add_column("failed", justify="right")
    errors = any(r.get("last_error") for r in rows)
    if errors:
        t.add_column("last error", overflow="fold", ratio=1)
    for r in rows:
        c = r["items"]
        cells = [
            r["name"],
            r["backend"],
            styled(r["status"]),
            r.get("scope") or "",
            f"{c.get('synchronized', 0)}/{c.get('total', 0)}",
            str(c.get("pending", 0)),
            str(c.get("live", 0)),
            f"[red]{c.get('failed', 0)}[/]" if c.get("failed") else "0",
        ]
        t.add_row(*cells, *([r.get("last_error") or ""] if errors else []))
    console.print(t)


def source(data: dict[str, Any]) -> None:
    t = Table(show_header=False, title=f"Source {data['name']}")
    t.add_column("key", style="bold")
    t.add_column("value", overflow="fold")
    for key in ("backend", "status", "scope", "last_discovery", "created", "last_error"):
        t.add_row(key, styled(str(data.get(key) or "")))
    for key, value in data["config"].items():
        t.add_row(f"config.{key}", str(value))
    for ident, scope in data.get("scope_mappings", {}).items():
        t.add_row(f"scope map {ident}", scope)
    c = data["items"]
    t.add_row("items", ", ".join(f"{k} {v}" for k, v in c.items()))
    console.print(t)


def items(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("No items.")
        return
    t = Table()
    t.add_column("item", overflow="fold")
    t.add_column("status")
    t.add_column("attempts", justify="right")
    t.add_column("dataset")
    t.add_column("detail", overflow="fold")
    for r in rows:
        detail = r.get("last_error") or ""
        if r["status"] == "failed" and r.get("next_retry"):
            detail += f" (retry at {r['next_retry'][:19]})"
        elif r["status"] == "pending" and r.get("next_retry"):
            detail += f"still changing: waits until {r['next_retry'][11:19]} UTC"
        if r.get("warnings"):
            detail += ("; " if detail else "") + "; ".join(r["warnings"])
        t.add_row(
            r["identifier"], styled(r["status"]), str(r["attempts"]), r["dataset_uuid"][:8], detail
        )
    console.print(t)


def item(data: dict[str, Any]) -> None:
    console.print(
        f"[bold]{escape(data['identifier'])}[/]: {styled(data['status'])}, "
        f"{data['attempts']} failed attempt(s), dataset {data['dataset_uuid']}",
        highlight=False,
    )
    if data.get("last_error"):
        console.print(f"[red]{escape(data['last_error'])}[/]", highlight=False)
    for record in data["records"][-3:]:
        t = Table(
            title=f"{record['mode']} sync at {_when(record['started'])}: "
            f"{record.get('outcome') or 'unfinished'}"
        )
        t.add_column("task")
        t.add_column("seconds", justify="right")
        t.add_column("result", overflow="fold", ratio=1)
        for task in record["tasks"]:
            result = "ok" if task["ok"] else f"[red]{escape(task['error'] or '')}[/]"
            if task["logs"]:
                result += "\n" + escape("\n".join(task["logs"][-5:]))
            t.add_row(escape(task["name"]), f"{task['duration_s']:.3f}", result)
        console.print(t)
        for w in record.get("warnings", []):
            console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)


def plugins(rows: list[dict[str, Any]]) -> None:
    t = Table(title="Installed plugins")
    for col in ("kind", "name", "distribution", "version", "status", "details"):
        t.add_column(col, overflow="fold")
    for r in rows:
        if r["status"] == "ok" and r["kind"] == "backend":
            details = (
                f"{r['backend_kind']} backend, scope {r['scope_requirement']}, "
                f"live {'yes' if r['live_sync'] else 'no'}; config: "
                + ", ".join(f["name"] + ("" if f["required"] else "?") for f in r["config"])
            )
        elif r["status"] == "ok":
            details = f"{r['input_type']} -> {r['output_type']}"
        else:
            details = f"[red]{r['error']}[/]"
        t.add_row(
            r["kind"],
            r["name"],
            r["distribution"] or "",
            r["version"] or "",
            "[green]ok[/]" if r["status"] == "ok" else "[red]broken[/]",
            details,
        )
    console.print(t)


def scopes(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("No scopes yet. Create one with `etiket-sync scopes create NAME`.")
        return
    t = Table()
    for col in ("name", "datasets", "description", "created"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["name"], str(r["datasets"]), r["description"], (r["created"] or "")[:19])
    console.print(t)


def datasets(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("No datasets.")
        return
    t = Table(title=f"{len(rows)} dataset(s)")
    t.add_column("uuid", no_wrap=True)
    t.add_column("name", overflow="fold", ratio=1, min_width=12)
    t.add_column("scope")
    t.add_column("collected", no_wrap=True)
    t.add_column("source")
    for r in rows:
        collected = (r["collected"] or "")[:16].replace("T", " ")
        t.add_row(r["uuid"], r["name"], r["scope"], collected, r["source"] or "")
    console.print(t)


def dataset(d: dict[str, Any]) -> None:
    t = Table(show_header=False, title=d["name"])
    t.add_column("key", style="bold")
    t.add_column("value", overflow="fold")
    for key in ("uuid", "alt_uid", "scope", "collected", "source", "ranking", "description"):
        t.add_row(key, str(d.get(key) if d.get(key) is not None else ""))
    t.add_row("tags", ", ".join(d["tags"]))
    for k, v in d["attributes"].items():
        t.add_row(f"attr {k}", str(v))
    console.print(t)
    f = Table(title="Files")
    for col in ("name", "type", "version", "size", "status", "sha256"):
        f.add_column(col, overflow="fold")
    for r in d["files"]:
        f.add_row(
            r["name"],
            r["type"],
            str(r["version"]),
            f"{r['size']:,}",
            styled(r["status"]),
            r["sha256"][:12],
        )
    console.print(f)
