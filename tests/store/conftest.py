"""Fixtures of the store tests: PostgreSQL databases and moto's S3 server (on 127.0.0.1,
started once per session) on which ``test_contract.py`` runs the store contract suite of
:mod:`etiket_sync_agent.testing` — SQLite + local folder, PostgreSQL + local folder,
PostgreSQL + S3 (a fresh bucket per test).

PostgreSQL runs on every machine of this project (127.0.0.1:5432, user ``postgres``, trust
auth). Each test module gets a fresh database, dropped at teardown. If the server is not
reachable the PostgreSQL tests FAIL — set ``ETIKET_SKIP_POSTGRES=1`` to skip them instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from etiket_sync_agent.store.blob_interface import BlobStorage
from tests.store.s3server import S3Server, running_s3_server

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
MiB = 1 << 20
START_HINT = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def _admin():  # noqa: ANN202 - psycopg is imported lazily
    import psycopg

    return psycopg.connect(
        host=PG_HOST,
        port=PG_PORT,
        user=PG_USER,
        dbname="postgres",
        autocommit=True,
        connect_timeout=3,
    )


def pg_url_for(dbname: str) -> str:
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{dbname}"


@pytest.fixture(scope="session")
def postgres_server() -> None:
    """Fails (or skips with ETIKET_SKIP_POSTGRES=1) when PostgreSQL is unreachable."""
    try:
        import psycopg

        with _admin():
            pass
    except (ImportError, psycopg.OperationalError) as exc:
        message = f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT} as {PG_USER}: {exc}"
        if os.environ.get("ETIKET_SKIP_POSTGRES") == "1":
            pytest.skip(message)
        pytest.fail(
            f"{message}\nStart it with `{START_HINT}`, or set ETIKET_SKIP_POSTGRES=1 to skip.",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def make_pg_database(postgres_server: None) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty databases; all are dropped when the module ends."""
    created: list[str] = []

    def make() -> str:
        name = f"etiket_test_{secrets.token_hex(6)}"
        with _admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return pg_url_for(name)

    yield make
    with _admin() as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def pg_url(make_pg_database: Callable[[], str]) -> str:
    """The module's PostgreSQL catalog database."""
    return make_pg_database()


def _truncate(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
        c.execute("TRUNCATE scopes, datasets, files, file_versions RESTART IDENTITY CASCADE")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 (a random port) for the whole session."""
    with running_s3_server() as server:
        yield server


def s3_storage(server: S3Server, root: Path, bucket: str, **options: object) -> BlobStorage:
    """Blob storage in ``bucket``; small parts so that tests exercise multipart uploads."""
    from etiket_sync_agent.store.s3 import S3BlobStorage, S3Settings

    settings = S3Settings(
        bucket=bucket,
        endpoint_url=server.endpoint_url,
        prefix="lab",
        multipart_threshold=8 * MiB,
        part_size=5 * MiB,
        **options,  # type: ignore[arg-type]
    )
    return S3BlobStorage(settings, root)


@pytest.fixture
def pg_catalog(pg_url: str) -> Iterator[str]:
    """The module's PostgreSQL catalog database, emptied after the test."""
    yield pg_url
    _truncate(pg_url)
