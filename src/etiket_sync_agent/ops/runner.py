"""What ``etiket-sync run`` starts beside the sync loop: the metrics endpoint and the
alert notifier, each in background threads, each reading the state DB through the same
service functions as ``status``. Neither can stop or slow the loop: they only read, and
their failures are logged.

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
        for p in self.parts:
            if hasattr(p, "url"):
                return p.url
        return None

    def stop(self) -> None:
        while self.parts:
            part = self.parts.pop()
            try:
                part.stop()
            except Exception:  # noqa: BLE001 - stopping must finish
                logger.exception("stopping %s", type(part).__name__)


def start_ops(rt: Runtime, *, metrics: str | None = None, alerts: bool = True) -> OpsHandle:
    """Start the metrics endpoint (when ``metrics`` is an address) and, when the home has
    alert targets and ``alerts`` is true, the alert notifier. ConfigError for a bad or
    taken metrics address (before anything runs)."""
    handle = OpsHandle()
    if metrics:
        from etiket_sync_agent.ops.metrics import serve_metrics

        handle.parts.append(serve_metrics(rt, metrics))
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
