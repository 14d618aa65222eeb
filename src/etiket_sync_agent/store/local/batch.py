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

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from etiket_sync_agent.store.blob_interface import BlobStorage, StagedContent
from etiket_sync_agent.store.blobs import size_hint
from etiket_sync_agent.store.interface import FileStatus, UploadResult
from etiket_sync_agent.store.local import gc
from etiket_sync_agent.store.local.transactions import Catalog
from etiket_sync_agent.store.local.versioning import (
    GroupState,
    new_files,
    record_new_files,
    record_upload,
)

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

        def work(session: Session) -> list[tuple[UploadResult, str | None]]:
            for sha256 in sorted({c.sha256 for c in contents}):
                catalog.lock_content(session, sha256)
            recorded = _record_group(session, dataset_uuid, group, contents)
            staged.sync()  # every placement durable before the rows are committed
            return recorded

        recorded = catalog.write(work)
    results = [result for result, _ in recorded]
    # content dropped by a live replace (kept if another version still refers to it)
    for replaced in {sha for _, sha in recorded if sha is not None}:
        gc.discard_if_unreferenced(catalog, blobs, replaced)
    return results


def _record_group(
    session: Session,
    dataset_uuid: str,
    group: list[CheckedUpload],
    contents: list[StagedContent],
) -> list[tuple[UploadResult, str | None]]:
    """Record every upload of ``group`` in the open transaction; (result, replaced sha256)
    in the group's order. Names given once that the dataset does not have yet are
    inserted together; the others go through :func:`record_upload` one by one."""
    shared = GroupState(dataset_uuid)
    # name order (stable: a name given twice keeps its order) against deadlocks
    order = sorted(range(len(group)), key=lambda i: group[i].name)
    once = [n for n, k in Counter(f.name for f in group).items() if k == 1]
    fresh = new_files(session, dataset_uuid, once) if once else set()
    bulk = [i for i in order if group[i].name in fresh]
    done: dict[int, tuple[UploadResult, str | None]] = {}
    if bulk:
        uploads = [(group[i].name, group[i].meta, contents[i], group[i].status) for i in bulk]
        results = record_new_files(session, dataset_uuid, uploads, shared)
        done.update((i, (result, None)) for i, result in zip(bulk, results, strict=True))
    for i in order:
        if i not in done:
            f = group[i]
            done[i] = record_upload(
                session, dataset_uuid, f.name, f.meta, contents[i], f.status, shared
            )
    shared.finish(session)
    return [done[i] for i in range(len(group))]
