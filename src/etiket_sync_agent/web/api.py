"""``/api/``: the services' dicts as JSON, the same data ``etiket-sync ... --json`` prints.

| route                                    | CLI                                  |
|------------------------------------------|--------------------------------------|
| GET  /api/status                         | status --json                        |
| GET  /api/sources                        | sources list --json                  |
| GET  /api/sources/{source}               | sources show SOURCE --json           |
| GET  /api/sources/{source}/items         | items SOURCE [--status S] --json     |
| GET  /api/sources/{source}/items/{ref}   | item SOURCE REF --json               |
| POST /api/sources/{source}/retry         | retry SOURCE [REF...]                |
| GET  /api/scopes                         | scopes list --json                   |
| GET  /api/datasets                       | datasets list [--scope/--source] --json |
| GET  /api/datasets/{ref}                 | datasets show REF --json             |
| GET  /api/agents                         | (the agents reporting into the store) |

``/api/datasets`` takes the filters of ``datasets list`` (``q`` is ``--text``, ``tag``,
``attribute`` ``name=value``, ``since``/``until`` dates, ``scope``, ``source``, ``limit``)
and ``offset``; the store runs them in its SQL.

Errors are the object ``--json`` commands print on stderr (``error``, ``hint``,
``exit_code``, ``type``) with an HTTP status: 404 not found, 400 bad input, 500 else.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from etiket_sync_agent.errors import ConfigError, EtiketSyncError, NotFoundError
from etiket_sync_agent.services import datasets, sources
from etiket_sync_agent.services.status import status
from etiket_sync_agent.web.security import same_origin


class JSON(JSONResponse):
    """JSON as ``render.print_json`` writes it (``default=str``), so both parse equal."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=str).encode("utf-8")


class CrossSiteError(EtiketSyncError):
    """A state-changing request that did not come from this server's page (HTTP 403)."""

    exit_code = 2


def error_status(exc: EtiketSyncError) -> int:
    if isinstance(exc, CrossSiteError):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConfigError):
        return 400
    return 500


def error_json(exc: EtiketSyncError) -> JSON:
    body = {
        "error": " ".join(exc.message.split()),
        "hint": exc.hint,
        "exit_code": exc.exit_code,
        "type": type(exc).__name__,
    }
    return JSON(body, status_code=error_status(exc))


def _rt(request: Request):  # noqa: ANN202
    return request.app.state.runtime.get()


def _int(request: Request, name: str, minimum: int = 1) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        n = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from None
    if n < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return n


def get_status(request: Request) -> Response:
    return JSON(status(_rt(request)))


def get_sources(request: Request) -> Response:
    return JSON(sources.list_sources(_rt(request)))


def get_source(request: Request) -> Response:
    return JSON(sources.show_source(_rt(request), request.path_params["source"]))


def get_items(request: Request) -> Response:
    q = request.query_params
    rows = sources.list_items(
        _rt(request), request.path_params["source"], q.get("status") or None, _int(request, "limit")
    )
    return JSON(rows)


def get_item(request: Request) -> Response:
    p = request.path_params
    return JSON(sources.show_item(_rt(request), p["source"], p["ref"]))


async def post_retry(request: Request) -> Response:
    """Queue failed items again (all, or the ``item`` fields given). A form post from the
    page is answered with a redirect back to the Problems page; others get JSON."""
    form = await read_form(request)
    check_csrf(request, form)
    name = request.path_params["source"]
    refs = [r for r in form.get("item", []) if r.strip()]
    from starlette.concurrency import run_in_threadpool

    n = await run_in_threadpool(sources.retry, _rt(request), name, refs or None)
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return RedirectResponse(f"/problems?requeued={n}", status_code=303)
    return JSON({"source": name, "requeued": n})


async def read_form(request: Request) -> dict[str, list[str]]:
    """The url-encoded body (or JSON object of strings/lists) as lists of values."""
    from urllib.parse import parse_qs

    body = (await request.body())[:65536]
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json"):
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise ConfigError("the request body is not JSON") from None
        if not isinstance(data, dict):
            raise ConfigError("the request body must be a JSON object")
        return {k: v if isinstance(v, list) else [v] for k, v in data.items()}
    return parse_qs(body.decode("utf-8", "replace"))


def check_csrf(request: Request, form: dict[str, list[str]]) -> None:
    from etiket_sync_agent.web.security import token_matches

    ok_origin = same_origin(
        request.headers.get("origin"),
        request.headers.get("referer"),
        request.url.scheme,
        request.headers.get("host"),
    )
    given = request.headers.get("x-csrf-token") or (form.get("csrf") or [None])[0]
    if not (ok_origin and token_matches(request.app.state.csrf, given)):
        raise CrossSiteError(
            "refused: the request did not come from this page",
            hint="use the Retry button of the Problems page",
        )


def get_scopes(request: Request) -> Response:
    return JSON(datasets.list_scopes(_rt(request)))


def get_datasets(request: Request) -> Response:
    """``datasets list --json`` with its filters (``q`` is ``--text``), and ``offset``."""
    q = request.query_params
    rows = datasets.list_datasets(
        _rt(request),
        q.get("scope") or None,
        q.get("source") or None,
        _int(request, "limit"),
        offset=(_int(request, "offset", minimum=0) or 0),
        text=q.get("q"),
        tag=q.get("tag"),
        attribute=q.get("attribute"),
        since=q.get("since"),
        until=q.get("until"),
    )
    return JSON(rows)


def get_dataset(request: Request) -> Response:
    return JSON(datasets.show_dataset(_rt(request), request.path_params["ref"]))


def get_plot(request: Request) -> Response:
    """Plot data of a stored NetCDF file (no CLI twin): see :func:`plots.plot_data`."""
    from etiket_sync_agent.web.files import valid_uuid
    from etiket_sync_agent.web.plots import plot_data

    p = request.path_params
    if not valid_uuid(p["uuid"]):
        raise NotFoundError(f"no dataset {p['uuid']!r}")
    data = plot_data(_rt(request), p["uuid"], p["name"], request.query_params.get("var") or None)
    return JSON(data)


def get_agents(request: Request) -> Response:
    """The agents reporting into the store (no CLI twin): see ``services.agents``."""
    from etiket_sync_agent.services.agents import list_agents

    return JSON(list_agents(_rt(request)))


def routes(lab: bool = False) -> list[Route]:
    """The API; ``lab`` (a lab's read-only browser, no agent here): the agent's own routes
    answer 404 with an explanation, and there is no retry (nothing is written)."""
    if lab:
        from etiket_sync_agent.web.lab import agent_only

        agent = [
            Route(path, agent_only)
            for path in ("/api/status", "/api/sources", "/api/sources/{rest:path}")
        ]
    else:
        agent = [
            Route("/api/status", get_status),
            Route("/api/sources", get_sources),
            Route("/api/sources/{source}", get_source),
            Route("/api/sources/{source}/items", get_items),
            Route("/api/sources/{source}/items/{ref:path}", get_item),
            Route("/api/sources/{source}/retry", post_retry, methods=["POST"]),
        ]
    return [
        *agent,
        Route("/api/agents", get_agents),
        Route("/api/scopes", get_scopes),
        Route("/api/datasets", get_datasets),
        Route("/api/datasets/{ref:path}", get_dataset),
        Route("/api/plot/{uuid}/{name:path}", get_plot),
    ]
