"""Rich rendering of the data the services return. The only place Rich is used.

Every function here that shows something builds a renderable (``*_view``) and, for the
commands, prints it: ``status --watch`` puts the same view into a live display.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table as _Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)


def Table(**kw: Any) -> _Table:  # noqa: N802 - a compact Rich table
    kw.setdefault("box", box.SIMPLE_HEAD)
    kw.setdefault("pad_edge", False)
    return _Table(**kw)


_STATUS_STYLE = {
    "synchronized": "green",
    "pending": "yellow",
    "live": "cyan",
    "failed": "red",
    "active": "green",
    "paused": "yellow",
    "error": "red",
    "running": "green",
    "stale": "yellow",
    "gone": "red",
    "crashed": "red",
}


def styled(value: str | None, text: str | None = None) -> str:
    """``text`` (default ``value``) coloured by what ``value`` means."""
    if value is None:
        return ""
    shown = escape(text if text is not None else value)
    style = _STATUS_STYLE.get(value)
    return f"[{style}]{shown}[/]" if style else shown


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def error(message: str, hint: str | None = None) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        err_console.print(f"[dim]hint:[/] {escape(hint)}", highlight=False, soft_wrap=True)


def json_error(message: str, hint: str | None, exit_code: int, kind: str) -> None:
    """The error of a ``--json`` command: one JSON object on stderr."""
    obj = {"error": message, "hint": hint, "exit_code": exit_code, "type": kind}
    sys.stderr.write(json.dumps(obj) + "\n")


def clock(value: str | None) -> str:
    """``HH:MM`` in local time for today, else the full :func:`when`."""
    if not value:
        return ""
    try:
        local = datetime.fromisoformat(value).astimezone()
    except ValueError:
        return value
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M")
    return when(value)


def when(value: str | None) -> str:
    """The one human time format: local time with its UTC offset,
    ``2026-11-30 14:05:09 +01:00`` (the services give ISO 8601 with offset)."""
    if not value:
        return ""
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return value
    local = dt.astimezone()
    offset = local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M:%S ") + (offset[:3] + ":" + offset[3:] if offset else "")


# -- status ----------------------------------------------------------------------------


def status_view(data: dict[str, Any]) -> RenderableType:
    loop = data["loop"]
    details = [
        f"pid {loop['pid']}" if loop.get("pid") else "",
        f"iteration {loop['iteration']}" if loop.get("iteration") else "",
        f"last heartbeat {when(loop.get('last_heartbeat'))}" if loop.get("last_heartbeat") else "",
    ]
    extra = ", ".join(d for d in details if d)
    parts: list[RenderableType] = [
        Text.from_markup(
            f"Agent: {styled(loop['state'], loop['state_text'])}"
            + (f" ({escape(extra)})" if extra else "")
        )
    ]
    if loop.get("message"):
        parts.append(Text(loop["message"], style="red"))
    store = data.get("store") or {}
    if store and not store.get("reachable", True):
        since = store.get("unreachable_since")
        text = "Store: unreachable" + (f" since {clock(since)}" if since else "")
        text += f" ({store.get('waiting_items', 0)} item(s) waiting for it; they resume by"
        text += " themselves)"
        if store.get("error"):
            text += f": {store['error']}"
        parts.append(Text(text, style="red"))
    elif store.get("waiting_items"):
        n = store["waiting_items"]
        parts.append(Text(f"Store: reachable again; {n} item(s) about to resume", style="yellow"))
    parts.append(Text(f"home: {data['home']}", style="dim"))
    parts.append(sources_view(data["sources"], title="Sources"))
    return Group(*parts)


def status(data: dict[str, Any]) -> None:
    console.print(status_view(data), highlight=False)


# -- sources -----------------------------------------------------------------------------


def sources_view(rows: list[dict[str, Any]], title: str | None = None) -> RenderableType:
    if not rows:
        return Text("No sources yet. Add one with `etiket-sync add-source BACKEND NAME ...`.")
    t = Table(title=title)
    t.add_column("source", no_wrap=True)
    t.add_column("backend")
    t.add_column("status")
    t.add_column("scope")
    t.add_column("synced", justify="right")
    t.add_column("pending", justify="right")
    t.add_column("live", justify="right")
    t.add_column("failed", justify="right")
    waiting = any(r["items"].get("waiting") or r.get("waiting_for_store") for r in rows)
    if waiting:  # for `scopes map` (a source that chooses scopes), or for the store
        t.add_column("waiting", justify="right")
    errors = any(r.get("last_error") for r in rows)
    if errors:
        t.add_column("last error", overflow="fold", ratio=1)
    for r in rows:
        c = r["items"]
        cells = [
            escape(r["name"]),
            escape(r["backend"]),
            styled(r["status"]),
            escape(r.get("scope") or ""),
            f"{c['synchronized']}/{c['total']}",
            str(c["pending"]),
            str(c["live"]),
            f"[red]{c['failed']}[/]" if c["failed"] else "0",
        ]
        if waiting:
            unmapped = ", ".join(escape(i) for i in (r.get("unmapped") or {}))
            for_store = r.get("waiting_for_store") or 0
            why = ([f"store {for_store}"] if for_store else []) + ([unmapped] if unmapped else [])
            count = max(c.get("waiting", 0), for_store)
            cells.append(f"[yellow]{count}[/] ({'; '.join(why)})" if count else "0")
        t.add_row(*cells, *([escape(r.get("last_error") or "")] if errors else []))
    return t


def sources(rows: list[dict[str, Any]], title: str | None = None) -> None:
    console.print(sources_view(rows, title))


def source(data: dict[str, Any]) -> None:
    t = Table(show_header=False, title=f"Source {escape(data['name'])}")
    t.add_column("key", style="bold")
    t.add_column("value", overflow="fold")
    t.add_row("backend", escape(data["backend"]))
    t.add_row("status", styled(data["status"]))
    t.add_row("scope", escape(data.get("scope") or ""))
    t.add_row("last discovery", when(data.get("last_discovery")))
    t.add_row("created", when(data.get("created")))
    t.add_row("last error", escape(data.get("last_error") or ""))
    for key, value in data["config"].items():
        t.add_row(f"config.{escape(key)}", escape(str(value)))
    for ident, scope in data.get("scope_mappings", {}).items():
        t.add_row(f"scope map {escape(ident)}", escape(scope))
    t.add_row("items", ", ".join(f"{k} {v}" for k, v in data["items"].items()))
    console.print(t)


# -- items -------------------------------------------------------------------------------


def items(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("No items.")
        return
    t = Table()
    t.add_column("item", overflow="fold")
    t.add_column("label")
    t.add_column("name", overflow="fold")
    t.add_column("status")
    t.add_column("failures", justify="right")
    t.add_column("dataset")
    t.add_column("detail", overflow="fold")
    for r in rows:
        detail = r.get("last_error") or ""
        if r["status"] == "failed" and r.get("next_retry"):
            detail += f" (retry at {when(r['next_retry'])})"
        elif r.get("waiting_for") == "store":
            detail += " (resumes by itself when the store answers)"
        elif r["status"] == "pending" and r.get("next_retry"):
            detail += f"still changing: waits until {when(r['next_retry'])}"
        if r.get("warnings"):
            n = len(r["warnings"])
            detail += ("; " if detail else "") + f"{n} warning(s): " + "; ".join(r["warnings"])
        t.add_row(
            escape(r["identifier"]),
            escape(r.get("label") or ""),
            escape(r.get("name") or ""),
            styled(r["status"]),
            str(r["failures"]),
            r["dataset_uuid"][:8],
            escape(detail),
        )
    console.print(t)


def item(data: dict[str, Any]) -> None:
    head = escape(data["identifier"])
    if data.get("label") and data["label"] != data["identifier"]:
        head += f" (label {escape(data['label'])})"
    console.print(
        f"[bold]{head}[/]: {styled(data['status'])}, "
        f"{data['failures']} failure(s), dataset {data['dataset_uuid']}",
        highlight=False,
    )
    if data.get("name"):
        console.print(f"name: {escape(data['name'])}", highlight=False)
    if data.get("last_sync"):
        console.print(
            f"last synchronized {when(data['last_sync'])} ({data['sync_count']} sync(s))",
            highlight=False,
        )
    if data.get("last_error"):
        console.print(f"[red]{escape(data['last_error'])}[/]", highlight=False)
    for record in data["records"][-3:]:
        t = Table(
            title=f"{escape(record['mode'])} sync at {when(record['started'])}: "
            f"{escape(record.get('outcome') or 'unfinished')}"
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
        for v in record.get("verified_files", []):
            if "more" in v:
                console.print(f"read back: {v['more']} more file(s)", highlight=False)
                continue
            console.print(
                f"read back: {escape(v['file'])}: {v['variables']} variable(s), "
                f"{v['values']} value(s) equal to what was written ({v['seconds']:.3f} s)",
                highlight=False,
            )


# -- plugins, scopes, datasets -----------------------------------------------------------


def plugins(rows: list[dict[str, Any]]) -> None:
    t = Table(title="Installed plugins")
    for col in ("kind", "name", "distribution", "version", "status", "details"):
        t.add_column(col, overflow="fold")
    for r in rows:
        if r["status"] == "ok" and r["kind"] == "backend":
            details = escape(
                f"{r['backend_kind']} backend, scope {r['scope_requirement']}, "
                f"live {'yes' if r['live_sync'] else 'no'}; config: "
                + ", ".join(f["name"] + ("" if f["required"] else "?") for f in r["config"])
            )
        elif r["status"] == "ok":
            details = escape(f"{r['input_type']} -> {r['output_type']}")
        else:
            details = f"[red]{escape(r['error'] or '')}[/]"
        t.add_row(
            r["kind"],
            escape(r["name"]),
            escape(r["distribution"] or ""),
            escape(r["version"] or ""),
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
        t.add_row(
            escape(r["name"]), str(r["datasets"]), escape(r["description"]), when(r["created"])
        )
    console.print(t)


def scope_mappings(source: str, data: dict[str, Any]) -> None:
    table = Table(title=f"Scope mappings of {escape(source)}")
    table.add_column("identifier")
    table.add_column("scope")
    for ident, target in data["mapped"].items():
        table.add_row(escape(ident), escape(target))
    for ident, count in data["unmapped"].items():
        table.add_row(escape(ident), f"[yellow]waiting for a mapping ({count} item(s))[/]")
    console.print(table)


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
        t.add_row(
            r["uuid"], escape(r["name"]), escape(r["scope"]), when(r["collected"]),
            escape(r["source"] or ""),
        )  # fmt: skip
    console.print(t)


def dataset(d: dict[str, Any]) -> None:
    t = Table(show_header=False, title=escape(d["name"]))
    t.add_column("key", style="bold")
    t.add_column("value", overflow="fold")
    for key in ("uuid", "alt_uid", "scope", "source", "ranking", "description"):
        t.add_row(key, escape(str(d.get(key) if d.get(key) is not None else "")))
    for key in ("collected", "created", "modified"):
        t.add_row(key, when(d.get(key)))
    t.add_row("tags", escape(", ".join(d["tags"])))
    for k, v in d["attributes"].items():
        t.add_row(f"attr {escape(k)}", escape(str(v)))
    console.print(t)
    f = Table(title="Files")
    for col in ("name", "type", "version", "size", "status", "sha256"):
        f.add_column(col, overflow="fold")
    for r in d["files"]:
        f.add_row(
            escape(r["name"]),
            escape(r["type"] or ""),
            str(r["version"]),
            f"{r['size']:,}",
            styled(r["status"]),
            r["sha256"][:12],
        )
    console.print(f)
