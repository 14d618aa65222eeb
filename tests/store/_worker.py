"""A separate process writing into a store, for the multi-process tests.

Usage: python _worker.py ROOT CATALOG_URL|"" WORKER_ID GO_FILE N
Waits for GO_FILE so that all workers start at the same moment, then opens the store
(racing the first migration), creates the same scope, and interleaves upserts and uploads
that contend on the same rows with the other workers.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

from etiket_sync_agent.store.interface import DatasetSpec, FileStatus
from etiket_sync_agent.store.local import LocalStore


def main(root: str, url: str, worker: int, go: str, n: int) -> None:
    while not Path(go).exists():
        time.sleep(0.001)
    store = LocalStore(Path(root), catalog_url=url or None)
    store.create_scope("lab")
    counter = store.upsert_dataset(DatasetSpec(uuid="counter", scope="lab", name="counter"))
    for i in range(n):
        spec = DatasetSpec(uuid=f"w{worker}-{i}", scope="lab", name=f"d{i}", alt_uid=f"alt-{i}")
        uuid = store.upsert_dataset(spec).uuid
        store.upload_file(uuid, "shared.txt", io.BytesIO(f"content {i}".encode()))
        store.upload_file(uuid, f"own-{worker}.txt", io.BytesIO(f"w{worker} {i}".encode()))
        store.upload_file(counter.uuid, "counter.txt", io.BytesIO(f"w{worker}-{i}".encode()))
        live = io.BytesIO(f"live w{worker}-{i}".encode())
        store.upload_file(counter.uuid, "live.txt", live, status=FileStatus.LIVE)
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
