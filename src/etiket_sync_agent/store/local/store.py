"""The :class:`LocalStore` (see the package docstring for how it stays consistent)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import func, select

from etiket_sync_agent.errors import StoreError
from etiket_sync_agent.store import interface as api
from etiket_sync_agent.store.blob_interface import BlobStorage
from etiket_sync_agent.store.blobs import BlobStore
from etiket_sync_agent.store.catalog import Dataset, File, FileVersion, Scope
from etiket_sync_agent.store.local import agents, batch, datasets, gc, scopes, verify
from etiket_sync_agent.store.local.infos import dataset_info_from
from etiket_sync_agent.store.local.lookups import (
    match_datasets,
    require_version,
    search_datasets,
)
from etiket_sync_agent.store.local.transactions import WRITE_ATTEMPTS, Catalog
from etiket_sync_agent.store.local.validation import check_text, dataset_values, upload_values
from etiket_sync_agent.store.local.versioning import record_upload


class LocalStore(api.DatasetStore):
    """The embedded default store.

    Opening migrates the catalog to the current schema (a no-op when it is current) and
    raises StoreError if the catalog cannot be reached, StateDBError if its SQLite file is
    damaged or was written by a newer version. Datetimes come back timezone-aware in UTC;
    a naive ``collected`` is taken as local time. Beyond the interface: :meth:`stats`,
    :meth:`gc`, and the attributes ``root``, ``blobs`` (its
    :class:`~etiket_sync_agent.store.blob_interface.BlobStorage`) and ``catalog`` (the
    catalog URL, password hidden).

    ``blobs`` defaults to the folder ``root/blobs``; pass an
    :class:`~etiket_sync_agent.store.s3.S3BlobStorage` for a bucket shared by a lab. The
    store owns it from then on (:meth:`close` closes it).
    """

    def __init__(
        self, root: Path, catalog_url: str | None = None, blobs: BlobStorage | None = None
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.blobs: BlobStorage = blobs if blobs is not None else BlobStore(self.root)
        try:
            self._catalog = Catalog(self.root, catalog_url)
        except BaseException:
            self.blobs.close()
            raise
        self._engine = self._catalog.engine
        self.catalog = self._catalog.url

    def close(self) -> None:
        self._catalog.close()
        self.blobs.close()

    # -- scopes -------------------------------------------------------------------------
    def create_scope(self, name: str, description: str = "") -> api.ScopeInfo:
        name = check_text("scope name", name, 255, required=True)
        return self._catalog.write(lambda s: scopes.create_scope(s, name, description))

    def get_scope(self, name: str) -> api.ScopeInfo | None:
        with self._catalog.read() as session:
            return scopes.get_scope(session, name)

    def list_scopes(self) -> list[api.ScopeInfo]:
        with self._catalog.read() as session:
            return scopes.list_scopes(session)

    # -- datasets -----------------------------------------------------------------------
    def upsert_dataset(self, spec: api.DatasetSpec) -> api.DatasetInfo:
        check_text("dataset uuid", spec.uuid, 36, required=True)
        values = dataset_values(spec)
        return self._catalog.write(lambda s: datasets.upsert_dataset(s, spec, values))

    def get_dataset(self, uuid: str) -> api.DatasetInfo:
        with self._catalog.read() as session:
            return datasets.get_dataset(session, uuid)

    def find_dataset(self, *, scope: str, alt_uid: str) -> api.DatasetInfo | None:
        with self._catalog.read() as session:
            return datasets.find_dataset(session, scope, alt_uid)

    def list_datasets(
        self,
        *,
        scope: str | None = None,
        source: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        text: str | None = None,
        tag: str | None = None,
        attribute: tuple[str, str | None] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[api.DatasetInfo]:
        """Datasets without files, filtered in the catalog's SQL (see the interface)."""
        with self._catalog.read() as session:
            rows = search_datasets(
                session,
                scope=scope,
                source=source,
                text_in_name=text,
                tag=tag,
                attribute=attribute,
                since=since,
                until=until,
                limit=limit,
                offset=offset,
            )
        return [dataset_info_from(values, scope_name) for values, scope_name in rows]

    def match_datasets(
        self, ref: str, *, min_prefix: int = 4, limit: int | None = None
    ) -> list[api.DatasetInfo]:
        """See the interface; two queries (the exact ``alt_uid``, then the prefixes)."""
        with self._catalog.read() as session:
            rows = match_datasets(session, ref, min_prefix, limit)
        return [dataset_info_from(values, scope_name) for values, scope_name in rows]

    # -- agents -------------------------------------------------------------------------
    def report_agent(self, report: api.AgentReport) -> None:
        check_text("agent id", report.agent_id, 64, required=True)
        self._catalog.write(lambda s: agents.report_agent(s, report))

    def list_agents(self) -> list[api.AgentReport]:
        with self._catalog.read() as session:
            return agents.list_agents(session)

    # -- files --------------------------------------------------------------------------
    def upload_file(
        self,
        dataset_uuid: str,
        name: str,
        source: Path | BinaryIO,
        *,
        filename: str | None = None,
        file_type: str = "UNKNOWN",
        generator: str | None = None,
        status: api.FileStatus = api.FileStatus.COMPLETE,
    ) -> api.UploadResult:
        name, meta, status = upload_values(name, filename, file_type, generator, status)
        with self.blobs.stage(source) as staged:

            def work(session: Any) -> tuple[api.UploadResult, str | None]:
                self._catalog.lock_content(session, staged.sha256)
                return record_upload(session, dataset_uuid, name, meta, staged, status)

            result, replaced = self._catalog.write(work)
        if replaced is not None and replaced != result.version.sha256:
            gc.discard_if_unreferenced(self._catalog, self.blobs, replaced)
        return result

    def upload_files(
        self, dataset_uuid: str, files: Sequence[api.FileUpload]
    ) -> list[api.UploadResult]:
        """Several files of one dataset in one write transaction per group of files
        (see :mod:`.batch`): copied and hashed in parallel, synced together. Names and
        metadata are checked before anything is copied."""
        checked = []
        for f in files:
            name, meta, status = upload_values(
                f.name, f.filename, f.file_type, f.generator, f.status
            )
            checked.append(batch.CheckedUpload(name, f.source, meta, status))
        results: list[api.UploadResult] = []
        for group in batch.groups(checked):
            results += batch.upload_group(self._catalog, self.blobs, dataset_uuid, group)
        return results

    def open_file(self, dataset_uuid: str, name: str, version: int | None = None) -> BinaryIO:
        """The content of ``name`` (latest version by default) opened for reading."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            with self._catalog.read() as session:
                sha256 = require_version(session, dataset_uuid, name, version).sha256
            try:
                return self.blobs.open(sha256)
            except StoreError:
                # a live version's content may have been replaced between the two steps
                if attempt == WRITE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    # -- maintenance --------------------------------------------------------------------
    def gc(self, tmp_older_than: float = 24 * 3600, dry_run: bool = False) -> dict[str, int]:
        """Delete blobs no file version refers to, and temp files of crashed uploads.

        A temp file goes when the process that wrote it is gone or when it is older than
        ``tmp_older_than`` seconds. Safe while other processes upload: every deletion
        re-checks its reference under the content lock. A shared bucket only gives up
        contents older than ``tmp_older_than`` (another agent may be about to publish a
        younger one) and also loses multipart uploads abandoned for a week. Returns
        ``{"blobs_removed": n, "tmp_removed": m}``; ``dry_run`` counts, removes nothing.
        """
        return gc.collect(self._catalog, self.blobs, tmp_older_than, dry_run)

    def verify(self, deep: bool = False) -> dict[str, Any]:
        """Check that every file version's content is stored (``deep``: and still hashes
        to its sha256 with its size); the report of :func:`.verify.verify`. Read-only."""
        return verify.verify(self._catalog, self.blobs, deep)

    def stats(self) -> dict[str, Any]:
        """Counts for display: scopes, datasets, files, versions, and ``bytes`` stored
        (each distinct content counted once, as on disk)."""
        distinct = select(FileVersion.sha256, func.max(FileVersion.size).label("size")).group_by(
            FileVersion.sha256
        )
        with self._catalog.read() as session:
            counts = {
                key: session.scalar(select(func.count()).select_from(model)) or 0
                for key, model in (
                    ("scopes", Scope),
                    ("datasets", Dataset),
                    ("files", File),
                    ("versions", FileVersion),
                )
            }
            sub = distinct.subquery()
            counts["bytes"] = int(session.scalar(select(func.coalesce(func.sum(sub.c.size), 0))))
        return counts
