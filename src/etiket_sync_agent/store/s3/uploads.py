"""Putting one staged file into the bucket: single PUT or resumable, verified multipart.

* Below ``multipart_threshold``: one ``PutObject`` carrying the whole file's SHA-256
  (``sha256`` mode) or its MD5 (``md5`` mode), so the server rejects a body damaged on
  the way.
* Otherwise a multipart upload (``max_concurrency`` parts in flight) whose id and
  acknowledged parts are kept in the :class:`~.ledger.UploadLedger`: a killed agent
  re-stages the same content (same key), finds the upload, asks the server which parts
  it holds (``ListParts``) and sends only the others. Every part carries its own SHA-256
  (or MD5). After ``Complete`` the object is checked with ``HeadObject``: its size, and
  its composite checksum (SHA-256 of the parts' SHA-256 digests) or, in ``md5`` mode, its
  ETag (MD5 of the parts' MD5s, ``-N``). A mismatch deletes the object (its key names
  content it does not hold) and raises.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etiket_sync_agent.errors import StoreError
from etiket_sync_agent.store.s3.ledger import Part, UploadLedger
from etiket_sync_agent.store.s3.settings import MAX_PARTS, S3Settings


@dataclass(frozen=True)
class PartSent:
    """Progress of a multipart upload, reported after each part the server acknowledged."""

    key: str
    number: int
    n_parts: int
    size: int


ProgressCallback = Callable[[PartSent], None]


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def is_missing(exc: Exception, *codes: str) -> bool:
    """Whether a botocore ClientError carries one of ``codes`` (or a 404)."""
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.get("Code") in codes or status == 404


def put_small(client: Any, s: S3Settings, key: str, tmp: Path, sha256_hex: str) -> None:
    """One PutObject of the whole file, checked by the server; then the size is checked."""
    data = tmp.read_bytes()
    extra: dict[str, Any] = {}
    if s.checksum == "sha256":
        extra["ChecksumSHA256"] = b64(bytes.fromhex(sha256_hex))
    elif s.checksum == "md5":
        extra["ContentMD5"] = b64(hashlib.md5(data).digest())
    client.put_object(Bucket=s.bucket, Key=key, Body=data, **extra)
    _verify(client, s, key, len(data), composite=None, etag=None)


def part_size_for(s: S3Settings, size: int) -> int:
    """The configured part size, grown when the file would need more than 10,000 parts."""
    part = s.part_size
    while -(-size // part) > MAX_PARTS:
        part *= 2
    return part


def put_multipart(
    client: Any,
    s: S3Settings,
    ledger: UploadLedger,
    key: str,
    tmp: Path,
    sha256_hex: str,
    size: int,
    progress: ProgressCallback | None = None,
    part_sums: dict[int, str] | None = None,
) -> None:
    """Upload ``tmp`` as ``key`` in parts, resuming a recorded upload of the same content.

    ``part_sums``: the parts' SHA-256 (base64) if already known (see :mod:`.snapshot`);
    a part is then sent with that checksum instead of being hashed again.
    """
    part_size = part_size_for(s, size)
    n_parts = max(1, -(-size // part_size))
    upload_id, done = _resume(client, s, ledger, key, sha256_hex, size, part_size)
    if upload_id is None:
        extra = {"ChecksumAlgorithm": "SHA256"} if s.checksum == "sha256" else {}
        upload_id = client.create_multipart_upload(Bucket=s.bucket, Key=key, **extra)["UploadId"]
        ledger.start(key, sha256_hex, size, part_size, upload_id)
        done = {}
    todo = [n for n in range(1, n_parts + 1) if n not in done]

    def send(number: int) -> None:
        # each part read on its own: at most ``max_concurrency`` parts are in memory
        with open(tmp, "rb") as fh:
            fh.seek((number - 1) * part_size)
            data = fh.read(part_size)
        known = None if part_sums is None else part_sums.get(number)
        part = _send_part(client, s, key, upload_id, number, data, known)
        ledger.add_part(upload_id, part)  # only acknowledged parts are recorded
        done[number] = part
        if progress is not None:
            progress(PartSent(key, number, n_parts, len(data)))

    if s.max_concurrency <= 1 or len(todo) <= 1:
        for number in todo:
            send(number)
    else:
        with ThreadPoolExecutor(s.max_concurrency, thread_name_prefix="etiket-s3") as pool:
            futures = [pool.submit(send, n) for n in todo]
            try:
                for future in futures:
                    future.result()  # the first failure stops the upload; it resumes later
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    parts = [done[n] for n in range(1, n_parts + 1)]
    listing = []
    for p in parts:
        entry: dict[str, Any] = {"PartNumber": p.number, "ETag": p.etag}
        if s.checksum == "sha256":
            entry["ChecksumSHA256"] = p.sha256
        listing.append(entry)
    client.complete_multipart_upload(
        Bucket=s.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": listing}
    )
    ledger.forget(key)
    composite = b64(hashlib.sha256(b"".join(base64.b64decode(p.sha256) for p in parts)).digest())
    etag = None
    if all(p.md5 for p in parts):  # md5 mode: the multipart ETag is the MD5 of the MD5s
        md5s = hashlib.md5(b"".join(bytes.fromhex(p.md5) for p in parts)).hexdigest()
        etag = f"{md5s}-{len(parts)}"
    _verify(client, s, key, size, composite=composite, etag=etag)


def _send_part(
    client: Any,
    s: S3Settings,
    key: str,
    upload_id: str,
    number: int,
    data: bytes,
    sha_b64: str | None = None,
) -> Part:
    """Send one part; ``sha_b64`` is its SHA-256 when known (else it is hashed here).
    The MD5 is computed only in ``md5`` mode (it costs more than the SHA-256)."""
    sha = sha_b64 if sha_b64 is not None else b64(hashlib.sha256(data).digest())
    md5 = hashlib.md5(data).digest() if s.checksum == "md5" else b""
    extra: dict[str, Any] = {}
    if s.checksum == "sha256":
        extra = {"ChecksumAlgorithm": "SHA256", "ChecksumSHA256": sha}
    elif s.checksum == "md5":
        extra = {"ContentMD5": b64(md5)}
    reply = client.upload_part(
        Bucket=s.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data, **extra
    )
    return Part(number, reply["ETag"], sha, md5.hex(), len(data))


def _resume(
    client: Any,
    s: S3Settings,
    ledger: UploadLedger,
    key: str,
    sha256_hex: str,
    size: int,
    part_size: int,
) -> tuple[str | None, dict[int, Part]]:
    """The recorded upload of this content and its parts the server still holds."""
    found = ledger.find(key)
    if found is None:
        return None, {}
    upload, parts = found
    if (upload.sha256, upload.size, upload.part_size) != (sha256_hex, size, part_size):
        _abort(client, s, key, upload.upload_id)
        ledger.forget(key)
        return None, {}
    try:
        on_server = _listed_etags(client, s, key, upload.upload_id)
    except Exception as exc:
        if not is_missing(exc, "NoSuchUpload"):
            raise
        ledger.forget(key)  # aborted or expired on the server: start again
        return None, {}
    kept = {p.number: p for p in parts if on_server.get(p.number) == p.etag}
    return upload.upload_id, kept


def _listed_etags(client: Any, s: S3Settings, key: str, upload_id: str) -> dict[int, str]:
    etags: dict[int, str] = {}
    marker = 0
    while True:
        page = client.list_parts(
            Bucket=s.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker
        )
        for p in page.get("Parts", []):
            etags[p["PartNumber"]] = p["ETag"]
        if not page.get("IsTruncated"):
            return etags
        marker = page["NextPartNumberMarker"]


def _abort(client: Any, s: S3Settings, key: str, upload_id: str) -> None:
    try:
        client.abort_multipart_upload(Bucket=s.bucket, Key=key, UploadId=upload_id)
    except Exception as exc:
        if not is_missing(exc, "NoSuchUpload"):
            raise


def _verify(
    client: Any, s: S3Settings, key: str, size: int, *, composite: str | None, etag: str | None
) -> None:
    """HEAD the new object: size always; the composite SHA-256 when the server returns
    one; the multipart ETag in ``md5`` mode. Deletes the object and raises on mismatch."""
    extra = {"ChecksumMode": "ENABLED"} if s.checksum == "sha256" else {}
    head = client.head_object(Bucket=s.bucket, Key=key, **extra)
    problems = []
    if head["ContentLength"] != size:
        problems.append(f"{head['ContentLength']} bytes instead of {size}")
    got = head.get("ChecksumSHA256")
    if composite is not None and got and got.split("-")[0] != composite:
        problems.append(f"composite SHA-256 {got} instead of {composite}")
    if s.checksum == "md5" and etag is not None and head.get("ETag", "").strip('"') != etag:
        problems.append(f"ETag {head.get('ETag')} instead of {etag}")
    if problems:
        client.delete_object(Bucket=s.bucket, Key=key)
        raise StoreError(
            f"the object {key} in bucket {s.bucket} is not what was sent: {'; '.join(problems)}",
            hint="it was removed; the upload is retried on the next sync",
        )
