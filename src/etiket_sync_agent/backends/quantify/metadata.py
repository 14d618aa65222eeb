"""From a Quantify measurement (folder, dataset attributes, snapshot) to store fields."""

from __future__ import annotations

import json
from typing import Any

from etiket_sync_agent.backends.quantify.reader import SnapshotInfo, tuid_time
from etiket_sync_agent.plugins.dataset_fields import DatasetFields

#: dataset attributes (Quantify's v2 dataset spec) that may name the software versions
_VERSION_KEYS = ("quantify", "quantify-core", "quantify_core")


def quantify_version(attrs: dict[str, Any]) -> str | None:
    """The Quantify version recorded in the dataset (``software_versions``), if any."""
    raw = attrs.get("software_versions")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    if isinstance(raw, dict):
        for key in _VERSION_KEYS:
            if raw.get(key):
                return f"{key} {raw[key]}"
    return None


def long_names(variables: dict[str, dict[str, Any]]) -> list[str]:
    """Long names of the settables and gettables (``x*``, ``y*``), in order, unique."""
    out: list[str] = []
    for name in sorted(variables, key=lambda n: (n[:1], len(n), n)):
        if name[:1] not in ("x", "y"):
            continue
        label = str(variables[name].get("long_name") or variables[name].get("name") or "")
        label = label.strip()
        if label and label not in out:
            out.append(label)
    return out


def dataset_fields(
    *,
    tuid: str,
    suffix: str,
    rel_folder: str,
    attrs: dict[str, Any],
    variables: dict[str, dict[str, Any]],
    snapshot: SnapshotInfo,
    set_up: str,
    data_format: str | None,
) -> DatasetFields:
    name = str(attrs.get("name") or "").strip() or suffix or tuid
    lines = [f"Quantify measurement {tuid}", f"folder: {rel_folder}"]
    if suffix and suffix != name:
        lines.append(f"folder name suffix: {suffix}")
    attributes: dict[str, Any] = {"set-up": set_up, "tuid": tuid}
    if snapshot.sample:
        attributes["sample"] = snapshot.sample
    if snapshot.instruments:
        attributes["instruments"] = ", ".join(snapshot.instruments)
    version = quantify_version(attrs)
    if version:
        attributes["quantify version"] = version
    if data_format:
        attributes["file format"] = data_format
    return DatasetFields(
        name=name,
        description="\n".join(lines),
        collected=tuid_time(tuid),
        alt_uid=tuid,
        tags=long_names(variables),
        attributes=attributes,
    )
