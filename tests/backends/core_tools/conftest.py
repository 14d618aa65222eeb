"""Fixtures of the core-tools backend tests: fresh core-tools databases on the real
PostgreSQL of the machine (127.0.0.1:5432, user postgres), dropped after each test.

If the server is not reachable these tests FAIL; ``ETIKET_SKIP_POSTGRES=1`` skips them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg")

from etiket_sync_agent.runtime import Runtime  # noqa: E402
from etiket_sync_agent.services import sources  # noqa: E402
from tests.backends.core_tools import ct_writer  # noqa: E402


@pytest.fixture(scope="session")
def postgres() -> None:
    try:
        with ct_writer.admin():
            pass
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL is not reachable on 127.0.0.1:5432 as postgres: {exc}"
        if os.environ.get("ETIKET_SKIP_POSTGRES") == "1":
            pytest.skip(message)
        pytest.fail(f"{message} (set ETIKET_SKIP_POSTGRES=1 to skip)", pytrace=False)


@pytest.fixture
def ct_db(postgres: None) -> Iterator[str]:
    """A new database holding the core-tools schema 1.0.0 + 1.1.0 (corpus DDL)."""
    name = ct_writer.create_database()
    try:
        ct_writer.apply_schema(name)
        yield name
    finally:
        ct_writer.drop_database(name)


@pytest.fixture
def writer(ct_db: str) -> Iterator[ct_writer.Writer]:
    w = ct_writer.Writer(ct_db)
    yield w
    w.close()


def add_ct_source(
    rt: Runtime,
    dbname: str,
    name: str = "ct",
    mappings: dict[str, str] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    for scope in (mappings or {}).values():
        if rt.store.get_scope(scope) is None:
            rt.store.create_scope(scope)
    return sources.add_source(
        rt,
        "core_tools",
        name,
        settings={"dbname": dbname, "user": "postgres", "host": "127.0.0.1", **settings},
        scope_mappings=mappings,
    )
