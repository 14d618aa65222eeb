"""The S3 server stopped in the middle of a sync and started again on the same port.

A real agent loop (the engine of ``etiket-sync run``, in a thread) syncs folders into a
PostgreSQL catalog and a bucket of a moto server reached through a TCP proxy owned by the
test. When the third item starts, the server is stopped (and the proxy refuses every
connection, as a stopped server does). Items wait as "store unreachable" without burning
an attempt, ``status`` says so, the loop keeps discovering; once a server is started again
on the same port everything completes by itself, nothing was converted twice (the item
that met the outage was stored from the spool), and ``store verify --deep`` is clean.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from etiket_sync_agent.engine.events import Event, ItemStarted
from etiket_sync_agent.home import Home
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services.status import status
from tests.engine._offline import (
    CALLS_ENV,
    EngineThread,
    TcpProxy,
    conversions,
    registry_with_counter,
)
from tests.helpers import (
    add_folder_source,
    items_by_id,
    make_dataset,
    statuses,
    stored_by_name,
    wait_for,
)
from tests.store.s3server import FAKE_CREDENTIALS

WAIT = 180.0


class _Outage:
    """A moto server on a fixed port behind a proxy: :meth:`stop` stops both (the
    server's listening socket is closed, the proxy drops every open connection),
    :meth:`start` starts a new server on the same port (moto keeps its buckets in the
    process) and the proxy listens again."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = None
        self._start_server()
        self.proxy = TcpProxy(("127.0.0.1", self.port))
        self.endpoint_url = f"http://127.0.0.1:{self.proxy.port}"

    def _start_server(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        self.proxy.cut()
        if self.server is not None:
            self.server.stop()
            self.server._server.server_close()  # noqa: SLF001 - stop() leaves it listening
            self.server = None

    def start(self) -> None:
        self._start_server()
        self.proxy.restore()

    def client(self):  # noqa: ANN201 - a boto3 client straight to the server
        import boto3

        return boto3.session.Session().client(
            "s3", endpoint_url=f"http://127.0.0.1:{self.port}", region_name="us-east-1"
        )


@pytest.fixture
def outage(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    o = _Outage()
    yield o
    o.stop()


def test_s3_server_stopped_during_a_sync_and_started_again(
    home: Home,
    tmp_path: Path,
    outage: _Outage,
    make_pg_database,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
    cli,  # noqa: ANN001
) -> None:
    bucket = "etiket-outage-test"
    outage.client().create_bucket(Bucket=bucket)
    monkeypatch.setenv("ETIKET_SYNC_STORE_URL", make_pg_database())
    monkeypatch.setenv("ETIKET_SYNC_S3_BUCKET", bucket)
    monkeypatch.setenv("ETIKET_SYNC_S3_ENDPOINT_URL", outage.endpoint_url)
    monkeypatch.setenv("ETIKET_SYNC_S3_PREFIX", "lab")
    calls = tmp_path / "converter-calls.txt"
    monkeypatch.setenv(CALLS_ENV, str(calls))
    data = tmp_path / "data"
    raws = {f"run{i}": (f"measurement {i}\n" * 5000).encode() for i in range(6)}
    for name, raw in list(raws.items())[:5]:
        make_dataset(data, name, {"raw.dat": raw, "notes.txt": name}, converters=["counting"])
    rt = Runtime(home, registry=registry_with_counter())
    add_folder_source(rt, data)
    started: list[str] = []

    def stop_at_third(ev: Event) -> None:
        if isinstance(ev, ItemStarted):
            started.append(ev.identifier)
            if len(started) == 3:
                outage.stop()  # in the middle of the sync of the 3rd item

    with EngineThread(rt, stop_at_third):

        def settled() -> bool:
            st = list(statuses(rt).values())
            return st.count("synchronized") == 2 and st.count("waiting") == 3

        assert wait_for(settled, WAIT), items_by_id(rt)
        # the loop keeps discovering while the store is away
        make_dataset(
            data, "run5", {"raw.dat": raws["run5"], "notes.txt": "run5"}, converters=["counting"]
        )
        assert wait_for(lambda: statuses(rt).get("run5") == "waiting", WAIT), items_by_id(rt)
        items = items_by_id(rt)
        waiting = [k for k, v in items.items() if v["status"] == "waiting"]
        assert len(waiting) == 4
        for name in waiting:
            assert items[name]["failures"] == 0 and items[name]["waiting_for"] == "store"
            assert items[name]["last_error"].startswith("store unreachable")
        shown = status(rt)["store"]
        assert shown["reachable"] is False and shown["waiting_items"] == 4
        assert "S3" in shown["error"]
        as_json = cli("status", "--json", as_json=True)
        assert as_json["store"]["reachable"] is False
        assert as_json["store"]["unreachable_since"] == shown["unreachable_since"]
        assert "Store: unreachable since" in cli("status").stdout
        # the 3rd item met the outage: converted once, kept in the spool
        assert len(list(home.spool_dir.glob("*/manifest.json"))) == 1
        assert len(conversions(calls)) == 3

        outage.start()  # a server again, on the same port
        assert wait_for(lambda: set(statuses(rt).values()) == {"synchronized"}, WAIT), items_by_id(
            rt
        )
    items = items_by_id(rt)
    assert len(items) == 6
    assert {i["failures"] for i in items.values()} == {0}  # no attempt burnt
    assert {i["sync_count"] for i in items.values()} == {1}
    done = conversions(calls)
    assert len(done) == 6 and len(set(done)) == 6  # nothing converted twice
    for name, raw in raws.items():
        assert stored_by_name(rt, name) == {
            "raw.dat": raw,
            "raw.conv": raw[::-1],
            "notes.txt": name.encode(),
        }
    assert not any(home.spool_dir.iterdir())
    assert status(rt)["store"]["reachable"] is True
    # nothing half-visible: every catalog version has its whole object in the bucket
    report = cli("store", "verify", "--deep", "--json", as_json=True)
    assert report["ok"] is True, report
    keys = {
        o["Key"].rsplit("/", 1)[-1]
        for o in outage.client().list_objects_v2(Bucket=bucket, Prefix="lab/blobs/")["Contents"]
    }
    shas = {
        f.latest.sha256
        for d in rt.store.list_datasets(scope="proj")
        for f in rt.store.get_dataset(d.uuid).files
    }
    assert shas <= keys
