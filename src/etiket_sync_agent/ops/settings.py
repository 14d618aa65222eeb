"""Agent settings kept in the home: ``<home>/agent.json`` (no secrets in it).

One setting so far, ``metrics``: the HOST:PORT ``etiket-sync run`` serves Prometheus
metrics on when no ``--metrics`` is given (``etiket-sync config metrics ADDR``). Edits are
atomic, so a starting agent never reads half a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from etiket_sync_agent.home import Home
from etiket_sync_agent.ops import jsonfile

FILE = "agent.json"
#: what ``--metrics`` / ``config metrics`` take to mean "no metrics endpoint"
OFF = ("off", "none", "no", "")


def _path(home: Home) -> Path:
    return home.data_dir / FILE


def load(home: Home) -> dict[str, Any]:
    """The saved settings (empty when none were saved)."""
    return jsonfile.load(_path(home))


def _save(home: Home, data: dict[str, Any]) -> None:
    jsonfile.save(_path(home), data, 0o644)


def normalize_metrics(value: str) -> str | None:
    """``HOST:PORT`` as the endpoint will bind it, or None for ``off``; ConfigError for
    an invalid address."""
    if value.strip().lower() in OFF:
        return None
    from etiket_sync_agent.ops.addresses import parse_address

    host, port = parse_address(value)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def set_metrics(home: Home, value: str) -> str | None:
    """Save the metrics address (``off`` removes it); returns what is saved now."""
    address = normalize_metrics(value)
    data = load(home)
    if address is None:
        data.pop("metrics", None)
    else:
        data["metrics"] = address
    _save(home, data)
    return address


def metrics_address(home: Home, given: str | None) -> str | None:
    """What ``run`` serves metrics on: ``--metrics`` when given (``off``: nothing), else
    the saved setting."""
    if given is not None:
        return normalize_metrics(given)
    saved = load(home).get("metrics")
    return normalize_metrics(saved) if isinstance(saved, str) else None
