"""Uploads one file into a bucket, printing how many parts the server acknowledged.

Run by ``test_s3_uploads.py`` as a real agent-like process that the test SIGKILLs half
way. ``pause`` seconds after each part stand for a slow lab network, so the kill lands
between parts on a fast machine too.

Usage: python _s3_upload_worker.py ENDPOINT BUCKET ROOT FILE PAUSE
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from etiket_sync_agent.store.s3 import S3BlobStorage, S3Settings

MiB = 1 << 20


def main() -> None:
    endpoint, bucket, root, path, pause = sys.argv[1:6]
    settings = S3Settings(
        bucket=bucket, endpoint_url=endpoint, multipart_threshold=8 * MiB, part_size=5 * MiB
    )

    lock = threading.Lock()
    acked: list[int] = []

    def progress(sent) -> None:  # noqa: ANN001 - called from the upload threads
        with lock:
            acked.append(sent.number)
            print(f"acked {len(acked)} {sent.n_parts} {sent.number}", flush=True)
        time.sleep(float(pause))

    storage = S3BlobStorage(settings, Path(root), progress=progress)
    sha256, size = storage.put(Path(path))
    print(f"done {sha256} {size}", flush=True)


if __name__ == "__main__":
    main()
