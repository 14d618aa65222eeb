"""Offline-first: a store that cannot be reached makes items wait — no attempt burnt, the
loop keeps discovering — and everything resumes by itself when the store answers again;
what was converted meanwhile is kept in the spool and stored without converting again.

The store here is a PostgreSQL catalog reached through a TCP proxy owned by the test
(cut: connections refused; restored on the same port) with the local blob folder; the
S3 outage is in ``tests/store/test_s3_outage.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from etiket_sync_agent.engine import spool
from etiket_sync_agent.engine.failures import store_unreachable_reason
from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.errors import StoreError
from etiket_sync_agent.home import Home
from etiket_sync_agent.maintenance import sweep_at_start
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources
from etiket_sync_agent.services.status import status
from etiket_sync_agent.state import repository as repo
from tests.conftest import FAST
from tests.engine._offline import (
    CALLS_ENV,
    OFFLINE,
    EngineThread,
    TcpProxy,
    conversions,
    registry_with_counter,
)
from tests.helpers import (
    add_folder_source,
    items_by_id,
    make_dataset,
    run_once,
    statuses,
    stored_by_name,
    wait_for,
)
from tests.store.conftest import (  # noqa: F401 - fixtures
    make_pg_database,
    postgres_server,
)

WAIT = 120.0


@pytest.fixture
def catalog_proxy(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TcpProxy]:
    """A fresh PostgreSQL catalog that the agent reaches through a proxy the test cuts."""
    make: Callable[[], str] = request.getfixturevalue("make_pg_database")
    url = make()
    proxy = TcpProxy(("127.0.0.1", 5432))
    monkeypatch.setenv("ETIKET_SYNC_STORE_URL", url.replace(":5432/", f":{proxy.port}/"))
    yield proxy
    proxy.cut()


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "converter-calls.txt"
    monkeypatch.setenv(CALLS_ENV, str(path))
    return path


def _dataset(data: Path, name: str, raw: bytes) -> Path:
    return make_dataset(
        data, name, {"raw.dat": raw, "notes.txt": f"notes of {name}\n"}, converters=["counting"]
    )


def _spooled(home: Home) -> list[Path]:
    return sorted(home.spool_dir.glob(f"*/{spool.MANIFEST}"))


def test_catalog_unreachable_items_wait_and_resume_without_converting_again(
    home: Home, tmp_path: Path, catalog_proxy: TcpProxy, calls: Path, cli
) -> None:
    data = tmp_path / "data"
    raws = {f"run{i}": f"raw data {i}\n".encode() * (i + 1) for i in range(5)}
    for name in ("run0", "run1"):
        _dataset(data, name, raws[name])
    rt = Runtime(home, registry=registry_with_counter())
    add_folder_source(rt, data)
    with EngineThread(rt):
        assert wait_for(lambda: set(statuses(rt).values()) == {"synchronized"}, WAIT)
        catalog_proxy.cut()  # the catalog's network is gone
        for name in ("run2", "run3", "run4"):  # measured meanwhile: discovered, waiting
            _dataset(data, name, raws[name])

        def all_wait() -> bool:
            st = statuses(rt)
            return len(st) == 5 and [st[f"run{i}"] for i in (2, 3, 4)] == ["waiting"] * 3

        assert wait_for(all_wait, WAIT), statuses(rt)
        shown = status(rt)["store"]
        assert shown["reachable"] is False and shown["unreachable_since"] is not None
        assert shown["waiting_items"] == 3
        assert "cannot reach the catalog database" in shown["error"]
        items = items_by_id(rt)
        for name in ("run2", "run3", "run4"):
            assert items[name]["failures"] == 0  # no attempt burnt
            assert items[name]["waiting_for"] == "store"
            assert items[name]["last_error"].startswith("store unreachable")
        # what other processes see: status, status --json, items --json
        as_json = cli("status", "--json", as_json=True)
        assert as_json["store"]["reachable"] is False
        assert as_json["store"]["waiting_items"] == 3
        [src] = as_json["sources"]
        assert src["waiting_for_store"] == 3 and src["unmapped"] == {}
        text = cli("status").stdout
        assert "Store: unreachable since" in text and "3 item(s) waiting" in text
        listed = {i["identifier"]: i for i in cli("items", "lab", "--json", as_json=True)}
        assert listed["run2"]["waiting_for"] == "store"
        # the first item met the outage while converting: its conversions are spooled
        assert len(_spooled(home)) == 1
        converted_offline = len(conversions(calls))
        assert converted_offline == 3  # run0, run1, and the one spooled

        catalog_proxy.restore()  # the catalog is back on the same address
        assert wait_for(lambda: set(statuses(rt).values()) == {"synchronized"}, WAIT), items_by_id(
            rt
        )
    items = items_by_id(rt)
    assert {i["failures"] for i in items.values()} == {0}
    assert {i["sync_count"] for i in items.values()} == {1}
    assert {i["waiting_for"] for i in items.values()} == {None}
    # every dataset converted exactly once: the spooled one was not converted again
    done = conversions(calls)
    assert len(done) == 5 and len(set(done)) == 5
    for name, raw in raws.items():
        assert stored_by_name(rt, name) == {
            "raw.dat": raw,
            "raw.conv": raw[::-1],
            "notes.txt": f"notes of {name}\n".encode(),
        }
    assert _spooled(home) == [] and not any(home.spool_dir.iterdir())
    after = status(rt)["store"]
    assert after == {
        "reachable": True,
        "unreachable_since": None,
        "error": None,
        "waiting_items": 0,
    }
    report = cli("store", "verify", "--deep", "--json", as_json=True)
    assert report["ok"] is True, report


def test_source_changed_while_spooled_drops_the_spool(
    home: Home, tmp_path: Path, catalog_proxy: TcpProxy, calls: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rt = Runtime(home, registry=registry_with_counter())
    add_folder_source(rt, data)
    catalog_proxy.cut()
    folder = _dataset(data, "run0", b"first take\n")
    with EngineThread(rt):
        assert wait_for(lambda: len(_spooled(home)) == 1, WAIT), items_by_id(rt)
        [manifest] = _spooled(home)
        spooled = json.loads(manifest.read_text())
        assert spooled["identifier"] == "run0"
        assert spooled["ops"][0]["op"] == "dataset"
        assert spooled["ops"][0]["spec"]["name"] == "run0"
        files = [op["name"] for op in spooled["ops"] if op["op"] == "file"]
        assert sorted(files) == ["notes.txt", "raw.conv", "raw.dat"]
        # source files are referenced, the converted file is copied
        by_name = {op["name"]: op for op in spooled["ops"] if op["op"] == "file"}
        assert "path" in by_name["raw.dat"] and "spooled" not in by_name["raw.dat"]
        assert (manifest.parent / by_name["raw.conv"]["spooled"]).read_bytes() == b"first take\n"[
            ::-1
        ]
        # the measurement is re-taken while the store is away
        (folder / "raw.dat").write_bytes(b"second, longer take\n")
        assert wait_for(lambda: items_by_id(rt)["run0"]["status"] == "waiting", WAIT)
        catalog_proxy.restore()
        assert wait_for(lambda: items_by_id(rt)["run0"]["status"] == "synchronized", WAIT), (
            items_by_id(rt)
        )
    stored = stored_by_name(rt, "run0")
    assert stored["raw.dat"] == b"second, longer take\n"
    assert stored["raw.conv"] == b"second, longer take\n"[::-1]
    [ds] = rt.store.list_datasets(scope="proj")
    files = {f.name: f for f in rt.store.get_dataset(ds.uuid).files}
    assert len(files["raw.dat"].versions) == 1  # the first take never reached the store
    assert len(conversions(calls)) == 2  # once per take
    records = repo.item_records(rt.state, repo.get_item(rt.state, 1, "run0").id)
    logs = [line for r in records for t in r["tasks"] for line in t["logs"]]
    assert any("spool dropped" in line for line in logs), logs
    assert _spooled(home) == []


def test_sweep_removes_the_spool_of_items_that_no_longer_exist(home: Home, tmp_path: Path) -> None:
    rt = Runtime(home)
    make_dataset(tmp_path / "a", "run0")
    make_dataset(tmp_path / "a", "run1")
    make_dataset(tmp_path / "b", "run0")
    add_folder_source(rt, tmp_path / "a", name="kept")
    rt.store.create_scope("other")
    sources.add_source(
        rt, "folderbase", "gone", scope="other", settings={"root_directory": str(tmp_path / "b")}
    )
    run_once(rt, FAST)
    kept_source = repo.get_source(rt.state, "kept").id
    waiting = repo.get_item(rt.state, kept_source, "run0").id
    synced = repo.get_item(rt.state, kept_source, "run1").id
    gone = repo.get_item(rt.state, repo.get_source(rt.state, "gone").id, "run0").id
    # as an item left waiting for the store with its spool
    repo.save_item(rt.state, waiting, status="waiting", waiting_for="store")
    for item_id in (waiting, synced, gone):
        writer = spool.SpoolWriter(spool.spool_folder(home.spool_dir, item_id))
        writer.start(None)
        writer.commit(item_id=item_id, fingerprint=None)
    (home.spool_dir / "not-an-item").mkdir()
    sources.remove_source(rt, "gone")

    swept = sweep_at_start(rt)

    # the removed source's item, the synchronized item and the stray folder go
    assert swept.spool_removed == 3
    assert sorted(p.name for p in home.spool_dir.iterdir()) == [str(waiting)]
    assert spool.load(spool.spool_folder(home.spool_dir, waiting)) is not None


def test_connection_errors_of_the_store_are_classified_as_unreachable() -> None:
    """Real driver errors, as the store wraps them (a StoreError with the cause)."""
    import socket

    import boto3
    import psycopg
    from botocore.config import Config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    try:
        psycopg.connect(host="127.0.0.1", port=port, user="x", connect_timeout=3)
    except psycopg.OperationalError as exc:
        pg_error = exc
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
        config=Config(retries={"max_attempts": 1}),
    )
    try:
        client.head_bucket(Bucket="b")
    except Exception as exc:  # noqa: BLE001 - EndpointConnectionError
        s3_error = exc
    for cause in (pg_error, s3_error):
        try:
            raise StoreError("cannot use the store") from cause
        except StoreError as wrapped:
            assert store_unreachable_reason(wrapped) is not None, cause
    # an error of the data, or a missing content, says nothing about reachability
    assert store_unreachable_reason(StoreError("file name too long")) is None
    assert store_unreachable_reason(ValueError("bad data")) is None


def test_an_agent_restarted_while_the_store_is_away_resumes_from_the_spool(
    home: Home, tmp_path: Path, catalog_proxy: TcpProxy, calls: Path
) -> None:
    data = tmp_path / "data"
    _dataset(data, "run0", b"taken once\n")
    rt = Runtime(home, registry=registry_with_counter())
    add_folder_source(rt, data)
    catalog_proxy.cut()
    with EngineThread(rt):
        assert wait_for(lambda: len(_spooled(home)) == 1, WAIT), items_by_id(rt)
    # the stopped agent's view stays visible, and the next agent starts from it
    shown = status(rt)["store"]
    assert shown["reachable"] is False and shown["waiting_items"] == 1
    catalog_proxy.restore()
    # a one-shot run: it finds the store at its start and stores what waited for it
    SyncEngine(rt, OFFLINE).run(once=True)
    assert statuses(rt) == {"run0": "synchronized"}, items_by_id(rt)
    assert stored_by_name(rt, "run0")["raw.conv"] == b"taken once\n"[::-1]
    assert len(conversions(calls)) == 1  # the new agent stored the spool: no conversion
    assert items_by_id(rt)["run0"]["failures"] == 0
    assert status(rt)["store"]["reachable"] is True
    assert _spooled(home) == []


def test_a_local_store_whose_folder_is_gone_is_unreachable_until_it_is_back(
    home: Home, tmp_path: Path, calls: Path
) -> None:
    """The store's folder on a network drive that went away (here: moved aside)."""
    data = tmp_path / "data"
    _dataset(data, "run0", b"before\n")
    rt = Runtime(home, registry=registry_with_counter())
    add_folder_source(rt, data)
    aside = tmp_path / "unmounted"
    with EngineThread(rt):
        assert wait_for(lambda: statuses(rt) == {"run0": "synchronized"}, WAIT)
        home.store_dir.rename(aside)
        _dataset(data, "run1", b"during\n")
        assert wait_for(lambda: statuses(rt).get("run1") == "waiting", WAIT), items_by_id(rt)
        assert items_by_id(rt)["run1"]["failures"] == 0
        assert status(rt)["store"]["reachable"] is False
        aside.rename(home.store_dir)
        assert wait_for(lambda: set(statuses(rt).values()) == {"synchronized"}, WAIT), items_by_id(
            rt
        )
    assert stored_by_name(rt, "run1")["raw.conv"] == b"during\n"[::-1]
    assert len(conversions(calls)) == 2
    assert status(rt)["store"]["reachable"] is True


def test_a_network_error_of_the_source_is_not_taken_for_an_unreachable_store(
    home: Home, tmp_path: Path
) -> None:
    """An upload also reads the source file: its share timing out is the source's problem
    (the item fails as usual) unless the store itself does not answer."""
    import errno

    from etiket_sync_agent.engine.retry_policy import RetryPolicy
    from etiket_sync_agent.engine.store_health import StoreHealth

    rt = Runtime(home)
    rt.store.create_scope("proj")
    health = StoreHealth(rt, RetryPolicy())
    share = OSError(errno.ETIMEDOUT, "Connection timed out", str(tmp_path / "share" / "a.dat"))
    try:
        raise StoreError("cannot read the file to store") from share
    except StoreError as exc:
        assert health.classify(exc) is None  # the store answers: not its fault
        home.store_dir.rename(tmp_path / "aside")
        try:
            assert health.classify(exc) is not None  # now it does not
        finally:
            (tmp_path / "aside").rename(home.store_dir)
