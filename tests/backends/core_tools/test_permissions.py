"""A database user that owns nothing: read-only access works, missing grants are clear."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.errors import ConfigError
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources
from tests.backends.core_tools import ct_writer as ctw
from tests.backends.core_tools.conftest import add_ct_source
from tests.conftest import FAST


@pytest.fixture
def reader_role(ct_db: str) -> Iterator[str]:
    role = f"ct_reader_{secrets.token_hex(4)}"
    with ctw.admin() as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'reader-pw'")
        conn.execute(f'GRANT CONNECT ON DATABASE "{ct_db}" TO {role}')
    try:
        yield role
    finally:
        ctw.drop_database(ct_db)  # its grants go with it
        with ctw.admin() as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_a_user_without_grants_gets_the_grant_it_needs(
    runtime: Runtime, ct_db: str, writer: ctw.Writer, reader_role: str
) -> None:
    h = writer.complete("measured by postgres", ctw.one_d("x", 20))
    settings = {"user": reader_role, "password": "reader-pw", "auto_scope_per_project": True}
    with pytest.raises(ConfigError, match="may not read table global_measurement_overview") as e:
        add_ct_source(runtime, ct_db, **settings)
    assert f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader_role}" in e.value.hint

    with ctw.admin(ct_db) as conn:
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader_role}")
    add_ct_source(runtime, ct_db, **settings)
    SyncEngine(runtime, FAST).run(once=True)
    item = sources.list_items(runtime, "ct")[0]
    oids = [a.oid for a in h.arrays]
    assert item["status"] == "failed"
    named = [o for o in oids if f"may not read large object {o} " in item["last_error"]]
    assert len(named) == 1
    assert f"GRANT SELECT ON LARGE OBJECT {named[0]} TO {reader_role}" in item["last_error"]

    with ctw.admin(ct_db) as conn:
        for oid in oids:
            conn.execute(f"GRANT SELECT ON LARGE OBJECT {oid} TO {reader_role}")
    sources.retry(runtime, "ct")
    SyncEngine(runtime, FAST).run(once=True)
    assert sources.list_items(runtime, "ct")[0]["status"] == "synchronized"
    d = runtime.store.find_dataset(scope="CT_PROJECT_qubits", alt_uid=str(h.uuid))
    assert d is not None and d.name == "measured by postgres"
    # the agent's role never wrote anything: it owns no object in the database
    with ctw.admin(ct_db) as conn:
        owned = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = to_regrole(%s)", (reader_role,)
        ).fetchone()[0]
        lo_owned = conn.execute(
            "SELECT count(*) FROM pg_largeobject_metadata WHERE lomowner = to_regrole(%s)",
            (reader_role,),
        ).fetchone()[0]
    assert owned == 0 and lo_owned == 0
