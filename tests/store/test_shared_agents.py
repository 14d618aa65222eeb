"""Two agents (two homes, real ``etiket-sync`` processes) syncing the same folders into one
shared store — a PostgreSQL catalog and an S3 bucket on the test server — at once."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ETIKET_SYNC
from tests.helpers import make_dataset
from tests.store.s3server import S3Server, s3_env


def test_two_agents_share_one_catalog_and_bucket(
    s3_server: S3Server, make_pg_database: Callable[[], str], tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    shared = {
        **s3_env(s3_server),
        "ETIKET_SYNC_STORE_URL": make_pg_database(),
        "ETIKET_SYNC_S3_BUCKET": bucket,
        "ETIKET_SYNC_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "ETIKET_SYNC_S3_PREFIX": "lab",
        "COLUMNS": "200",
    }
    data = tmp_path / "data"  # a folder both PCs see at the same path (a network share)
    big = os.urandom(1 << 20) * 9
    for i in range(5):
        make_dataset(data, f"run{i}", {"data.txt": f"run {i}\n", "same.bin": big})
    homes = [tmp_path / "pc1", tmp_path / "pc2"]

    def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**shared, "ETIKET_SYNC_HOME": str(home)}
        proc = subprocess.run(
            [ETIKET_SYNC, *args], capture_output=True, text=True, env=env, timeout=300
        )
        assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
        return proc

    for home in homes:
        cli(home, "scopes", "create", "proj")
        cli(
            home,
            "add-source",
            "folderbase",
            "lab",
            "--scope",
            "proj",
            "--set",
            f"root_directory={data}",
        )
    runs = [
        subprocess.Popen(
            [ETIKET_SYNC, "run", "--once"],
            env={**shared, "ETIKET_SYNC_HOME": str(home)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for home in homes
    ]
    for proc in runs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{out}\n{err}"

    for home in homes:
        rows = json.loads(cli(home, "datasets", "list", "--json").stdout)
        assert sorted(r["name"] for r in rows) == [f"run{i}" for i in range(5)]  # no duplicate
        items = json.loads(cli(home, "items", "lab", "--json").stdout)
        assert {i["status"] for i in items} == {"synchronized"}
    for n, row in enumerate(rows):  # what one agent stored, the other exports
        home = homes[n % 2]
        out = tmp_path / f"export-{n}"
        cli(home, "datasets", "export", row["uuid"], str(out))
        assert (out / "same.bin").read_bytes() == big
        assert (out / "data.txt").read_text() == f"{row['name'].replace('run', 'run ')}\n"
    # content lives in the bucket only, each content once
    keys = [
        o["Key"]
        for o in s3_server.client().list_objects_v2(Bucket=bucket, Prefix="lab/")["Contents"]
    ]
    assert hashlib.sha256(big).hexdigest() in {k.rsplit("/", 1)[-1] for k in keys}
    assert len(keys) == len(set(keys))
    for home in homes:
        blob_dir = home / "store" / "blobs"
        assert (
            not blob_dir.exists()
            or not any(blob_dir.rglob("*.*"))
            and not any(p.is_file() for p in blob_dir.rglob("*"))
        )
