"""What an upload means for a file's versions (the store interface's versioning rules).

* a new file, or new content after a complete version: a new version;
* new content while the latest version is live: its content is replaced in place (the
  dropped content's blob is returned so the caller can discard it if unreferenced);
* a complete upload of a live version finalizes it; nothing turns complete into live;
* the same content and status: nothing changes (``changed`` is False).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from etiket_sync_agent.dbtypes import utcnow
from etiket_sync_agent.errors import NotFoundError
from etiket_sync_agent.store.blob_interface import StagedContent
from etiket_sync_agent.store.interface import FileInfo, FileStatus, UploadResult
from etiket_sync_agent.store.local import lookups as q
from etiket_sync_agent.store.local.infos import version_info


@dataclass(frozen=True)
class Decision:
    """What an upload does to a file's latest version (the rules in the module doc)."""

    new_version: bool  # append version N+1 (1 for a new file)
    changed: bool  # the content differs from the latest version's
    status: FileStatus  # the status of the version the upload leaves current
    touched: bool  # anything to write at all


def decide(latest: tuple[str, FileStatus] | None, sha256: str, status: FileStatus) -> Decision:
    """The rules for an upload of content ``sha256`` with ``status`` over the file's
    ``latest`` version (its sha256 and status; None for a new file)."""
    if latest is None:
        return Decision(True, True, status, True)
    old_sha256, old_status = latest
    changed = old_sha256 != sha256
    if changed and old_status is FileStatus.COMPLETE:
        return Decision(True, True, status, True)
    final = FileStatus.COMPLETE in (status, old_status)  # nothing turns complete into live
    new_status = FileStatus.COMPLETE if final else status
    return Decision(False, changed, new_status, changed or new_status is not old_status)


@dataclass
class GroupState:
    """What several uploads of one dataset in one transaction share."""

    dataset_uuid: str
    checked: bool = False
    touched: bool = False

    def finish(self, session: Session) -> None:
        """Record the dataset's modification once for the whole group."""
        if self.touched:
            session.execute(q.UPDATE_DATASET, {"q_uuid": self.dataset_uuid, "modified": utcnow()})


def new_files(session: Session, dataset_uuid: str, names: list[str]) -> set[str]:
    """Which of ``names`` the dataset has no file of yet (the others are locked FOR
    UPDATE by the rows they get in :func:`record_upload`)."""
    stored = q.FILES.c
    query = select(stored.name).where(stored.dataset_uuid == dataset_uuid, stored.name.in_(names))
    return set(names) - set(session.scalars(query))


def record_new_files(
    session: Session,
    dataset_uuid: str,
    uploads: list[tuple[str, dict[str, Any], StagedContent, FileStatus]],
    group: GroupState,
) -> list[UploadResult]:
    """Version 1 of files the dataset does not have yet, in two multi-row statements
    (files, then versions); each blob is placed before the transaction commits. A file
    of the same name inserted meanwhile by another writer makes the insert fail on the
    unique constraint, and the catalog retries the whole transaction."""
    if not group.checked:
        require_dataset_row(session, dataset_uuid)
        group.checked = True
    rows = [{"dataset_uuid": dataset_uuid, "name": name, **meta} for name, meta, _, _ in uploads]
    statement = insert(q.FILES).returning(q.FILES.c.id, sort_by_parameter_order=True)
    ids = list(session.scalars(statement, rows))
    now = utcnow()
    versions = [
        {
            "file_id": file_id,
            "version": 1,
            "size": staged.size,
            "sha256": staged.sha256,
            "status": status.value,
            "created": now,
            "modified": now,
        }
        for file_id, (_, _, staged, status) in zip(ids, uploads, strict=True)
    ]
    session.execute(insert(q.VERSIONS), versions)
    group.touched = True
    results = []
    for version, (name, meta, staged, _) in zip(versions, uploads, strict=True):
        staged.place()
        info = version_info(version)
        file = FileInfo(name, meta["filename"], meta["file_type"], meta["generator"], (info,))
        results.append(UploadResult(file, info, True))
    return results


def require_dataset_row(session: Session, dataset_uuid: str) -> None:
    if q.one(session, q.DATASET_BY_UUID, {"q_uuid": dataset_uuid}) is None:
        raise NotFoundError(f"dataset {dataset_uuid} does not exist", hint=q.DATASET_HINT)


def record_upload(
    session: Session,
    dataset_uuid: str,
    name: str,
    meta: dict[str, Any],
    staged: StagedContent,
    status: FileStatus,
    group: GroupState | None = None,
) -> tuple[UploadResult, str | None]:
    """Apply the rules in a write transaction holding the content lock of ``staged``.

    Places the blob before the transaction commits. Returns the result and the sha256 a
    live replace dropped. Core statements: this runs for every uploaded file. With a
    ``group`` (several uploads in one transaction), the dataset is checked only for the
    first file and its modification time is left to :meth:`GroupState.finish`.
    """
    if group is None or not group.checked:
        require_dataset_row(session, dataset_uuid)
        if group is not None:
            group.checked = True
    file_row = q.one(session, q.FILE_FOR_UPDATE, {"q_uuid": dataset_uuid, "q_name": name})
    latest = None
    if file_row is None:
        values = {"dataset_uuid": dataset_uuid, "name": name, **meta}
        file_id = session.execute(insert(q.FILES), values).inserted_primary_key[0]
    else:
        file_id = file_row["id"]
        if any(file_row[k] != v for k, v in meta.items()):
            session.execute(q.UPDATE_FILE, {"q_id": file_id, **meta})
        latest = q.one(session, q.LATEST_VERSION, {"q_file_id": file_id})
    now = utcnow()
    replaced: str | None = None
    was = None if latest is None else (latest["sha256"], FileStatus(latest["status"]))
    decision = decide(was, staged.sha256, status)
    changed, touched = decision.changed, decision.touched
    if decision.new_version:
        new_version = {
            "file_id": file_id,
            "version": 1 if latest is None else latest["version"] + 1,
            "size": staged.size,
            "sha256": staged.sha256,
            "status": status.value,
            "created": now,
            "modified": now,
        }
        session.execute(insert(q.VERSIONS), new_version)
    elif touched:
        changes: dict[str, Any] = {"status": decision.status.value, "modified": now}
        if changed:  # the latest version is live: replace its content in place
            replaced = latest["sha256"]
            changes.update(sha256=staged.sha256, size=staged.size)
        session.execute(q.UPDATE_VERSION, {"q_id": latest["id"], **changes})
    if touched and group is not None:
        group.touched = True
    elif touched:
        session.execute(q.UPDATE_DATASET, {"q_uuid": dataset_uuid, "modified": now})
    staged.place()  # also restores content that went missing from disk
    if latest is None:  # a new file: its one version is the row just inserted
        versions = (version_info(new_version),)
    else:
        rows = session.execute(q.VERSIONS_OF, {"q_file_id": file_id}).mappings()
        versions = tuple(version_info(v) for v in rows)
    info = FileInfo(name, meta["filename"], meta["file_type"], meta["generator"], versions)
    return UploadResult(info, versions[-1], changed), replaced
