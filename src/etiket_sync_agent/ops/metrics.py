"""Prometheus metrics and ``/healthz`` over HTTP (``etiket-sync run --metrics``).

Every scrape reads a fresh :func:`~etiket_sync_agent.ops.snapshot.snapshot` — the same
service functions as ``etiket-sync status`` — so the numbers always match it. Names follow
Prometheus conventions: base units (seconds, bytes), ``_total`` for counters, few labels
(``source``, ``state``), one registry of our own.

``/healthz`` is liveness only, no auth: 200 with ``{"status": "ok", ...}`` while the loop
has a fresh heartbeat, 503 otherwise. Bound to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from etiket_sync_agent.errors import ConfigError, error_line
from etiket_sync_agent.ops.addresses import DEFAULT_HOST, parse_address
from etiket_sync_agent.ops.snapshot import snapshot
from etiket_sync_agent.runtime import Runtime

logger = logging.getLogger(__name__)

DEFAULT_PORT = 9464
PREFIX = "etiket_sync_"
#: the item states counted per source (the keys of ``status``'s ``items``)
ITEM_STATES = ("pending", "live", "synchronized", "failed", "waiting")


def _ts(value: Any) -> float | None:
    return None if value is None else value.timestamp()


class SnapshotCollector(Collector):
    """Turns one snapshot per scrape into metric families."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        try:
            snap = snapshot(self.rt)
        except Exception as exc:  # noqa: BLE001 - a scrape must answer
            logger.warning("metrics: cannot read the state: %s", error_line(exc))
            up = GaugeMetricFamily(PREFIX + "state_up", "1 if the state database can be read")
            up.add_metric([], 0)
            yield up
            return
        yield from families(snap)


def families(snap: dict[str, Any]) -> Iterable[Metric]:
    """The metric families of one snapshot."""
    g, c = GaugeMetricFamily, CounterMetricFamily
    state_up = g(PREFIX + "state_up", "1 if the state database can be read")
    state_up.add_metric([], 1)
    items = g(PREFIX + "items", "Items (datasets) by source and state", labels=["source", "state"])
    gave_up = g(
        PREFIX + "items_failed_permanently",
        "Failed items that will not be retried",
        labels=["source"],
    )
    errors = c(PREFIX + "errors", "Errors recorded for items and sources", labels=["source"])
    src_error = g(PREFIX + "source_error", "1 if the source is in error", labels=["source"])
    paused = g(PREFIX + "source_paused", "1 if the source is paused", labels=["source"])
    oldest = g(
        PREFIX + "oldest_pending_age_seconds",
        "Age of the oldest item waiting to be synchronized (0: none waits)",
        labels=["source"],
    )
    last_ok = g(
        PREFIX + "last_success_timestamp_seconds",
        "When an item of the source was last synchronized (Unix time)",
        labels=["source"],
    )
    now = snap["taken"].timestamp()
    live_total = 0
    for s in snap["sources"]:
        name = s["name"]
        for state in ITEM_STATES:
            items.add_metric([name, state], s["items"][state])
        live_total += s["items"]["live"]
        gave_up.add_metric([name], s["failed_for_good"])
        errors.add_metric([name], s["errors"])
        src_error.add_metric([name], 1 if s["status"] == "error" else 0)
        paused.add_metric([name], 1 if s["status"] == "paused" else 0)
        pending_since = _ts(s["oldest_pending"])
        oldest.add_metric([name], 0 if pending_since is None else max(0.0, now - pending_since))
        if s["last_success"] is not None:
            last_ok.add_metric([name], _ts(s["last_success"]))
    live = g(PREFIX + "live_datasets", "Datasets being measured and synchronized live")
    live.add_metric([], live_total)
    yield from (state_up, items, gave_up, errors, src_error, paused, oldest, last_ok, live)

    loop = snap["loop"]
    up = g(PREFIX + "loop_up", "1 if the sync loop runs with a fresh heartbeat")
    up.add_metric([], 1 if loop["state"] == "running" else 0)
    yield up
    if loop["last_heartbeat"]:
        from datetime import datetime

        beat = g(
            PREFIX + "loop_heartbeat_timestamp_seconds", "Last heartbeat of the loop (Unix time)"
        )
        beat.add_metric([], datetime.fromisoformat(loop["last_heartbeat"]).timestamp())
        yield beat
    iteration = g(PREFIX + "loop_iteration", "Iterations of the loop since it started")
    iteration.add_metric([], loop["iteration"] or 0)
    yield iteration

    store = snap["store"] or {}
    store_up = g(PREFIX + "store_up", "1 if the dataset store answers")
    store_up.add_metric([], 1 if store.get("up") else 0)
    yield store_up
    for key, help_ in (
        ("datasets", "Datasets in the store"),
        ("files", "Files in the store"),
        ("bytes", "Bytes stored (each distinct content once)"),
    ):
        if key in store:
            fam = g(PREFIX + f"store_{key}", help_)
            fam.add_metric([], store[key])
            yield fam
    for where, key in (("home", "disk"), ("spool", "spool_disk")):
        disk = snap[key]
        free = g(PREFIX + f"{where}_disk_free_bytes", f"Free bytes on the disk holding the {where}")
        free.add_metric([], disk["free"])
        size = g(PREFIX + f"{where}_disk_size_bytes", f"Size of the disk holding the {where}")
        size.add_metric([], disk["total"])
        yield from (free, size)


def health(rt: Runtime) -> tuple[bool, dict[str, Any]]:
    """(alive, body) for ``/healthz``: alive while the loop's heartbeat is fresh."""
    from etiket_sync_agent.services.status import loop_state

    try:
        loop = loop_state(rt)
    except Exception as exc:  # noqa: BLE001
        return False, {"status": "error", "error": error_line(exc)}
    ok = loop["state"] == "running"
    return ok, {
        "status": "ok" if ok else loop["state"],
        "loop": loop["state_text"],
        "last_heartbeat": loop["last_heartbeat"],
    }


def make_app(rt: Runtime) -> Callable[..., Iterable[bytes]]:
    """The WSGI app: ``/metrics`` (and ``/``) and ``/healthz``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(rt))
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            ok, body = health(rt)
            data = json.dumps(body).encode()
            start_response(
                "200 OK" if ok else "503 Service Unavailable",
                [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
            )
            return [data]
        if path in ("/", "/metrics"):
            return metrics_app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics or /healthz\n"]

    return app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug("metrics: " + format, *args)


@dataclass
class MetricsServer:
    """A running metrics endpoint; :meth:`stop` closes it."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host if ':' not in host else f'[{host}]'}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def serve_metrics(rt: Runtime, address: str = f"{DEFAULT_HOST}:{DEFAULT_PORT}") -> MetricsServer:
    """Serve ``/metrics`` and ``/healthz`` for ``rt``'s home in a background thread.

    ConfigError (one line) if the address is invalid or taken.
    """
    host, port = parse_address(address)
    server_class: type[WSGIServer] = _Server
    if ":" in host:
        import socket

        server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
    try:
        server = make_server(
            host, port, make_app(rt), server_class=server_class, handler_class=_QuietHandler
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}",
            hint="choose another --metrics HOST:PORT",
        ) from None
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    logger.info("metrics on http://%s:%s/metrics", host, server.server_address[1])
    return MetricsServer(server, thread)
