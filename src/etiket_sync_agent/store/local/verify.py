"""Checking that the catalog and the blob storage agree (``etiket-sync store verify``).

Every file version of the catalog must have its content in the blob storage; ``deep``
also reads every content back and re-hashes it (each distinct content once), reporting
a content whose bytes no longer match its sha256 or its recorded size. The check only
reads, so it is safe while agents sync; a version whose content looks missing is checked
again against a fresh catalog read, so a live version replaced meanwhile is not reported.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from etiket_sync_agent.errors import StoreError
from etiket_sync_agent.store.blob_interface import BlobStorage
from etiket_sync_agent.store.catalog import File, FileVersion
from etiket_sync_agent.store.local.transactions import Catalog

_CHUNK = 1 << 20


def _versions(catalog: Catalog) -> list[Any]:
    query = (
        select(
            File.dataset_uuid, File.name, FileVersion.version, FileVersion.sha256, FileVersion.size
        )
        .join(FileVersion.file)
        .order_by(File.dataset_uuid, File.name, FileVersion.version)
    )
    with catalog.read() as session:
        return list(session.execute(query))


def _rehash(blobs: BlobStorage, sha256: str) -> tuple[str | None, int]:
    """The sha256 and size of the stored bytes; (None, 0) if the content is missing."""
    digest = hashlib.sha256()
    size = 0
    try:
        with blobs.open(sha256) as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except StoreError:
        return None, 0
    return digest.hexdigest(), size


def verify(catalog: Catalog, blobs: BlobStorage, deep: bool = False) -> dict[str, Any]:
    """The report: ``versions`` and ``contents`` checked, ``problems`` (one dict per file
    version: ``dataset``, ``file``, ``version``, ``sha256``, ``problem`` = ``missing`` or
    ``mismatch`` with the ``actual_sha256``/``actual_size``), and ``ok``."""
    rows = _versions(catalog)
    present = set(blobs.iter_blobs())
    missing = {r.sha256 for r in rows if r.sha256 not in present}
    if missing:  # look again: a live version may have been replaced since the first read
        current = {r.sha256 for r in _versions(catalog)}
        missing = {sha for sha in missing if sha in current and not blobs.exists(sha)}
    hashed: dict[str, tuple[str | None, int]] = {}
    problems: list[dict[str, Any]] = []
    for r in rows:
        where = {"dataset": r.dataset_uuid, "file": r.name, "version": r.version}
        if r.sha256 in missing:
            problems.append({**where, "sha256": r.sha256, "problem": "missing"})
            continue
        if not deep or r.sha256 not in present:
            continue
        if r.sha256 not in hashed:
            hashed[r.sha256] = _rehash(blobs, r.sha256)
        actual, size = hashed[r.sha256]
        if actual is not None and (actual != r.sha256 or size != r.size):
            problems.append(
                {
                    **where,
                    "sha256": r.sha256,
                    "problem": "mismatch",
                    "actual_sha256": actual,
                    "actual_size": size,
                }
            )
    return {
        "versions": len(rows),
        "contents": len({r.sha256 for r in rows}),
        "deep": deep,
        "where": blobs.describe(),
        "problems": problems,
        "ok": not problems,
    }
