"""Uploading several files of one dataset in few catalog transactions.

``LocalStore.upload_file`` costs every file a write transaction of its own. For a
dataset of many files :func:`upload_files` stages a group of them at once (the blob
storage may copy them in parallel and sync them together, see
:meth:`~etiket_sync_agent.store.blob_interface.BlobStorage.stage_many`), then records the
whole group in one transaction: every blob is placed and the group's placements are made
durable (:meth:`~etiket_sync_agent.store.blob_interface.StagedGroup.sync`) before that
transaction commits, so the durability rule of the store interface holds per file.

Groups are bounded in files and bytes: a group's temp files exist together (on S3, each
is also a local copy), and its transaction holds the catalog's write lock. Inside a
transaction the content locks are taken in sha256 order and the files are recorded in
name order, so two agents writing overlapping groups into a shared PostgreSQL catalog
wait for each other instead of deadlocking.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from etiket_sync_agent.store.blob_interface import BlobStorage
from etiket_sync_agent.store.blobs import size_hint
from etiket_sync_agent.store.interface import FileStatus, UploadResult
from etiket_sync_agent.store.local import gc
from etiket_sync_agent.store.local.transactions import Catalog
from etiket_sync_agent.store.local.versioning import GroupState, record_upload

#: most files and bytes (as the sources' sizes say) recorded in one transaction
GROUP_FILES = 256
GROUP_BYTES = 512 << 20


@dataclass(frozen=True)
class CheckedUpload:
    """One file to upload, its name and metadata already validated."""

    name: str
    source: Path | BinaryIO
    meta: dict[str, Any]
    status: FileStatus


def groups(files: Sequence[CheckedUpload]) -> Iterator[list[CheckedUpload]]:
    """Consecutive groups of at most :data:`GROUP_FILES` files and about
    :data:`GROUP_BYTES` bytes (a bigger file is a group of its own)."""
    group: list[CheckedUpload] = []
    size = 0
    for f in files:
        n = size_hint(f.source)
        if group and (len(group) >= GROUP_FILES or size + n > GROUP_BYTES):
            yield group
            group, size = [], 0
        group.append(f)
        size += n
    if group:
        yield group


def upload_group(
    catalog: Catalog, blobs: BlobStorage, dataset_uuid: str, group: list[CheckedUpload]
) -> list[UploadResult]:
    """Stage ``group`` and record it in one write transaction; the results in order."""
    with blobs.stage_many([f.source for f in group]) as staged:
        contents = staged.contents
        # name order (stable: a name given twice keeps its order) against deadlocks
        order = sorted(range(len(group)), key=lambda i: group[i].name)

        def work(session: Session) -> list[tuple[UploadResult, str | None]]:
            for sha256 in sorted({c.sha256 for c in contents}):
                catalog.lock_content(session, sha256)
            done: dict[int, tuple[UploadResult, str | None]] = {}
            shared = GroupState(dataset_uuid)
            for i in order:
                f = group[i]
                done[i] = record_upload(
                    session, dataset_uuid, f.name, f.meta, contents[i], f.status, shared
                )
            shared.finish(session)
            staged.sync()  # every placement durable before the rows are committed
            return [done[i] for i in range(len(group))]

        recorded = catalog.write(work)
    results = [result for result, _ in recorded]
    # content dropped by a live replace (kept if another version still refers to it)
    for replaced in {sha for _, sha in recorded if sha is not None}:
        gc.discard_if_unreferenced(catalog, blobs, replaced)
    return results
