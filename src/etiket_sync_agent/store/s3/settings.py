"""Where and how to reach a bucket: :class:`S3Settings`, and the boto3 client made from it.

Credentials are never part of the settings: boto3 finds them through the standard AWS
chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE`` and the shared
credentials file, instance roles...).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from etiket_sync_agent.errors import ConfigError

_SESSION: Any = None
_SESSION_LOCK = threading.Lock()

MiB = 1 << 20
#: S3's smallest part (every part but the last) and most parts of one upload
MIN_PART_SIZE = 5 * MiB
MAX_PARTS = 10_000

CHECKSUM_MODES = ("sha256", "md5", "off")
"""How parts and small objects are protected on the wire:

* ``sha256`` (default) — every request carries ``x-amz-checksum-sha256`` of its body,
  checked by the server; the object's composite checksum is compared after completion;
* ``md5`` — ``Content-MD5`` only, for S3-compatible servers that reject the flexible
  checksum headers (botocore's newer defaults are switched off too);
* ``off`` — no checksum headers at all beyond what the server requires.
"""


@dataclass(frozen=True)
class S3Settings:
    """A bucket and the way to talk to it (no credentials)."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    checksum: str = "sha256"
    #: files at least this big go up as multipart uploads that resume after a crash
    multipart_threshold: int = 64 * MiB
    part_size: int = 16 * MiB
    #: parts sent at once (each holds one part in memory)
    max_concurrency: int = 4

    def __post_init__(self) -> None:
        if not self.bucket:
            raise ConfigError("the S3 bucket name is empty", hint="pass --s3-bucket NAME")
        if self.checksum not in CHECKSUM_MODES:
            raise ConfigError(
                f"unknown S3 checksum mode {self.checksum!r}",
                hint=f"use one of {', '.join(CHECKSUM_MODES)}",
            )
        if self.part_size < MIN_PART_SIZE:
            raise ConfigError(f"the S3 part size must be at least {MIN_PART_SIZE} bytes")

    @property
    def key_prefix(self) -> str:
        """The prefix with exactly one trailing ``/`` (empty when there is none)."""
        p = self.prefix.strip("/")
        return f"{p}/" if p else ""

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.key_prefix}"
        return where + (f" at {self.endpoint_url}" if self.endpoint_url else "")

    def client(self) -> Any:
        """A boto3 S3 client (boto3 imported here: only agents using S3 pay for it)."""
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            raise ConfigError(
                "the store is configured to use S3 but boto3 is not installed",
                hint="pip install 'etiket_sync_agent[s3]'",
            ) from exc
        options: dict[str, Any] = {
            "retries": {"max_attempts": 5, "mode": "standard"},
            "connect_timeout": 10,
            "read_timeout": 60,
        }
        if self.checksum != "sha256":
            # servers that reject the flexible-checksum headers botocore adds by default
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        if self.endpoint_url:
            options["s3"] = {"addressing_style": "path"}  # most self-hosted servers
        global _SESSION
        # one session per process: it caches the parsed service models (a new session
        # costs ~0.3 s per client); sessions are not thread-safe, their clients are
        with _SESSION_LOCK:
            if _SESSION is None:
                _SESSION = boto3.session.Session()
            return _SESSION.client(
                "s3",
                endpoint_url=self.endpoint_url or None,
                region_name=self.region or None,
                config=Config(**options),
            )
