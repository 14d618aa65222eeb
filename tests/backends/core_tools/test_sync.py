"""The core_tools backend end to end: real core-tools databases, the real agent."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.errors import ConfigError
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import datasets, scope_mappings, sources, status
from tests.backends.core_tools import ct_writer as ctw
from tests.backends.core_tools.conftest import add_ct_source
from tests.conftest import FAST
from tests.helpers import running_engine, wait_for

LIVE_WRITER = Path(__file__).with_name("_live_writer.py")


def _items(rt: Runtime, source: str = "ct") -> dict[str, dict]:
    return {i["identifier"]: i for i in sources.list_items(rt, source)}


def _open(rt: Runtime, uuid: str) -> xr.Dataset:
    with rt.store.open_file(uuid, "measured_data.hdf5") as fh:
        return xr.load_dataset(fh, engine="h5netcdf")


def _dataset(rt: Runtime, ct_uuid: int, scope: str):  # noqa: ANN202
    return rt.store.find_dataset(scope=scope, alt_uid=str(ct_uuid))


def test_measurements_reach_the_store_with_their_metadata(
    runtime: Runtime, ct_db: str, writer: ctw.Writer
) -> None:
    h1 = writer.complete("rabi", ctw.one_d("x"), keywords=["rabi", "q1"], sample="S7")
    h2 = writer.complete("chevron", ctw.two_d(6, 3, outputs=2), set_up="fridge-1")
    add_ct_source(runtime, ct_db, mappings={"CT_PROJECT_qubits": "qubits"})
    summary = SyncEngine(runtime, FAST).run(once=True)
    assert summary.failed == 0
    items = _items(runtime)
    assert {i["status"] for i in items.values()} == {"synchronized"}
    assert (items[str(h1.uuid)].get("label"), items[str(h1.uuid)].get("name")) == (
        str(h1.id),
        "rabi",
    )
    d1 = _dataset(runtime, h1.uuid, "qubits")
    assert d1.name == "rabi" and set(d1.tags) == {"rabi", "q1"} and d1.ranking == 0
    assert d1.attributes == {"sample": "S7", "set-up": "fridge-1", "project": "qubits"}
    assert ct_db in d1.description and f"id {h1.id}" in d1.description
    assert d1.collected is not None and d1.creator == "tester"
    ds = _open(runtime, d1.uuid)
    np.testing.assert_array_equal(ds["current"].values, np.sin(7 * np.linspace(0, 1, 100)))
    ds2 = _open(runtime, _dataset(runtime, h2.uuid, "qubits").uuid)
    assert set(ds2.data_vars) == {"m1", "m2"} and ds2["m2"].shape == (6, 3)
    # a second run changes nothing
    assert SyncEngine(runtime, FAST).run(once=True).attempted == 0


def test_star_and_rename_reach_the_store(runtime: Runtime, ct_db: str, writer: ctw.Writer) -> None:
    h = writer.complete("first name", ctw.one_d("x", 5))
    add_ct_source(runtime, ct_db, auto_scope_per_project=True)
    SyncEngine(runtime, FAST).run(once=True)
    scope = "CT_PROJECT_qubits"
    assert _dataset(runtime, h.uuid, scope).ranking == 0
    with ctw.admin(ct_db) as conn:
        conn.execute(
            "UPDATE global_measurement_overview SET starred = true, exp_name = 'renamed' "
            "WHERE uuid = %s",
            (h.uuid,),
        )
    SyncEngine(runtime, FAST).run(once=True)
    d = _dataset(runtime, h.uuid, scope)
    assert d.ranking == 1 and d.name == "renamed"


def test_unmapped_scopes_wait_until_mapped(
    runtime: Runtime, ct_db: str, writer: ctw.Writer
) -> None:
    mapped = writer.complete("mapped", ctw.one_d("x", 5), project="alpha")
    waiting = writer.complete("waiting", ctw.one_d("x", 5), project="beta")
    add_ct_source(runtime, ct_db, mappings={"CT_PROJECT_alpha": "alpha-scope"})
    SyncEngine(runtime, FAST).run(once=True)
    items = _items(runtime)
    assert items[str(mapped.uuid)]["status"] == "synchronized"
    held = items[str(waiting.uuid)]
    # held back, not failed: no attempt counted, no retry time, no stray scope
    assert held["status"] == "waiting" and held["failures"] == 0 and held["next_retry"] is None
    assert "waiting for a scope mapping CT_PROJECT_beta" in held["last_error"]
    assert runtime.store.get_scope("CT_PROJECT_beta") is None
    assert _dataset(runtime, mapped.uuid, "alpha-scope") is not None
    assert all(d["name"] != "waiting" for d in datasets.list_datasets(runtime))
    assert scope_mappings.unmapped_identifiers(runtime, "ct") == {"CT_PROJECT_beta": 1}
    counts = sources.show_source(runtime, "ct")["items"]
    assert counts["waiting"] == 1 and counts["failed"] == 0
    shown = status.status(runtime)["sources"][0]
    assert shown["unmapped"] == {"CT_PROJECT_beta": 1} and shown["items"]["waiting"] == 1
    # a waiting item is not due: another run leaves it alone
    assert SyncEngine(runtime, FAST).run(once=True).attempted == 0
    assert _items(runtime)[str(waiting.uuid)]["status"] == "waiting"

    runtime.store.create_scope("beta-scope")
    out = scope_mappings.map_scope(runtime, "ct", "CT_PROJECT_beta", "beta-scope")
    assert out["requeued"] == 1
    assert _items(runtime)[str(waiting.uuid)]["status"] == "pending"
    SyncEngine(runtime, FAST).run(once=True)
    assert _items(runtime)[str(waiting.uuid)]["status"] == "synchronized"
    assert _dataset(runtime, waiting.uuid, "beta-scope").name == "waiting"
    assert scope_mappings.unmapped_identifiers(runtime, "ct") == {}


def test_a_running_agent_uses_a_new_mapping(
    runtime: Runtime, ct_db: str, writer: ctw.Writer
) -> None:
    held = writer.complete("held", ctw.one_d("x", 5), project="gamma")
    add_ct_source(runtime, ct_db)

    def state() -> str | None:
        return _items(runtime).get(str(held.uuid), {}).get("status")

    with running_engine(runtime, FAST):
        assert wait_for(lambda: state() == "waiting"), state()
        runtime.store.create_scope("gamma-scope")
        assert (
            scope_mappings.map_scope(runtime, "ct", "CT_PROJECT_gamma", "gamma-scope")["requeued"]
            == 1
        )
        # no restart: the loop reloads the mappings after the state database changed
        assert wait_for(lambda: state() == "synchronized"), state()
    assert _dataset(runtime, held.uuid, "gamma-scope").name == "held"
    assert runtime.store.get_scope("CT_PROJECT_gamma") is None


def test_scope_column_and_auto_scopes(runtime: Runtime, postgres: None) -> None:
    db = ctw.create_database()
    try:
        ctw.apply_schema(db, scope_column=True)
        w = ctw.Writer(db)
        a = w.complete("with scope", ctw.one_d("x", 5), scope="lab-scope-A")
        b = w.complete("without", ctw.one_d("x", 5), project="P9")
        w.close()
        add_ct_source(runtime, db, auto_scope_per_project=True)
        SyncEngine(runtime, FAST).run(once=True)
        assert _dataset(runtime, a.uuid, "lab-scope-A").name == "with scope"
        assert _dataset(runtime, b.uuid, "CT_PROJECT_P9").name == "without"
    finally:
        ctw.drop_database(db)


def test_set_up_filter(runtime: Runtime, ct_db: str, writer: ctw.Writer) -> None:
    writer.complete("here", ctw.one_d("x", 5), set_up="A")
    writer.complete("elsewhere", ctw.one_d("x", 5), set_up="B")
    add_ct_source(runtime, ct_db, set_up="A", auto_scope_per_project=True)
    SyncEngine(runtime, FAST).run(once=True)
    assert [d["name"] for d in datasets.list_datasets(runtime)] == ["here"]


def test_validation_and_identity(runtime: Runtime, ct_db: str, postgres: None) -> None:
    empty = ctw.create_database("ct_empty")
    try:
        with pytest.raises(ConfigError, match="not a core-tools database"):
            add_ct_source(runtime, empty)
    finally:
        ctw.drop_database(empty)
    with pytest.raises(ConfigError, match="cannot connect.*does not exist") as err:
        add_ct_source(runtime, "ct_no_such_database_x")
    assert "database name" in (err.value.hint or "")
    with pytest.raises(ConfigError, match="cannot connect") as err:
        add_ct_source(runtime, ct_db, port=1)
    assert "reachable" in (err.value.hint or "")
    add_ct_source(runtime, ct_db, name="one")
    # the same database under another name of the same server is refused
    with pytest.raises(ConfigError, match="already synchronizes"):
        add_ct_source(runtime, ct_db, name="two", host="localhost")
    assert [s["name"] for s in sources.list_sources(runtime)] == ["one"]


def test_connection_problems_are_source_errors(runtime: Runtime, postgres: None) -> None:
    db = ctw.create_database()
    ctw.apply_schema(db)
    add_ct_source(runtime, db, auto_scope_per_project=True)
    ctw.drop_database(db)
    summary = SyncEngine(runtime, FAST).run(once=True)
    assert "cannot connect" in summary.source_errors["ct"]
    assert "hint" in summary.source_errors["ct"]
    shown = sources.show_source(runtime, "ct")
    assert shown["status"] == "error" and "does not exist" in shown["last_error"]


def test_server_going_away_mid_sync_is_retried(
    runtime: Runtime, ct_db: str, writer: ctw.Writer
) -> None:
    from etiket_sync_agent.engine.source_runtime import SourceRuntime
    from etiket_sync_agent.engine.worker import sync_item
    from etiket_sync_agent.state import repository as repo

    h = writer.complete("interrupted", ctw.one_d("x", 50))
    add_ct_source(runtime, ct_db, auto_scope_per_project=True)
    src = repo.get_source(runtime.state, "ct")
    rt = SourceRuntime(src, runtime, FAST, lambda: None, watch=False)
    try:
        rt.discover(force_full=True)
        # the server drops the agent's connection (as a restart would)
        with ctw.admin() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = 'etiket_sync_agent'",
                (ct_db,),
            )
        item = repo.get_item(runtime.state, src.id, str(h.uuid))
        assert sync_item(rt, item, FAST, lambda e: None) == "failed"
        item = repo.get_item(runtime.state, src.id, str(h.uuid))
        assert "lost the connection" in item.last_error and item.next_retry is not None
        assert datasets.list_datasets(runtime) == []  # nothing half-stored
        assert sync_item(rt, item, FAST, lambda e: None) == "synchronized"
    finally:
        rt.close()
    assert _dataset(runtime, h.uuid, "CT_PROJECT_qubits").name == "interrupted"


def test_bad_measurement_fails_alone(runtime: Runtime, ct_db: str, writer: ctw.Writer) -> None:
    bad = writer.complete("bad", ctw.one_d("x", 5))
    good = writer.complete("good", ctw.one_d("x", 5))
    with ctw.admin(ct_db) as conn:
        conn.execute("SELECT lo_unlink(%s)", (bad.arrays[0].oid,))
    add_ct_source(runtime, ct_db, auto_scope_per_project=True)
    SyncEngine(runtime, FAST).run(once=True)
    items = _items(runtime)
    assert items[str(good.uuid)]["status"] == "synchronized"
    assert items[str(bad.uuid)]["status"] == "failed"
    assert "does not exist" in items[str(bad.uuid)]["last_error"]
    assert "gave up" in items[str(bad.uuid)]["last_error"]  # not retryable


def _start_writer(db: str, n: int, interval: float, *extra: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, str(LIVE_WRITER), db, str(n), str(interval), *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def _file_status(rt: Runtime, ct_uuid: int, scope: str = "CT_PROJECT_live") -> str | None:
    d = _dataset(rt, ct_uuid, scope)
    if d is None:
        return None
    files = {f.name: f for f in rt.store.get_dataset(d.uuid).files}
    f = files.get("measured_data.hdf5")
    return f.latest.status.value if f else None


def test_live_measurement_grows_then_completes(runtime: Runtime, ct_db: str) -> None:
    n = 40
    expected = np.sin(7 * np.linspace(0, 1, n))
    add_ct_source(runtime, ct_db, auto_scope_per_project=True)
    warm_up = ctw.Writer(ct_db)
    first = warm_up.complete("warm-up", ctw.one_d("x", 5), project="live")
    warm_up.close()
    with running_engine(runtime, FAST):
        # a first sync loads what a first sync loads: live passes are paced by their cost
        assert wait_for(lambda: _file_status(runtime, first.uuid) == "complete", 60)
        proc, uuid = _start_writer(ct_db, n, 0.25)
        try:
            seen: list[int] = []
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if _file_status(runtime, uuid) == "live":
                    ds = _open(runtime, _dataset(runtime, uuid, "CT_PROJECT_live").uuid)
                    values = ds["current"].values
                    k = int(np.isfinite(values).sum())
                    # what the writer had committed: a prefix of its values, NaN after
                    np.testing.assert_array_equal(values[:k], expected[:k])
                    assert np.isnan(values[k:]).all()
                    seen.append(k)
                time.sleep(0.1)
            assert proc.wait(60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        assert seen, "the measurement was never seen live"
        assert seen == sorted(seen) and min(seen) < n and len(set(seen)) > 1
        assert wait_for(lambda: _file_status(runtime, uuid) == "complete", 60)
    ds = _open(runtime, _dataset(runtime, uuid, "CT_PROJECT_live").uuid)
    x = np.linspace(0, 1, n)
    np.testing.assert_array_equal(ds["current"].values, np.sin(7 * x))
    np.testing.assert_array_equal(ds["gate"].values, x)
    assert ds.attrs["completed"] == 1
    assert _items(runtime)[str(uuid)]["status"] == "synchronized"


def test_abandoned_measurement_is_finalized_after_the_timeout(runtime: Runtime, ct_db: str) -> None:
    add_ct_source(runtime, ct_db, auto_scope_per_project=True, live_timeout_s=1.5)
    with running_engine(runtime, FAST):
        proc, uuid = _start_writer(ct_db, 6, 0.1, "--abandon")
        assert proc.wait(60) == 0
        assert wait_for(lambda: _file_status(runtime, uuid) == "complete", 60)
    ds = _open(runtime, _dataset(runtime, uuid, "CT_PROJECT_live").uuid)
    assert ds.attrs["completed"] == 0 and np.isfinite(ds["current"].values).all()
