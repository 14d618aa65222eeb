"""Serving the application with uvicorn: the token decision, the bound socket, a thread.

The socket is bound here (not by uvicorn) so that a busy port is a one-line
ConfigError and port 0 gives a free port whose number the caller can read.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from etiket_sync_agent.errors import ConfigError
from etiket_sync_agent.home import Home
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.web.security import TOKEN_FILE_NAME, home_token, is_local, read_token_file

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def is_lab(home: Home, asked: bool) -> bool:
    """Whether to serve the lab's read-only dataset browser: when asked (``--lab``), or
    when this home has no agent state (no state database: no agent was ever set up here)
    and its store is a shared one (a catalog database configured, as on a server next to
    the lab's shared store)."""
    if asked:
        return True
    if home.state_db.exists():
        return False
    from etiket_sync_agent.store.config import effective

    config, _ = effective(home)
    return bool(config.catalog_url)


@dataclass(frozen=True)
class TokenChoice:
    token: str | None
    path: Path | None
    created: bool = False


def choose_token(
    host: str, data_dir: Path, token_file: Path | None, create: bool = False
) -> TokenChoice:
    """The token the server requires.

    ``--token-file`` always wins. A loopback bind needs none. Any other bind uses the
    home's token file (``create`` makes one, mode 0600); without one it refuses to start.
    """
    if token_file is not None:
        return TokenChoice(read_token_file(token_file), token_file)
    if is_local(host):
        return TokenChoice(None, None)
    path = data_dir / TOKEN_FILE_NAME
    if not path.exists() and not create:
        raise ConfigError(
            f"serving on {host} (not only this computer) needs an access token",
            hint="add --create-token to make one (kept in the home, shown once), or give "
            "--token-file FILE",
        )
    token, path, created = home_token(data_dir)
    return TokenChoice(token, path, created)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot serve on {host}:{port}: {exc.strerror or exc}",
            hint="choose another --port, or stop what is using it",
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def make_server(  # noqa: ANN201
    runtime_factory: Callable[[], Runtime], token: str | None, lab: bool = False
):
    import uvicorn

    from etiket_sync_agent.web.app import create_app

    config = uvicorn.Config(
        create_app(runtime_factory, token=token, lab=lab),
        log_level="warning",
        access_log=False,
        lifespan="on",
        server_header=False,
    )
    return uvicorn.Server(config)


@dataclass
class RunningServer:
    """A server running in a daemon thread (tests, and ``run`` serving the page later)."""

    server: object
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True  # type: ignore[attr-defined]
        self.thread.join(30)


def start_in_thread(
    runtime_factory: Callable[[], Runtime],
    host: str = DEFAULT_HOST,
    port: int = 0,
    token: str | None = None,
    lab: bool = False,
) -> RunningServer:
    """Bind, start serving in a thread, return once the server accepts requests."""
    sock = bind(host, port)
    server = make_server(runtime_factory, token, lab)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="web", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        raise ConfigError(f"the web server on {host}:{sock.getsockname()[1]} did not start")
    return RunningServer(server, thread, host, sock.getsockname()[1])
