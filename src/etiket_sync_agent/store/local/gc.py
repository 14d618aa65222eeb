"""Deleting blobs no file version refers to, and temp files of crashed uploads.

Leftovers of a killed process: a blob placed but never committed (killed between placing
and commit), the old content of a live version replaced just before the kill (killed
between commit and discard), temp files in ``root/tmp``. Every deletion re-checks the
reference under the content lock, so this is safe while other processes upload.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from etiket_sync_agent.store.blob_interface import BlobStorage
from etiket_sync_agent.store.catalog import FileVersion
from etiket_sync_agent.store.local.transactions import Catalog


def discard_if_unreferenced(catalog: Catalog, blobs: BlobStorage, sha256: str) -> bool:
    """Delete the blob ``sha256`` if no file version refers to it; True if deleted."""

    def work(session: Session) -> bool:
        catalog.lock_content(session, sha256)
        used = session.scalar(select(FileVersion.id).where(FileVersion.sha256 == sha256).limit(1))
        return False if used is not None else blobs.delete(sha256)

    return catalog.write(work)


def collect(
    catalog: Catalog, blobs: BlobStorage, tmp_older_than: float, dry_run: bool = False
) -> dict[str, int]:
    """Remove unreferenced blobs and stale temp files; returns what was (``dry_run``:
    would be) removed.

    A temp file is stale when the process that wrote it is gone (its pid is in the name)
    or when it is older than ``tmp_older_than`` seconds.
    """
    with catalog.read() as session:
        used = set(session.scalars(select(FileVersion.sha256).distinct()))
    unused = [sha for sha in blobs.gc_candidates(tmp_older_than) if sha not in used]
    if dry_run:
        removed = len(unused)
    else:
        removed = sum(discard_if_unreferenced(catalog, blobs, sha) for sha in unused)
    return {"blobs_removed": removed, "tmp_removed": blobs.clean_tmp(tmp_older_than, dry_run)}
