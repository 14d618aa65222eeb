"""S3 uploads: the agent's blob storage against boto3's managed ``upload_file``.

Measured in the same run, against moto's S3 server started as its own process on
127.0.0.1 (fake credentials in this process's environment only):

1. throughput of ``--files`` files of ``--size-mib`` MiB each:
   * the baseline: boto3 ``upload_file`` (s3transfer: 8 MiB parts, 10 threads) with the
     same checksum (``ChecksumAlgorithm=SHA256``);
   * the agent's transfer alone (``S3BlobStorage.send``: resumable parts, a SHA-256 per
     part, ledger commits, check after completion);
   * the agent's whole path (``S3BlobStorage.put`` of a path: hashed in place — the whole
     file's SHA-256 and each part's in one read — then sent from where it is, each part
     with its checksum, the file checked unchanged afterwards);
2. resume (8 MiB parts): an upload stopped after half of its parts (the process is not killed here —
   ``tests/store/test_s3_uploads.py`` does that), then resumed; the bytes sent again as
   a fraction of the file.

Every object is deleted between runs (moto keeps them in memory).

    python bench/bench_s3.py --files 8 --size-mib 128
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from etiket_sync_agent.store.s3 import S3BlobStorage, S3Settings  # noqa: E402

MiB = 1 << 20
os.environ.update(
    AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
)


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto server did not start")


def make_files(folder: Path, n: int, size: int) -> list[Path]:
    paths = []
    for i in range(n):
        path = folder / f"f{i}.bin"
        block = os.urandom(MiB)
        with open(path, "wb") as fh:
            for j in range(size // MiB):
                fh.write(j.to_bytes(8, "little") + i.to_bytes(8, "little") + block[16:])
        paths.append(path)
    return paths


def empty(client, bucket: str) -> None:  # noqa: ANN001
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])


def timed(fn) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--size-mib", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    size = args.size_mib * MiB
    proc, endpoint = start_moto()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-s3-") as tmp:
            tmp_path = Path(tmp)
            files = make_files(tmp_path, args.files, size)
            shas = [hashlib.sha256(p.read_bytes()).hexdigest() for p in files]
            settings = S3Settings("bench", endpoint_url=endpoint)
            storage = S3BlobStorage(settings, tmp_path / "store")
            client = storage.client
            client.create_bucket(Bucket="bench")
            from boto3.s3.transfer import TransferConfig

            baseline_cfg = TransferConfig()  # boto3's defaults: 8 MiB parts, 10 threads
            results: dict[str, list[float]] = {"boto3": [], "send": [], "put": []}
            for _ in range(args.repeats):
                empty(client, "bench")
                results["boto3"].append(
                    timed(
                        lambda: [
                            client.upload_file(
                                str(p),
                                "bench",
                                f"base/{p.name}",
                                ExtraArgs={"ChecksumAlgorithm": "SHA256"},
                                Config=baseline_cfg,
                            )
                            for p in files
                        ]
                    )
                )
                empty(client, "bench")
                results["send"].append(
                    timed(
                        lambda: [storage.send(p, s, size) for p, s in zip(files, shas, strict=True)]
                    )
                )
                empty(client, "bench")
                results["put"].append(timed(lambda: [storage.put(p) for p in files]))
            total = args.files * size
            best = {k: min(v) for k, v in results.items()}
            print(
                f"{args.files} x {args.size_mib} MiB to moto on 127.0.0.1, best of {args.repeats}"
            )
            for key, label in (
                ("boto3", "boto3 upload_file (SHA256)"),
                ("send", "agent send (resumable)"),
                ("put", "agent put (hash+send)"),
            ):
                rate = total / best[key] / MiB
                ratio = best["boto3"] / best[key]
                print(f"  {label:28s} {best[key]:7.2f} s  {rate:7.1f} MiB/s  {ratio:5.0%} of boto3")

            # resume: stop after half of the parts, then resume
            empty(client, "bench")

            class Stop(Exception):
                pass

            seen: list[int] = []

            def stop_at_half(part) -> None:  # noqa: ANN001
                seen.append(part.size)
                if len(seen) >= part.n_parts // 2:
                    raise Stop

            small_parts = S3Settings("bench", endpoint_url=endpoint, part_size=8 * MiB)
            resumer = S3BlobStorage(small_parts, tmp_path / "store", client=client)
            resumer.progress = stop_at_half
            with contextlib.suppress(Stop):
                resumer.send(files[0], shas[0], size)
            again: list[int] = []
            resumer.progress = lambda part: again.append(part.size)
            resumer.send(files[0], shas[0], size)
            resumer.close()
            print(
                f"  resume: stopped once 50% of the parts were acknowledged ({sum(seen) / size:.0%}"
                f" acknowledged with the parts in flight); {sum(again) / size:.0%} of the"
                " bytes sent again"
            )
            storage.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
