"""From a QCoDeS run's metadata to the store's dataset fields."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from etiket_sync_agent.backends.qcodes.reader import RunMetadata
from etiket_sync_agent.plugins.dataset_fields import DatasetFields

#: QCoDeS' inspectr tags: a star promotes a run, a cross hides it
RANKING = {"star": 1, "cross": -1}


def dataset_fields(
    meta: RunMetadata, db_path: Path, set_up: str, static_attributes: dict[str, Any]
) -> DatasetFields:
    info = meta.info
    lines = (info.name or f"run {info.run_id}").splitlines() or [f"run {info.run_id}"]
    description = "\n".join(
        [
            *[line for line in lines[1:] if line.strip()],
            f"QCoDeS database: {db_path}",
            f"run id: {info.run_id} (captured run id {info.captured_run_id})",
            f"GUID: {info.guid}",
            f"experiment: {info.exp_name or ''}",
        ]
    )
    labels: list[str] = []
    for spec in meta.description.interdeps.paramspecs:
        label = spec.label or spec.name
        if label and label not in labels:
            labels.append(label)
    attributes: dict[str, Any] = {
        "sample": info.sample_name or "",
        "set-up": set_up,
        **{str(k): v for k, v in static_attributes.items() if isinstance(v, (str, int, float))},
    }
    tag = str(info.metadata.get("inspectr_tag") or "").strip().lower()
    collected = (
        datetime.fromtimestamp(info.run_timestamp, tz=timezone.utc) if info.run_timestamp else None
    )
    return DatasetFields(
        name=lines[0].strip() or f"run {info.run_id}",
        description=description,
        collected=collected,
        alt_uid=info.guid,
        tags=labels,
        attributes=attributes,
        ranking=RANKING.get(tag, 0),
    )
