"""The store metadata of a core-tools measurement."""

from __future__ import annotations

from etiket_sync_agent.backends.core_tools.reader import Measurement
from etiket_sync_agent.plugins.dataset_fields import DatasetFields


def dataset_fields(meas: Measurement, where: str) -> DatasetFields:
    """name = ``exp_name``, alt_uid = the core-tools uuid, collected = ``start_time``,
    tags = ``keywords``, ranking 1 when starred, attributes sample / set-up / project;
    the description names the database (``where``) and the measurement id."""
    return DatasetFields(
        name=meas.exp_name or f"measurement {meas.id}",
        alt_uid=str(meas.uuid),
        description=f"core-tools measurement id {meas.id} (uuid {meas.uuid}) of {where}",
        collected=meas.start_time,
        tags=list(meas.keywords),
        ranking=1 if meas.starred else 0,
        creator=meas.created_by or None,
        attributes={"sample": meas.sample, "set-up": meas.set_up, "project": meas.project},
    )
