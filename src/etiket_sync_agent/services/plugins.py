"""Installed backends and converters, with their distributions and load errors."""

from __future__ import annotations

from typing import Any

from etiket_sync_agent.plugins.config import describe_fields
from etiket_sync_agent.runtime import Runtime


def list_plugins(rt: Runtime) -> list[dict[str, Any]]:
    out = []
    for info in rt.registry.list():
        row = info.to_json()
        if info.ok and info.kind == "backend":
            row["config"] = describe_fields(info.obj.config_class)
        out.append(row)
    return out
