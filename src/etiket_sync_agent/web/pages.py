"""Server-rendered HTML: Overview, Problems, Datasets, one dataset, login.

Each page calls the same service functions as the CLI and renders their dicts; every
value is escaped with :func:`e` (no markup from data reaches the page). The Overview
refreshes itself from ``/api/status`` with ``static/app.js``.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from etiket_sync_agent.errors import NotFoundError
from etiket_sync_agent.services import datasets, sources
from etiket_sync_agent.services.status import status

#: datasets on one page of the Datasets list (the store may hold 100k)
PAGE_LIMIT = 200
COUNT_KEYS = ("total", "pending", "live", "synchronized", "failed", "waiting")
NAV = (("/", "Overview"), ("/problems", "Problems"), ("/datasets", "Datasets"))


def e(value: Any) -> str:
    """``value`` as escaped text (None as an empty string)."""
    return "" if value is None else html.escape(str(value), quote=True)


def page(request: Request, title: str, body: str, status_code: int = 200) -> HTMLResponse:
    nav = " ".join(
        f'<a href="{href}"{" class=here" if request.url.path == href else ""}>{label}</a>'
        for href, label in NAV
    )
    lab = getattr(request.app.state, "lab", False)
    badge = " <span id=lab-mode>lab browser · read-only</span>" if lab else ""
    text = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} · etiket-sync</title>
<link rel="stylesheet" href="/static/style.css">
</head><body>
<header><strong>etiket-sync</strong>{badge} <nav>{nav}</nav></header>
<main><h1>{e(title)}</h1>
{body}
</main>
<script src="/static/app.js"></script>
</body></html>"""
    return HTMLResponse(text, status_code=status_code)


def _rt(request: Request):  # noqa: ANN202
    return request.app.state.runtime.get()


def _sources_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sources in error or with failed items first, then by name (as app.js sorts)."""
    return sorted(
        rows, key=lambda s: (not (s["status"] == "error" or s["items"]["failed"]), s["name"])
    )


def source_rows(rows: list[dict[str, Any]]) -> str:
    out = []
    for s in _sources_order(rows):
        bad = s["status"] == "error" or s["items"]["failed"]
        cells = "".join(
            f"<td class={'num alarm' if k == 'failed' and s['items'][k] else 'num'}>"
            f"{e(s['items'][k])}</td>"
            for k in COUNT_KEYS
        )
        out.append(
            f"<tr{' class=bad' if bad else ''}><td>{e(s['name'])}</td><td>{e(s['backend'])}</td>"
            f"<td{' class=alarm' if s['status'] == 'error' else ''}>{e(s['status'])}</td>"
            f"<td>{e(s['scope'])}</td>{cells}"
            f"<td>{e(s['last_error'])}</td></tr>"
        )
    return "\n".join(out)


def summary(rows: list[dict[str, Any]], store: dict[str, Any] | None = None) -> tuple[str, str]:
    """The Overview's line at a glance, as (css class, text); ``app.js`` words it the same."""
    total = {k: sum(s["items"][k] for s in rows) for k in COUNT_KEYS}
    in_error = sum(s["status"] == "error" for s in rows)
    if in_error or total["failed"]:
        parts = [f"{total['failed']} failed item(s)"] if total["failed"] else []
        parts += [f"{in_error} source(s) in error"] if in_error else []
        return "error", " and ".join(parts) + "."
    if store and not store["reachable"]:
        return "warn", (
            f"The store is unreachable: {store['waiting_items']} item(s) wait for it and "
            "resume by themselves."
        )
    if total["pending"] or total["live"]:
        return "busy", f"Synchronizing: {total['pending']} pending, {total['live']} live."
    for_store = sum(s.get("waiting_for_store", 0) for s in rows)
    if total["waiting"] > for_store:
        return "warn", f"{total['waiting'] - for_store} item(s) waiting for a scope mapping."
    if not rows:
        return "dim", "No source yet: add one with etiket-sync add-source."
    if not total["total"]:
        return "dim", "No item found yet."
    return "ok", f"Everything is synchronized ({total['synchronized']} item(s))."


def overview(request: Request) -> Response:
    data = status(_rt(request))
    loop = data["loop"]
    heads = "".join(f"<th>{k}</th>" for k in COUNT_KEYS)
    store = data["store"]
    css, text = summary(data["sources"], store)
    body = f"""
<p id=summary class={css}><span id=summary-text>{e(text)}</span>
<a href="/problems" id=summary-link{"" if css == "error" else " hidden"}>See Problems</a></p>
<p id=store class=warn{"" if not store["reachable"] else " hidden"}>Store unreachable since
<span id=store-since>{e(store["unreachable_since"] or "")}</span>:
<span id=store-error>{e(store["error"] or "")}</span></p>
<p id=loop data-state="{e(loop["state"])}">
Agent: <strong id=loop-state>{e(loop["state_text"])}</strong>
· heartbeat <span id=loop-heartbeat>{e(loop["last_heartbeat"] or "none")}</span>
· iteration <span id=loop-iteration>{e(loop["iteration"])}</span>
<span id=loop-message>{e(loop["message"])}</span></p>
<table id=sources data-poll="/api/status"><thead><tr><th>source</th><th>backend</th>
<th>status</th><th>scope</th>{heads}<th>last error</th></tr></thead>
<tbody>{source_rows(data["sources"])}</tbody></table>
<p class=dim><span id=updated>Updated every 2 s.</span> Home: {e(data["home"])}</p>"""
    return page(request, "Overview", body)


