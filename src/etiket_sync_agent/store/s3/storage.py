""":class:`S3BlobStorage`: the blob storage contract on an S3-compatible bucket.

Objects are ``<prefix>blobs/ab/<sha256>``, the same layout as the local folder, so every
agent sharing the bucket finds content any other agent stored and never sends it again.

The transfer happens in :meth:`S3BlobStorage.stage`, outside the catalog transaction (a
20 GB upload must not hold a database lock). A path is hashed in place and sent from
where it is (see :mod:`.snapshot`: each part carries the checksum of the hashing pass,
and the file is checked to be unchanged after the transfer); a stream is copied into a
local temp file while hashed. Nothing is sent when the bucket already holds the content.
:meth:`S3StagedContent.place`, called under the catalog's content lock, checks that the
object is still there (a concurrent gc may have removed it while it was unreferenced) and
sends it again if not; so when the catalog row is committed, the whole object is in the
bucket.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

from etiket_sync_agent.errors import StoreError
from etiket_sync_agent.store.blob_interface import BlobStorage, StagedContent, StagedGroup
from etiket_sync_agent.store.blobs import clean_tmp_dir, hashed_copy, in_threads, size_hint
from etiket_sync_agent.store.s3 import uploads
from etiket_sync_agent.store.s3.ledger import UploadLedger
from etiket_sync_agent.store.s3.settings import S3Settings
from etiket_sync_agent.store.s3.snapshot import Snapshot, hash_in_place

#: multipart uploads initiated longer ago than this are abandoned (aborted by the sweep)
UPLOAD_GRACE_S = 7 * 24 * 3600
LEDGER_NAME = "s3_uploads.db"


@dataclass
class S3StagedContent(StagedContent):
    storage: S3BlobStorage
    sha256: str
    size: int
    #: the temp copy of a stream, or the source file itself (then ``snapshot`` is set)
    tmp: Path
    sent: bool
    snapshot: Snapshot | None = None

    def place(self) -> bool:
        if self.storage.exists(self.sha256):
            return self.sent
        if self.snapshot is not None:
            self.storage.send_snapshot(self.snapshot)
        else:
            self.storage.send(self.tmp, self.sha256, self.size)
        self.sent = True
        return True


class S3BlobStorage(BlobStorage):
    """Contents in a bucket; temp files and the upload ledger under ``root`` (the home's
    store folder). ``progress`` is told of every multipart part acknowledged (from the
    upload threads: up to ``settings.max_concurrency`` at once)."""

    def __init__(
        self,
        settings: S3Settings,
        root: Path,
        *,
        client: Any = None,
        progress: uploads.ProgressCallback | None = None,
    ) -> None:
        self.settings = settings
        self.root = Path(root)
        self.tmp_dir = self.root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.client = client if client is not None else settings.client()
        self.ledger = UploadLedger(self.root / LEDGER_NAME)
        self.progress = progress

    def close(self) -> None:
        self.ledger.close()

    def describe(self) -> str:
        return self.settings.describe()

    def key(self, sha256: str) -> str:
        return f"{self.settings.key_prefix}blobs/{sha256[:2]}/{sha256}"

    # -- the contract -------------------------------------------------------------------
    @contextmanager
    def stage(self, source: Path | BinaryIO) -> Iterator[S3StagedContent]:
        if isinstance(source, (str, os.PathLike)):
            yield self._stage_path(Path(source))
            return
        with hashed_copy(self.tmp_dir, source) as (tmp, sha256, size, _):
            sent = False
            if not self.exists(sha256):
                self.send(tmp, sha256, size)
                sent = True
            yield S3StagedContent(self, sha256, size, tmp, sent)

    @contextmanager
    def stage_many(self, sources: Sequence[Path | BinaryIO]) -> Iterator[StagedGroup]:
        """Files below the multipart threshold are hashed and sent by a few threads at
        once (one small PUT each: the round trips overlap); streams and big files (whose
        parts already go up in parallel, resumably) one after another."""
        small = [
            i
            for i, s in enumerate(sources)
            if isinstance(s, (str, os.PathLike))
            and size_hint(s) < self.settings.multipart_threshold
        ]
        if len(small) < 2:
            with super().stage_many(sources) as group:
                yield group
            return
        staged: dict[int, StagedContent] = dict(
            in_threads(lambda i: (i, self._stage_path(Path(sources[i]))), small, [])
        )
        with ExitStack() as stack:
            for i, source in enumerate(sources):
                if i not in staged:
                    staged[i] = stack.enter_context(self.stage(source))
            yield StagedGroup([staged[i] for i in range(len(sources))])

    def _stage_path(self, path: Path) -> S3StagedContent:
        snap = hash_in_place(path, self._part_size)
        sent = not self.exists(snap.sha256)
        if sent:
            self.send_snapshot(snap)
        return S3StagedContent(self, snap.sha256, snap.size, snap.path, sent, snap)

    def exists(self, sha256: str) -> bool:
        with self._errors("check"):
            try:
                self.client.head_object(Bucket=self.settings.bucket, Key=self.key(sha256))
                return True
            except Exception as exc:
                if uploads.is_missing(exc, "NoSuchKey", "404", "NotFound"):
                    return False
                raise

    def open(self, sha256: str) -> BinaryIO:
        with self._errors("read"):
            try:
                reply = self.client.get_object(Bucket=self.settings.bucket, Key=self.key(sha256))
            except Exception as exc:
                if uploads.is_missing(exc, "NoSuchKey"):
                    raise StoreError(
                        f"content {sha256} is missing from {self.describe()}",
                        hint="the bucket was changed outside etiket_sync_agent; re-sync the "
                        "dataset",
                    ) from None
                raise
        return reply["Body"]  # a streaming body: read(n), close(), a context manager

    def delete(self, sha256: str) -> bool:
        if not self.exists(sha256):
            return False
        with self._errors("delete"):
            self.client.delete_object(Bucket=self.settings.bucket, Key=self.key(sha256))
        return True

    def iter_blobs(self) -> Iterator[str]:
        for sha256, _modified in self._list():
            yield sha256

    def gc_candidates(self, older_than: float) -> Iterator[str]:
        """Objects stored at least ``older_than`` seconds ago: younger ones may be an
        upload of another agent whose catalog row is not committed yet."""
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=older_than)
        for sha256, modified in self._list():
            if modified <= cutoff:
                yield sha256

    def clean_tmp(self, older_than: float = 24 * 3600, dry_run: bool = False) -> int:
        """Temp files as the local storage does, plus multipart uploads under the prefix
        initiated more than :data:`UPLOAD_GRACE_S` (or ``older_than``, if longer) ago."""
        removed = clean_tmp_dir(self.tmp_dir, older_than, dry_run)
        return removed + self.abort_stale_uploads(max(older_than, UPLOAD_GRACE_S), dry_run)

    # -- beyond the contract ------------------------------------------------------------
    def send(
        self, tmp: Path, sha256: str, size: int, part_sums: dict[int, str] | None = None
    ) -> None:
        """Put the file ``tmp`` into the bucket as the content ``sha256`` (``part_sums``:
        the SHA-256 of its multipart parts, when known)."""
        key = self.key(sha256)
        with self._errors("upload to"):
            if size < self.settings.multipart_threshold:
                uploads.put_small(self.client, self.settings, key, tmp, sha256)
            else:
                uploads.put_multipart(
                    self.client,
                    self.settings,
                    self.ledger,
                    key,
                    tmp,
                    sha256,
                    size,
                    self.progress,
                    part_sums,
                )

    def send_snapshot(self, snap: Snapshot) -> None:
        """Send a file hashed in place, then make sure it did not change meanwhile; if it
        did, the object (whose key names the hashed content) is removed and StoreError
        raised."""
        self.send(snap.path, snap.sha256, snap.size, snap.part_sums or None)
        try:
            snap.check_unchanged()
        except StoreError:
            with self._errors("delete from"):
                self.client.delete_object(Bucket=self.settings.bucket, Key=self.key(snap.sha256))
            raise

    def _part_size(self, size: int) -> int | None:
        if size < self.settings.multipart_threshold:
            return None
        return uploads.part_size_for(self.settings, size)

    def abort_stale_uploads(self, older_than: float, dry_run: bool = False) -> int:
        """Abort multipart uploads under the prefix initiated ``older_than`` seconds ago
        or earlier (whichever agent started them); returns how many (would be) aborted."""
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=older_than)
        aborted = 0
        with self._errors("list the uploads of"):
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.settings.bucket, Prefix=self.settings.key_prefix + "blobs/"
            )
            for page in pages:
                for up in page.get("Uploads", []):
                    if up["Initiated"] <= cutoff and dry_run:
                        aborted += 1
                    elif up["Initiated"] <= cutoff:
                        uploads._abort(self.client, self.settings, up["Key"], up["UploadId"])
                        self.ledger.forget(up["Key"])
                        aborted += 1
        return aborted

    def check_writable(self) -> None:
        """Write, read back and delete a probe object; StoreError saying what failed."""
        key = f"{self.settings.key_prefix}probe/{time.time_ns()}"
        with self._errors("write to"):
            self.client.put_object(Bucket=self.settings.bucket, Key=key, Body=b"etiket probe")
            try:
                got = self.client.get_object(Bucket=self.settings.bucket, Key=key)["Body"].read()
            finally:
                self.client.delete_object(Bucket=self.settings.bucket, Key=key)
        if got != b"etiket probe":
            raise StoreError(f"{self.describe()} returned other bytes than were written")

    def check_reachable(self) -> None:
        """HEAD the bucket; StoreError if it cannot be reached or does not exist."""
        with self._errors("reach"):
            self.client.head_bucket(Bucket=self.settings.bucket)

    def _list(self) -> Iterator[tuple[str, datetime]]:
        prefix = self.settings.key_prefix + "blobs/"
        with self._errors("list"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.settings.bucket, Prefix=prefix
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    name = obj["Key"].rsplit("/", 1)[-1]
                    if len(name) == 64:
                        yield name, obj["LastModified"]

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """botocore's errors as one StoreError line (credentials never appear in them)."""
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            module = type(exc).__module__ or ""
            if not (module.startswith("botocore") or module.startswith("urllib3")):
                raise
            raise StoreError(
                f"cannot {what} {self.describe()}: {exc}",
                hint="check the bucket, the endpoint URL, the network and the AWS "
                "credentials (environment or profile)",
            ) from exc
