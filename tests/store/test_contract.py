"""The DatasetStore contract (``etiket_sync_agent.testing``) on the three stores we ship:
SQLite + local folder, PostgreSQL + local folder, PostgreSQL + an S3 bucket."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from etiket_sync_agent.store.local import LocalStore
from etiket_sync_agent.testing import BlobStorageContractTests
from tests.store.conftest import s3_storage
from tests.store.s3server import S3Server


class TestSQLiteLocalFolder(BlobStorageContractTests):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Callable[[], LocalStore]:
        return lambda: LocalStore(tmp_path / "store")


class TestPostgresLocalFolder(BlobStorageContractTests):
    @pytest.fixture
    def make_store(self, tmp_path: Path, pg_catalog: str) -> Callable[[], LocalStore]:
        return lambda: LocalStore(tmp_path / "store", catalog_url=pg_catalog)


class TestPostgresS3(BlobStorageContractTests):
    @pytest.fixture
    def make_store(
        self, tmp_path: Path, pg_catalog: str, s3_server: S3Server
    ) -> Callable[[], LocalStore]:
        bucket = s3_server.new_bucket()

        def make() -> LocalStore:
            blobs = s3_storage(s3_server, tmp_path / "store", bucket)
            return LocalStore(tmp_path / "store", catalog_url=pg_catalog, blobs=blobs)

        return make


def test_upload_files_commit_one_catalog_transaction_per_group(tmp_path: Path) -> None:
    from sqlalchemy import event

    from etiket_sync_agent.store.interface import DatasetSpec, FileUpload
    from etiket_sync_agent.store.local import batch

    store = LocalStore(tmp_path / "store")
    try:
        store.create_scope("lab")
        uuid = store.upsert_dataset(DatasetSpec(uuid="d", scope="lab", name="d")).uuid
        commits: list[int] = []
        event.listen(store._engine, "commit", lambda _conn: commits.append(1))  # noqa: SLF001
        n = batch.GROUP_FILES + 10
        files = [FileUpload(f"f{i}", io.BytesIO(b"%d" % i)) for i in range(n)]
        assert len(store.upload_files(uuid, files)) == n
        assert len(commits) == 2
        assert len(store.get_dataset(uuid).files) == n
    finally:
        store.close()
