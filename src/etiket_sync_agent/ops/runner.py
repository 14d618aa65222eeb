"""What ``etiket-sync run`` starts beside the sync loop: the metrics endpoint, the alert
notifier and (``--web``) the web page, each in background threads, each reading the
state DB through the same service functions as ``status``. None can stop or slow the
loop: they only read, and their failures are logged.

Usage (``cli/app.py``'s ``run``)::

    ops = start_ops(rt, metrics="127.0.0.1:9464")   # metrics=None: no endpoint
    try:
        sync_loop(...)
    finally:
        ops.stop()
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from etiket_sync_agent.runtime import Runtime

logger = logging.getLogger(__name__)


@dataclass
class OpsHandle:
    """The running operations; :meth:`stop` ends them (idempotent)."""

    parts: list[Any] = field(default_factory=list)

    @property
    def metrics_url(self) -> str | None:
        return next((p.url for p in self.parts if type(p).__name__ == "MetricsServer"), None)

    @property
    def web(self) -> WebPage | None:
        return next((p for p in self.parts if isinstance(p, WebPage)), None)

    def stop(self) -> None:
        while self.parts:
            part = self.parts.pop()
            try:
                part.stop()
            except Exception:  # noqa: BLE001 - stopping must finish
                logger.exception("stopping %s", type(part).__name__)


@dataclass
class WebPage:
    """The web page served beside the loop, over a runtime of its own."""

    server: Any  # web.server.RunningServer
    runtime: Runtime
    #: the token file whose token the page asks for (None: loopback, no token)
    token_path: Any = None
    token_created: str | None = None  # a new token, to show once

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        try:
            self.server.stop()
        finally:
            self.runtime.close()


#: where ``run --web`` serves when given no address
WEB_DEFAULT = "127.0.0.1:8765"


def start_web(
    rt: Runtime, address: str, token_file: Any = None, create_token: bool = False
) -> WebPage:
    """Serve the web page of ``rt``'s home on ``address`` in a thread, with the token
    rules of ``etiket-sync serve``: a non-loopback address needs a token (``token_file``,
    or the home's, made when ``create_token``). ConfigError before anything runs."""
    from etiket_sync_agent.ops.addresses import parse_address
    from etiket_sync_agent.web.server import choose_token, start_in_thread

    host, port = parse_address(address, "web", WEB_DEFAULT)
    choice = choose_token(host, rt.home.data_dir, token_file, create_token)
    web_rt = Runtime(rt.home)
    try:
        server = start_in_thread(lambda: web_rt, host, port, choice.token)
    except BaseException:
        web_rt.close()
        raise
    return WebPage(server, web_rt, choice.path, choice.token if choice.created else None)


def start_ops(
    rt: Runtime,
    *,
    metrics: str | None = None,
    alerts: bool = True,
    web: str | None = None,
    token_file: Any = None,
    create_token: bool = False,
) -> OpsHandle:
    """Start the metrics endpoint (when ``metrics`` is an address), the web page (when
    ``web`` is one, see :func:`start_web`) and, when the home has alert targets and
    ``alerts`` is true, the alert notifier. ConfigError for a bad or taken address or a
    missing token (before anything runs)."""
    handle = OpsHandle()
    if metrics:
        from etiket_sync_agent.ops.metrics import serve_metrics

        handle.parts.append(serve_metrics(rt, metrics))
    if web:
        try:
            handle.parts.append(start_web(rt, web, token_file, create_token))
        except BaseException:
            handle.stop()
            raise
    if alerts:
        try:
            from etiket_sync_agent.ops.alerts.notifier import start_notifier

            notifier = start_notifier(rt)
        except Exception:  # noqa: BLE001 - alerts never keep the agent from syncing
            logger.exception("the alert notifier could not start")
            notifier = None
        if notifier is not None:
            handle.parts.append(notifier)
    return handle
