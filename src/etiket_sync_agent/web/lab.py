"""The lab's dataset browser: ``serve`` where no agent runs, next to a shared store.

Read-only: the pages read the shared catalog (datasets, files, plots, the heartbeats the
agents publish into it, see :mod:`etiket_sync_agent.services.agents`) and never this
home's state database; nothing here writes. What only an agent knows — each failed item
with its error, the retry — is on that agent's own page, and the pages say so.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from etiket_sync_agent.errors import NotFoundError
from etiket_sync_agent.services.agents import list_agents
from etiket_sync_agent.services.datasets import list_scopes
from etiket_sync_agent.web import pages
from etiket_sync_agent.web.pages import e

COUNT_KEYS = ("total", "pending", "live", "synchronized", "failed")
AGENT_ONLY = (
    "this is a lab's dataset browser (serve --lab): no agent runs here, so it has no "
    "sources, items or agent status"
)
AGENT_ONLY_HINT = "open the agent's own page (etiket-sync serve on its PC), or see /api/agents"


def _rt(request: Request):  # noqa: ANN202
    return request.app.state.runtime.get()


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


def _totals(agent: dict[str, Any]) -> dict[str, int]:
    out = dict.fromkeys(COUNT_KEYS, 0)
    for s in agent["sources"]:
        for k in COUNT_KEYS:
            out[k] += int((s.get("items") or {}).get(k) or 0)
    return out


def _agent_rows(agents: list[dict[str, Any]]) -> str:
    rows = []
    for a in agents:
        t = _totals(a)
        bad = a["silent"] or t["failed"] or any(s["status"] == "error" for s in a["sources"])
        where = f"{a['host']}:{a['home']}"
        state = "silent" if a["silent"] else a["state"]
        cells = "".join(f"<td class=num>{e(t[k])}</td>" for k in COUNT_KEYS)
        sources = ", ".join(
            f"{s['name']} ({s['status']}, {(s.get('items') or {}).get('synchronized', 0)} synced)"
            for s in a["sources"]
        )
        rows.append(
            f'<tr{" class=bad" if bad else ""} data-agent="{e(a["agent_id"])}">'
            f"<td>{e(where)}</td><td>{e(state)}</td>"
            f'<td title="{e(a["heartbeat"])}">{e(_age(a["age_s"]))}</td>{cells}'
            f"<td>{e(sources)}</td><td>{e(a['version'])}</td></tr>"
        )
    return "\n".join(rows)


def overview(request: Request) -> Response:
    rt = _rt(request)
    agents = list_agents(rt)
    scopes = list_scopes(rt)
    n_datasets = sum(s["datasets"] for s in scopes)
    silent = sum(1 for a in agents if a["silent"])
    if not agents:
        line = "<p id=summary class=dim>No agent has reported into this store yet.</p>"
    elif silent:
        line = f"<p id=summary class=warn>{silent} of {len(agents)} agent(s) silent.</p>"
    else:
        line = f"<p id=summary class=ok>{len(agents)} agent(s) reporting.</p>"
    heads = "".join(f"<th>{k}</th>" for k in COUNT_KEYS)
    scope_list = ", ".join(f"{s['name']} ({s['datasets']})" for s in scopes)
    body = f"""{line}
<p class=dim>Lab dataset browser, read-only: the shared store's datasets and the heartbeats
its agents publish. Each agent's own page shows its items and errors.</p>
<table id=agents data-poll="/api/agents"><thead><tr><th>agent (host:home)</th><th>state</th>
<th>heartbeat</th>{heads}<th>sources</th><th>version</th></tr></thead>
<tbody>{_agent_rows(agents)}</tbody></table>
<h2>Store</h2>
<p id=store>{e(n_datasets)} dataset(s) in {e(len(scopes))} scope(s): {e(scope_list)}.
<a href="/datasets">Browse datasets</a></p>
<p class=dim>Catalog: {e(getattr(rt.store, "catalog", ""))}. Updated every 5 s.</p>
<script src="/static/lab.js"></script>"""
    return pages.page(request, "Lab overview", body)


def problems(request: Request) -> Response:
    agents = list_agents(_rt(request))
    parts = [
        "<p id=lab-note class=warn>This lab browser cannot list every failed item or "
        "retry them: they are on each agent's own page (<code>etiket-sync serve</code> on "
        "its PC, or <code>etiket-sync status</code> there). Below is what the agents' "
        "heartbeats tell (with at most five failed items per source).</p>"
    ]
    silent = [a for a in agents if a["silent"]]
    if silent:
        parts.append("<h2>Silent agents</h2><ul>")
        parts += [
            f"<li><strong>{e(a['host'])}:{e(a['home'])}</strong>: last heartbeat "
            f"{e(_age(a['age_s']))} ({e(a['heartbeat'])})</li>"
            for a in silent
        ]
        parts.append("</ul>")
    bad = [
        (a, s)
        for a in agents
        for s in a["sources"]
        if s["status"] == "error" or (s.get("items") or {}).get("failed")
    ]
    if bad:
        parts.append(
            "<h2>Sources with problems</h2><table class=problems><thead><tr><th>agent</th>"
            "<th>source</th><th>status</th><th>failed items</th><th>errors (as of the "
            "agent's last heartbeat)</th></tr>"
            "</thead><tbody>"
        )
        parts += [
            f"<tr class=failed><td>{e(a['host'])}:{e(a['home'])}</td><td>{e(s['name'])}</td>"
            f"<td>{e(s['status'])}</td><td class=num>{e((s.get('items') or {}).get('failed'))}"
            f"</td><td>{e(s.get('last_error'))}{_examples(s)}</td></tr>"
            for a, s in bad
        ]
        parts.append("</tbody></table>")
    if not silent and not bad:
        parts.append(
            "<p class=ok>No problem reported: every agent's heartbeat is recent and no "
            "source reports an error or failed items.</p>"
        )
    return pages.page(request, "Problems", "\n".join(parts))


def _examples(source: dict[str, Any]) -> str:
    """The few failed items the agent published with its heartbeat."""
    items = source.get("failed_items") or []
    if not items:
        return ""
    lines = "".join(
        f"<li><code>{e(i['identifier'])}</code>: {e(i['last_error'])}</li>" for i in items
    )
    more = (source.get("items") or {}).get("failed", 0) - len(items)
    tail = f"<li class=dim>and {e(more)} more</li>" if more > 0 else ""
    return f"<ul class=examples>{lines}{tail}</ul>"


def agent_only(request: Request) -> Response:
    """What ``/api/status``, ``/api/sources...`` answer here: a clear 404."""
    raise NotFoundError(AGENT_ONLY, hint=AGENT_ONLY_HINT)
