"""Datasets: the work functions run inside the catalog's transactions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from etiket_sync_agent.dbtypes import utcnow
from etiket_sync_agent.errors import StoreError
from etiket_sync_agent.store.interface import DatasetInfo, DatasetSpec
from etiket_sync_agent.store.local import lookups as q
from etiket_sync_agent.store.local.infos import dataset_info, dataset_info_from


def upsert_dataset(session: Session, spec: DatasetSpec, values: dict[str, Any]) -> DatasetInfo:
    """Create or update the dataset of ``spec`` (``values``: its validated columns).

    Core statements, not the ORM: this runs once per synchronized item.
    """
    uuid = spec.uuid
    scope_id = q.require_scope_id(session, spec.scope)
    by_alt_uid = {"q_scope_id": scope_id, "q_alt_uid": spec.alt_uid}
    row = q.one(session, q.DATASET_BY_UUID, {"q_uuid": uuid})
    if row is None and spec.alt_uid is not None:
        row = q.one(session, q.DATASET_BY_ALT_UID, by_alt_uid)
    elif row is not None and spec.alt_uid is not None:
        other = q.one(session, q.DATASET_BY_ALT_UID, by_alt_uid)
        if other is not None and other["uuid"] != row["uuid"]:
            raise StoreError(
                f"alt_uid {spec.alt_uid!r} already belongs to dataset {other['uuid']} "
                f"in scope {spec.scope!r}, not to {row['uuid']}"
            )
    now = utcnow()
    if row is None:
        row = {"uuid": uuid, "scope_id": scope_id, "created": now, "modified": now}
        row.update(values)
        session.execute(insert(q.DATASETS), row)
    elif row["scope_id"] != scope_id or any(row[k] != v for k, v in values.items()):
        changes = {**values, "scope_id": scope_id, "modified": now}
        session.execute(q.UPDATE_DATASET, {"q_uuid": row["uuid"], **changes})
        row = {**row, **changes}
    return dataset_info_from(row, spec.scope)  # no files: callers need the uuid


def get_dataset(session: Session, uuid: str) -> DatasetInfo:
    row = q.require_dataset(session, uuid)
    return dataset_info(row, q.files_of(session, uuid))


def find_dataset(session: Session, scope: str, alt_uid: str) -> DatasetInfo | None:
    scope_row = q.scope_by_name(session, scope)
    row = None if scope_row is None else q.dataset_by_alt_uid(session, scope_row.id, alt_uid)
    return None if row is None else dataset_info(row, q.files_of(session, row.uuid))