def problems(request: Request) -> Response:
    rt = _rt(request)
    csrf = e(request.app.state.csrf)
    parts = []
    requeued = request.query_params.get("requeued")
    if requeued is not None and requeued.isdigit():
        parts.append(f"<p class=ok>{e(requeued)} item(s) queued again.</p>")
    rows = sources.list_sources(rt)
    in_error = [s for s in rows if s["status"] == "error"]
    if in_error:
        parts.append("<h2>Sources in error</h2><ul>")
        parts += [
            f"<li><strong>{e(s['name'])}</strong>: {e(s['last_error'])}</li>" for s in in_error
        ]
        parts.append("</ul>")
    any_failed = False
    for s in rows:
        if not s["items"]["failed"]:
            continue
        any_failed = True
        name = s["name"]
        action = f"/api/sources/{quote(name, safe='')}/retry"
        parts.append(
            f"<h2>{e(name)}: {e(s['items']['failed'])} failed</h2>"
            f'<form method=post action="{e(action)}"><input type=hidden name=csrf value="{csrf}">'
            f"<button>Retry all of {e(name)}</button></form>"
            "<table class=problems><thead><tr><th>item</th><th>name</th><th>failures</th>"
            "<th>error</th><th>next retry</th><th></th></tr></thead><tbody>"
        )
        for it in sources.list_items(rt, name, "failed"):
            hint = f"etiket-sync item {name} {it['identifier']}"
            parts.append(
                f"<tr class=failed><td>{e(it['identifier'])}</td><td>{e(it['name'])}</td>"
                f"<td class=num>{e(it['failures'])}</td><td>{e(it['last_error'])}"
                f"<div class=hint>details: <code>{e(hint)}</code></div></td>"
                f"<td>{e(it['next_retry'] or 'not retried by itself')}</td>"
                f'<td><form method=post action="{e(action)}">'
                f'<input type=hidden name=csrf value="{csrf}">'
                f'<input type=hidden name=item value="{e(it["identifier"])}">'
                f'<button aria-label="Retry {e(it["identifier"])}">Retry</button></form></td></tr>'
            )
        parts.append("</tbody></table>")
    if not in_error and not any_failed:
        parts.append("<p class=ok>No problems: no source in error, no failed item.</p>")
    return page(request, "Problems", "\n".join(parts))


def dataset_list(request: Request) -> Response:
    q = request.query_params
    text, tag, scope = q.get("q", ""), q.get("tag", ""), q.get("scope", "")
    attribute, since, until = q.get("attribute", ""), q.get("since", ""), q.get("until", "")
    rt = _rt(request)
    scopes = datasets.list_scopes(rt)
    options = '<option value="">all scopes</option>' + "".join(
        f'<option value="{e(s["name"])}"{" selected" if s["name"] == scope else ""}>'
        f"{e(s['name'])} ({e(s['datasets'])})</option>"
        for s in scopes
    )
    offset = int(q["offset"]) if q.get("offset", "").isdigit() else 0
    source = q.get("source", "")
    rows = datasets.list_datasets(
        rt,
        scope or None,
        source or None,
        limit=PAGE_LIMIT + 1,  # one more: is there a next page?
        offset=offset,
        text=text,
        tag=tag,
        attribute=attribute,
        since=since,
        until=until,
    )
    more = len(rows) > PAGE_LIMIT
    rows = rows[:PAGE_LIMIT]
    pager = ""
    if more or offset:
        keep = {k: v for k, v in q.items() if k != "offset" and v}
        links = []
        if offset:
            prev = urlencode({**keep, "offset": max(offset - PAGE_LIMIT, 0)})
            links.append(f'<a href="/datasets?{e(prev)}" id=newer>newer</a>')
        if more:
            nxt = urlencode({**keep, "offset": offset + PAGE_LIMIT})
            links.append(f'<a href="/datasets?{e(nxt)}" id=older>older</a>')
        pager = f"<p class=pager>{' · '.join(links)}</p>"
    shown = f"{len(rows)} dataset(s)."
    if more or offset:
        shown += f" Showing {offset + 1}–{offset + len(rows)}, newest first."
    lines = "".join(
        f'<tr><td><a href="/datasets/{e(quote(d["uuid"], safe=""))}">{e(d["name"])}</a></td>'
        f"<td><code>{e(d['uuid'][:8])}</code></td><td>{e(d['scope'])}</td>"
        f"<td>{e(d['collected'])}</td><td>{e(d['source'])}</td></tr>"
        for d in rows
    )
    body = f"""
<form method=get action="/datasets" class=search>
<input name=q placeholder="name contains" value="{e(text)}">
<input name=tag placeholder="tag" value="{e(tag)}">
<input name=attribute placeholder="attribute name=value" value="{e(attribute)}">
<label>from <input type=date name=since value="{e(since)}"></label>
<label>to <input type=date name=until value="{e(until)}"></label>
<select name=scope>{options}</select>
<input name=source placeholder="source" value="{e(source)}" size=10> <button>Search</button></form>
<p class=dim>{shown}</p>
<table id=datasets><thead><tr><th>name</th><th>id</th><th>scope</th><th>collected</th>
<th>source</th></tr></thead><tbody>{lines}</tbody></table>{pager}"""
    return page(request, "Datasets", body)


