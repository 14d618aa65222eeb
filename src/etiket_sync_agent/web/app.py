"""The web application: :func:`create_app` wires routes, the token check, error pages.

Routes run synchronous service calls in Starlette's thread pool; one Runtime (state DB,
store) serves them all.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from etiket_sync_agent.errors import EtiketSyncError
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.web import api, files, pages
from etiket_sync_agent.web import lab as lab_pages
from etiket_sync_agent.web.runtime_holder import RuntimeHolder
from etiket_sync_agent.web.security import COOKIE, bearer, is_local, token_matches

STATIC = Path(__file__).with_name("static")
#: reachable without the token: the login form and the page's own JS/CSS
OPEN_PATHS = ("/login", "/static/")
#: no inline script, nothing fetched from elsewhere, never framed by another site
HEADERS = [
    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
]


class TokenGate:
    """ASGI middleware: with a token set, every request but :data:`OPEN_PATHS` needs it
    (cookie or bearer), else 401. Also adds :data:`HEADERS` to every response."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + HEADERS
            await send(message)

        path = scope["path"]
        if not self.token and not local_host_header(Request(scope).headers.get("host")):
            # without a token only this computer may be served: a page of another site
            # whose name was re-pointed to 127.0.0.1 (DNS rebinding) is refused here
            response = PlainTextResponse("refused: unknown host name", status_code=403)
            await response(scope, receive, send_with_headers)
            return
        if self.token and not path.startswith(OPEN_PATHS):
            request = Request(scope)
            given = bearer(request.headers.get("authorization")) or request.cookies.get(COOKIE)
            if not token_matches(self.token, given):
                response = unauthorized(request)
                await response(scope, receive, send_with_headers)
                return
        await self.app(scope, receive, send_with_headers)


def local_host_header(host: str | None) -> bool:
    """Whether a Host header names this computer by a loopback name or address."""
    if not host:
        return False
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return is_local(name.strip("[]").lower())


def unauthorized(request: Request) -> Response:
    if request.url.path.startswith(("/api/", "/files/")):
        return JSONResponse(
            {"error": "access token needed", "hint": "send Authorization: Bearer TOKEN",
             "exit_code": 2, "type": "Unauthorized"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
    return pages.login(request, "This page needs the access token.", 401)


def create_app(
    runtime_factory: Callable[[], Runtime], *, token: str | None = None, lab: bool = False
) -> Starlette:
    """The application over the Runtime ``runtime_factory`` makes (on first request).

    ``token``: when given, every request must carry it (see :class:`TokenGate`).
    ``lab``: the lab's read-only dataset browser (:mod:`.lab`): no agent runs in this
    home, the overview and problems come from the shared catalog, nothing is written.
    """
    holder = RuntimeHolder(runtime_factory)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        holder.close()  # the state DB and the store, when the server stops

    async def login_post(request: Request) -> Response:
        form = await api.read_form(request)
        given = (form.get("token") or [""])[0].strip()
        if not token or not token_matches(token, given):
            return pages.login(request, "That is not the access token.", 401)
        nxt = request.query_params.get("next", "/")
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/"
        response = RedirectResponse(nxt, status_code=303)
        response.set_cookie(COOKIE, given, httponly=True, samesite="strict")
        return response

    def handle_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, EtiketSyncError)
        if request.url.path.startswith("/api/"):
            return api.error_json(exc)
        return pages.error_page(request, exc.message, exc.hint, api.error_status(exc))

    def not_found(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 404)
        return PlainTextResponse("not found" if code == 404 else "refused", status_code=code)

    routes = [
        Route("/", lab_pages.overview if lab else pages.overview),
        Route("/problems", lab_pages.problems if lab else pages.problems),
        Route("/datasets", pages.dataset_list),
        Route("/datasets/{ref:path}", pages.dataset_page),
        Route("/files/{uuid}/{name:path}", files.download),
        Route("/plot/{uuid}/{name:path}", pages.plot_page),
        Route("/login", pages.login, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        *api.routes(lab=lab),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(TokenGate, token=token)],
        exception_handlers={EtiketSyncError: handle_error, 404: not_found, 405: not_found},
        lifespan=lifespan,
    )
    app.state.runtime = holder
    app.state.lab = lab
    app.state.csrf = secrets.token_urlsafe(32)
    return app
