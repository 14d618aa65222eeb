"""S3 uploads against a real S3-compatible server (moto on 127.0.0.1): resuming after a
SIGKILL, content addressing across agents, checksum modes, stale uploads."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from etiket_sync_agent.errors import ConfigError, StoreError
from etiket_sync_agent.store.interface import DatasetSpec
from etiket_sync_agent.store.local import LocalStore
from etiket_sync_agent.store.s3 import S3BlobStorage, S3Settings
from tests.store.conftest import s3_storage
from tests.store.s3server import S3Server, s3_env

MiB = 1 << 20
WORKER = Path(__file__).with_name("_s3_upload_worker.py")


def _sha_of_object(storage: S3BlobStorage, sha256: str) -> str:
    digest = hashlib.sha256()
    with storage.open(sha256) as body:
        while chunk := body.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


def _payload(path: Path, size: int) -> str:
    """A file of ``size`` bytes whose parts all differ; returns its sha256."""
    block = os.urandom(MiB)
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        for i in range(size // MiB):
            chunk = i.to_bytes(8, "little") + block[8:]
            fh.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def test_a_killed_upload_resumes_from_its_last_part(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.new_bucket()
    root = tmp_path / "store"
    src = tmp_path / "big.bin"
    size = 60 * MiB  # 12 parts of 5 MiB
    expected = _payload(src, size)
    args = [sys.executable, str(WORKER), s3_server.endpoint_url, bucket, str(root), str(src)]
    proc = subprocess.Popen(
        [*args, "0.3"], stdout=subprocess.PIPE, text=True, env=s3_env(s3_server)
    )
    killed_after = 0
    try:
        for line in proc.stdout:  # blocks until the next part is acknowledged
            words = line.split()
            if words[0] == "acked" and int(words[1]) >= int(words[2]) // 2:
                os.kill(proc.pid, signal.SIGKILL)  # the agent dies, mid-upload
                killed_after = int(words[1])
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL and killed_after >= 6

    storage = S3BlobStorage(
        S3Settings(
            bucket,
            endpoint_url=s3_server.endpoint_url,
            multipart_threshold=8 * MiB,
            part_size=5 * MiB,
        ),
        root,
    )
    try:
        assert not storage.exists(expected)  # nothing half-visible
        (upload,) = storage.ledger.all()
        assert upload.sha256 == expected
        sent: list[int] = []
        storage.progress = lambda part: sent.append(part.size)
        assert storage.put(src) == (expected, size)
        # at most ~60 % of the bytes went again (the kill came after half of the parts)
        assert 0 < sum(sent) <= 0.6 * size, sum(sent)
        assert _sha_of_object(storage, expected) == expected
        assert storage.ledger.all() == []
        assert storage.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
        # a path is sent from where it is: the killed worker left no temp copy behind
        assert storage.clean_tmp(older_than=3600) == 0 and list(storage.tmp_dir.iterdir()) == []
    finally:
        storage.close()


def test_a_recorded_upload_the_server_forgot_starts_again(
    s3_server: S3Server, tmp_path: Path
) -> None:
    storage = s3_storage(s3_server, tmp_path / "store", s3_server.new_bucket())
    try:
        src = tmp_path / "f.bin"
        expected = _payload(src, 12 * MiB)
        storage.ledger.start(storage.key(expected), expected, 12 * MiB, 5 * MiB, "no-such-id")
        assert storage.put(src) == (expected, 12 * MiB)
        assert _sha_of_object(storage, expected) == expected
        assert storage.ledger.all() == []
    finally:
        storage.close()


@pytest.mark.parametrize("mode", ["sha256", "md5", "off"])
def test_checksum_modes_store_the_right_bytes(
    s3_server: S3Server, tmp_path: Path, mode: str
) -> None:
    storage = s3_storage(s3_server, tmp_path / "store", s3_server.new_bucket(), checksum=mode)
    try:
        big = tmp_path / "big.bin"
        for source in (io.BytesIO(b"small content"), big):
            if source is big:
                _payload(big, 11 * MiB)  # multipart: 5 + 5 + 1 MiB
            sha256, _size = storage.put(source)
            assert _sha_of_object(storage, sha256) == sha256
    finally:
        storage.close()


def test_unknown_checksum_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="checksum"):
        S3Settings("b", checksum="crc32")


def test_stale_multipart_uploads_are_aborted(s3_server: S3Server, tmp_path: Path) -> None:
    storage = s3_storage(s3_server, tmp_path / "store", s3_server.new_bucket())
    try:
        bucket = storage.settings.bucket
        key = storage.key("ab" * 32)
        upload_id = storage.client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        storage.ledger.start(key, "ab" * 32, 6 * MiB, 5 * MiB, upload_id)
        # (moto reports every upload as initiated in 2010, so "young ones are kept" is not
        # testable here)
        assert storage.abort_stale_uploads(older_than=0) == 1
        assert storage.ledger.all() == []
        assert storage.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    finally:
        storage.close()


def test_two_agent_homes_share_one_catalog_and_bucket(
    s3_server: S3Server,
    make_pg_database,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    url, bucket = make_pg_database(), s3_server.new_bucket()
    homes = [tmp_path / "pc1" / "store", tmp_path / "pc2" / "store"]
    stores = [LocalStore(h, catalog_url=url, blobs=s3_storage(s3_server, h, bucket)) for h in homes]
    stores[0].create_scope("lab")
    shared = tmp_path / "shared.bin"
    _payload(shared, 9 * MiB)  # multipart
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def agent(i: int) -> None:
        try:
            store = stores[i]
            barrier.wait()
            for n in range(4):  # overlapping datasets: the same alt_uid from both agents
                spec = DatasetSpec(uuid=f"pc{i}-{n}", scope="lab", name=f"m{n}", alt_uid=f"g{n}")
                uuid = store.upsert_dataset(spec).uuid
                store.upload_file(uuid, "shared.bin", shared)
                store.upload_file(uuid, f"own-{i}.txt", io.BytesIO(f"pc{i} {n}".encode()))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        datasets = stores[0].list_datasets(scope="lab")
        assert sorted(d.alt_uid for d in datasets) == ["g0", "g1", "g2", "g3"]  # no duplicate
        for d in datasets:
            for i, store in enumerate(stores):  # each agent exports what both stored
                out = tmp_path / f"export-{i}-{d.alt_uid}"
                names = {p.name for p in store.export_dataset(d.uuid, out)}
                assert names == {"shared.bin", "own-0.txt", "own-1.txt"}
                assert (out / "shared.bin").read_bytes() == shared.read_bytes()
        # content addressed: the shared file is one object; the catalog and bucket agree
        referenced = {
            v.sha256
            for d in datasets
            for f in stores[1].get_dataset(d.uuid).files
            for v in f.versions
        }
        assert set(stores[1].blobs.iter_blobs()) == referenced
        assert len(referenced) == 1 + 8
    finally:
        for store in stores:
            store.close()


def _client(endpoint_url: str, **config: object):  # noqa: ANN202 - a boto3 client
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url, region_name="us-east-1", config=Config(**config)
    )


def test_a_dropped_connection_resumes_where_it_stopped(tmp_path: Path) -> None:
    """The S3 server goes away mid-upload (moto keeps its state across a restart of its
    server thread, as a real server keeps it across a network outage)."""
    from moto.server import ThreadedMotoServer

    from tests.store.s3server import _free_port, running_s3_server

    with running_s3_server():  # the fake credentials
        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
        client = _client(endpoint, retries={"max_attempts": 1}, connect_timeout=2)
        client.create_bucket(Bucket="lab")
        settings = S3Settings(
            "lab",
            endpoint_url=endpoint,
            multipart_threshold=8 * MiB,
            part_size=5 * MiB,
            max_concurrency=1,  # parts in order: the drop comes after exactly 3
        )
        storage = S3BlobStorage(settings, tmp_path / "store", client=client)
        src = tmp_path / "big.bin"
        expected = _payload(src, 40 * MiB)  # 8 parts
        sent: list[int] = []

        def network_drops_after_3_parts(part) -> None:  # noqa: ANN001
            sent.append(part.number)
            if len(sent) == 3:
                server.stop()

        storage.progress = network_drops_after_3_parts
        try:
            with pytest.raises(StoreError, match="cannot upload to"):
                storage.put(src)
            assert sent == [1, 2, 3] and storage.ledger.all() != []
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            server.start()  # the network is back
            sent.clear()
            storage.progress = lambda part: sent.append(part.number)
            assert storage.put(src) == (expected, 40 * MiB)
            assert sent == [4, 5, 6, 7, 8]
            assert _sha_of_object(storage, expected) == expected
        finally:
            storage.close()
            server.stop()


def test_a_part_damaged_on_the_way_is_caught_after_completion(
    s3_server: S3Server, tmp_path: Path
) -> None:
    """moto accepts a part whose body does not match its Content-MD5, so the fault is
    injected on the client side, after the checksum was computed; the check after
    completion (ETag in md5 mode) catches it and removes the object."""
    bucket = s3_server.new_bucket()
    client = _client(s3_server.endpoint_url)

    def damage_part_2(request, **_kw) -> None:  # noqa: ANN001
        if "partNumber=2" in request.url:
            raw = request.body
            body = bytearray(raw.read() if hasattr(raw, "read") else raw)
            body[100] ^= 0xFF
            request.body = bytes(body)

    client.meta.events.register("before-send.s3.UploadPart", damage_part_2)
    settings = S3Settings(
        bucket,
        endpoint_url=s3_server.endpoint_url,
        multipart_threshold=8 * MiB,
        part_size=5 * MiB,
        checksum="md5",
    )
    storage = S3BlobStorage(settings, tmp_path / "store", client=client)
    try:
        src = tmp_path / "big.bin"
        expected = _payload(src, 12 * MiB)
        with pytest.raises(StoreError, match="not what was sent"):
            storage.put(src)
        assert not storage.exists(expected)
    finally:
        storage.close()


def test_a_file_changed_while_it_is_sent_is_refused_and_removed(
    s3_server: S3Server, tmp_path: Path
) -> None:
    """A path is hashed in place and sent from where it is: a write to it between the
    hashing pass and the end of the transfer must not leave an object whose key names
    other bytes."""
    bucket = s3_server.new_bucket()
    src = tmp_path / "growing.bin"
    expected = _payload(src, 20 * MiB)
    storage = s3_storage(s3_server, tmp_path / "store", bucket)
    appended = threading.Event()

    def write_once_sending(part) -> None:  # noqa: ANN001 - a part was acknowledged
        if not appended.is_set():
            appended.set()
            with open(src, "ab") as fh:  # the acquisition program writes on
                fh.write(b"more")

    storage.progress = write_once_sending
    try:
        with pytest.raises(StoreError, match="changed while being read"):
            storage.put(src)
        assert appended.is_set() and not storage.exists(expected)
        assert list(storage.iter_blobs()) == []
    finally:
        storage.close()
