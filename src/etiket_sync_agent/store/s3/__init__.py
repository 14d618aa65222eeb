"""Blob storage on an S3-compatible bucket (AWS, MinIO, Ceph, a university's S3).

* :mod:`.settings` — :class:`S3Settings` (bucket, prefix, endpoint, region, checksum
  mode, part sizes) and the boto3 client; credentials come from the AWS chain only;
* :mod:`.storage` — :class:`S3BlobStorage`, the
  :class:`~etiket_sync_agent.store.blob_interface.BlobStorage` implementation;
* :mod:`.uploads` — single PUTs and resumable, verified multipart uploads;
* :mod:`.ledger` — the multipart uploads in progress, on disk, for resuming after a kill.

boto3 is imported only when a client is made, so agents without S3 never load it.
"""

from etiket_sync_agent.store.s3.settings import CHECKSUM_MODES, S3Settings
from etiket_sync_agent.store.s3.storage import S3BlobStorage

__all__ = ["CHECKSUM_MODES", "S3BlobStorage", "S3Settings"]