def dataset_page(request: Request) -> Response:
    rt = _rt(request)
    data = datasets.show_dataset(rt, request.path_params["ref"])
    info = rt.store.get_dataset(data["uuid"])
    meta = [
        ("id", data["uuid"]),
        ("alternative id", data["alt_uid"]),
        ("scope", data["scope"]),
        ("source", data["source"]),
        ("collected", data["collected"]),
        ("modified", data["modified"]),
        ("tags", ", ".join(data["tags"])),
        ("ranking", data["ranking"]),
        ("creator", data["creator"]),
        ("description", data["description"]),
    ]
    meta += [(f"attribute {k}", v) for k, v in sorted(data["attributes"].items())]
    dl = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in meta if v not in (None, ""))
    files = []
    for f in info.files:
        href = f"/files/{quote(info.uuid, safe='')}/{quote(f.name, safe='/')}"
        versions = "".join(
            f"<li>v{e(v.version)}: {e(v.size)} bytes, {e(v.status.value)}, "
            f"<code>{e(v.sha256[:12])}</code></li>"
            for v in f.versions
        )
        plot = ""
        if plottable(f.file_type, f.name):
            plot_href = f"/plot/{quote(info.uuid, safe='')}/{quote(f.name, safe='/')}"
            plot = f' · <a href="{e(plot_href)}" class=plot>plot</a>'
        files.append(
            f'<tr><td><a href="{e(href)}" download>{e(f.name)}</a>{plot}</td>'
            f"<td>{e(f.file_type)}</td>"
            f"<td class=num>{e(f.latest.size)}</td><td>{e(f.latest.status.value)}</td>"
            f"<td><ul class=versions>{versions}</ul></td></tr>"
        )
    body = f"""<dl class=meta>{dl}</dl>
<h2>Files</h2>
<table id=files><thead><tr><th>file</th><th>type</th><th>bytes</th><th>status</th>
<th>versions</th></tr></thead><tbody>{"".join(files)}</tbody></table>"""
    return page(request, data["name"] or data["uuid"], body)


#: file types and endings whose files get a "plot" link
PLOTTABLE_TYPES = ("HDF5_NETCDF", "NETCDF")
PLOTTABLE_ENDINGS = (".nc", ".h5", ".hdf5")


def plottable(file_type: str | None, name: str) -> bool:
    return (file_type or "").upper() in PLOTTABLE_TYPES or name.lower().endswith(PLOTTABLE_ENDINGS)


def plot_page(request: Request) -> Response:
    """A variable of a stored NetCDF file drawn by ``static/plot.js`` from /api/plot/."""
    rt = _rt(request)
    uuid, name = request.path_params["uuid"], request.path_params["name"]
    from etiket_sync_agent.web.files import valid_uuid
    from etiket_sync_agent.web.plots import _stored_file

    if not valid_uuid(uuid):
        raise NotFoundError(f"no dataset {uuid!r}")
    _stored_file(rt, uuid, name)  # NotFoundError: 404 page
    info = rt.store.get_dataset(uuid)
    api = f"/api/plot/{quote(uuid, safe='')}/{quote(name, safe='/')}"
    back = f"/datasets/{quote(uuid, safe='')}"
    body = f"""<p><a href="{e(back)}">{e(info.name)}</a> / {e(name)}</p>
<label>Variable <select id=variable></select></label> <span id=plot-note class=dim></span>
<div><canvas id=plot width=800 height=500 data-api="{e(api)}"></canvas></div>
<script src="/static/plot.js"></script>"""
    return page(request, f"Plot of {name}", body)


def login(request: Request, message: str = "", status_code: int = 200) -> Response:
    """The token form; once the token is accepted the browser goes on to ``next``: the
    page that asked for the token (when shown in its place), or ``/login?next=``."""
    if request.url.path == "/login":
        nxt = request.query_params.get("next", "/")
    else:
        nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not nxt.startswith("/") or nxt.startswith("//"):
        nxt = "/"
    body = f"""<p>{e(message)}</p>
<form method=post action="/login?{e(urlencode({"next": nxt}))}">
<label>Access token <input type=password name=token autocomplete=current-password></label>
<button>Open</button></form>
<p class=dim>The token is in the file <code>web-token</code> of the agent's home (or the
file given to <code>serve --token-file</code>).</p>"""
    return page(request, "Access token needed", body, status_code)


def error_page(request: Request, message: str, hint: str | None, status_code: int) -> Response:
    body = f"<p class=error>{e(message)}</p>" + (f"<p class=hint>{e(hint)}</p>" if hint else "")
    return page(request, "Problem", body, status_code)
