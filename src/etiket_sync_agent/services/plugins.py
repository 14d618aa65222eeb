"""Installed backends and converters, with their distributions and load errors."""

from __future__ import annotations

from typing import Any

from etiket_sync_agent.plugins.config import describe_fields
from etiket_sync_agent.runtime import Runtime

#: every row has these keys, in this order; what does not apply (a converter's scope
#: requirement, a broken plugin's config) is None
PLUGIN_KEYS = (
    "name",
    "kind",
    "entry_point",
    "distribution",
    "version",
    "status",
    "error",
    "backend_kind",
    "scope_requirement",
    "live_sync",
    "config",
    "input_type",
    "output_type",
)


def list_plugins(rt: Runtime) -> list[dict[str, Any]]:
    out = []
    for info in rt.registry.list():
        row = info.to_json()
        if info.ok and info.kind == "backend":
            row["config"] = describe_fields(info.obj.config_class)
        out.append({k: row.get(k) for k in PLUGIN_KEYS})
    return out
