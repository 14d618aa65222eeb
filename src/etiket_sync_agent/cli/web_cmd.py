"""``etiket-sync serve``: the web page over the same services as the CLI.

Registered in ``cli/app.py`` with::

    from etiket_sync_agent.cli.web_cmd import register as _register_web
    _register_web(app)

Starlette and uvicorn are imported only when the command runs (``--help`` stays fast).
"""

from __future__ import annotations

from pathlib import Path

import typer

from etiket_sync_agent.cli import render


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to listen on (any but a loopback address needs a token).",
        metavar="HOST",
    ),
    port: int = typer.Option(
        8765,
        "--port",
        min=0,
        max=65535,
        help="Port to listen on (0: any free one).",
        metavar="PORT",
    ),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="File whose first line is the access token.", metavar="FILE"
    ),
    create_token: bool = typer.Option(
        False, "--create-token", help="Make the home's access token if there is none (shown once)."
    ),
    lab: bool = typer.Option(
        False,
        "--lab",
        help="The lab's read-only dataset browser over the configured (shared) store: "
        "every agent's datasets and heartbeats (automatic in a home without agent state).",
    ),
) -> None:
    """Serve the web page: overview, problems, datasets, file downloads, and /api/."""
    from etiket_sync_agent.cli.app import _runtime
    from etiket_sync_agent.web.server import bind, choose_token, is_lab, make_server

    rt = _runtime()
    lab = is_lab(rt.home, lab)
    if lab:
        rt.store  # noqa: B018 - an unreachable store is a one-line error now, not per page
    choice = choose_token(host, rt.home.data_dir, token_file, create_token)
    sock = bind(host, port)
    if choice.created:
        render.console.print(
            f"Access token (shown once, kept in {choice.path} with mode 0600): {choice.token}",
            highlight=False,
            soft_wrap=True,
        )
    elif choice.path is not None:
        render.console.print(f"Access token: the one in {choice.path}.", highlight=False)
    shown = f"[{host}]" if ":" in host else host
    if lab:
        render.console.print(
            f"Lab dataset browser (read-only) over the store {rt.store.catalog}.",
            highlight=False,
            soft_wrap=True,
        )
    render.console.print(
        f"Serving on http://{shown}:{sock.getsockname()[1]}/ (Ctrl-C stops).", highlight=False
    )
    make_server(lambda: rt, choice.token, lab).run(sockets=[sock])
