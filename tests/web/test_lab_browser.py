"""A lab's dataset browser: two agents (two homes, real ``etiket-sync run`` processes)
sync into one shared store (PostgreSQL catalog + S3 bucket); ``etiket-sync serve`` in a
third home, where no agent runs, shows both agents' datasets and heartbeats over real
HTTP, serves their files and plots, and writes nothing."""

from __future__ import annotations

import http.client
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ETIKET_SYNC
from tests.helpers import make_dataset, wait_for
from tests.store.conftest import make_pg_database, postgres_server, s3_server  # noqa: F401
from tests.store.s3server import S3Server, s3_env
from tests.web.browser.conftest import browser_factory  # noqa: F401
from tests.web.conftest import Reply

PAYLOAD = bytes(range(256)) * 300


class Http:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def request(self, method: str, path: str, body: bytes | None = None) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            headers = {"content-type": "application/x-www-form-urlencoded"} if body else {}
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def json(self, path: str):  # noqa: ANN201
        r = self.get(path)
        assert r.status == 200, (path, r.status, r.text)
        return r.json()


def _catalog_snapshot(url: str) -> list:
    """Every row of the catalog's tables (what a read-only server must leave as it is)."""
    import psycopg

    out = []
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        for table in ("scopes", "datasets", "files", "file_versions", "agents"):
            rows = conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()  # noqa: S608
            out.append((table, [tuple(map(str, r)) for r in rows]))
    return out


@pytest.fixture
def lab_setup(
    s3_server: S3Server,  # noqa: F811
    make_pg_database: Callable[[], str],  # noqa: F811
    tmp_path: Path,
) -> Iterator[dict]:
    import xarray as xr

    catalog = make_pg_database()
    shared = {
        **s3_env(s3_server),
        "ETIKET_SYNC_STORE_URL": catalog,
        "ETIKET_SYNC_S3_BUCKET": s3_server.new_bucket(),
        "ETIKET_SYNC_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "ETIKET_SYNC_S3_PREFIX": "lab",
        "ETIKET_SYNC_REPORT_INTERVAL_S": "0.5",
        "COLUMNS": "200",
    }
    homes = {"pc1": tmp_path / "pc1", "pc2": tmp_path / "pc2"}
    for n, (pc, home) in enumerate(homes.items()):
        data = tmp_path / f"data-{pc}"
        for i in range(3):
            make_dataset(data, f"{pc}-run{i}", {"data.txt": f"{pc} run {i}\n"}, tags=[f"tag-{pc}"])
        folder = make_dataset(data, f"{pc}-sweep", {"blob.bin": PAYLOAD}, tags=["sweep"])
        x = np.linspace(0, 1, 40 + n)
        xr.Dataset({"signal": ("x", np.sin(x))}, coords={"x": x}).to_netcdf(
            folder / "m.nc", engine="h5netcdf"
        )
        env = {**shared, "ETIKET_SYNC_HOME": str(home)}
        for args in (
            ["scopes", "create", "proj"],
            ["add-source", "folderbase", f"src-{pc}", "--scope", "proj",
             "--set", f"root_directory={data}"],
        ):  # fmt: skip
            proc = subprocess.run(
                [ETIKET_SYNC, *args], capture_output=True, text=True, env=env, timeout=300
            )
            assert proc.returncode == 0, proc.stderr
    agents = [
        subprocess.Popen(
            [ETIKET_SYNC, "run"],
            env={**shared, "ETIKET_SYNC_HOME": str(home)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for home in homes.values()
    ]
    lab_home = tmp_path / "labserver"
    server = subprocess.Popen(
        [ETIKET_SYNC, "serve", "--port", "0"],
        env={**shared, "ETIKET_SYNC_HOME": str(lab_home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out: list[str] = []
        while not any("Serving on" in line for line in out):
            line = server.stdout.readline()
            assert line, f"serve ended: {out}"
            out.append(line)
        url = out[-1].split("http://", 1)[1].split("/", 1)[0]
        host, port = url.rsplit(":", 1)
        yield {
            "http": Http(host, int(port)),
            "agents": agents,
            "homes": homes,
            "lab_home": lab_home,
            "catalog": catalog,
            "banner": "".join(out),
        }
    finally:
        for proc in [*agents, server]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*agents, server]:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_lab_browser_shows_every_agent_and_dataset_and_writes_nothing(lab_setup) -> None:
    web: Http = lab_setup["http"]
    homes: dict[str, Path] = lab_setup["homes"]
    assert "Lab dataset browser (read-only)" in lab_setup["banner"]

    def both_synchronized() -> bool:
        agents = web.json("/api/agents")
        synced = {a["home"]: sum(s["items"]["synchronized"] for s in a["sources"]) for a in agents}
        return synced == {str(h.resolve()): 4 for h in homes.values()}

    assert wait_for(both_synchronized, 240), web.json("/api/agents")
    agents = web.json("/api/agents")
    for a in agents:
        assert a["state"] == "running" and not a["silent"] and a["age_s"] < 120
        assert a["heartbeat"] and a["version"]
        (src,) = a["sources"]
        assert src["status"] != "error" and src["items"]["failed"] == 0
        assert "config" not in src

    rows = web.json("/api/datasets")
    assert sorted(r["name"] for r in rows) == sorted(
        f"{pc}-{n}" for pc in homes for n in ("run0", "run1", "run2", "sweep")
    )
    assert {r["source"] for r in rows} == {"src-pc1", "src-pc2"}
    assert [r["name"] for r in web.json("/api/datasets?tag=tag-pc2&q=RUN1")] == ["pc2-run1"]
    assert len(web.json("/api/datasets?source=src-pc1")) == 4

    # the overview lists both agents with their heartbeat; problems say what they cannot
    overview = web.get("/").text
    for home in homes.values():
        assert str(home.resolve()) in overview
    assert "lab browser · read-only" in overview and "s ago" in overview
    problems = web.get("/problems").text
    assert "cannot list every failed item" in problems and "No problem reported" in problems
    status = web.get("/api/status")
    assert status.status == 404 and "lab's dataset browser" in status.json()["error"]

    # every agent's files download and plot, whichever agent stored them
    for pc in homes:
        (sweep,) = [r for r in rows if r["name"] == f"{pc}-sweep"]
        page = web.get(f"/datasets/{sweep['uuid']}").text
        assert "blob.bin" in page and "<form" not in page
        assert web.get(f"/files/{sweep['uuid']}/blob.bin").body == PAYLOAD
        line = web.json(f"/api/plot/{sweep['uuid']}/m.nc?var=signal")
        assert line["kind"] == "line" and line["shape"] == [40 if pc == "pc1" else 41]

    # stop the agents: from now on nothing writes into the catalog but what we test
    for proc in lab_setup["agents"]:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 0, proc.stderr.read()
    before = _catalog_snapshot(lab_setup["catalog"])
    some = rows[0]["uuid"]
    paths = [
        "/", "/problems", "/datasets", f"/datasets/{some}", f"/files/{some}/data.txt",
        f"/plot/{some}/m.nc", "/api/sources/src-pc1/retry", "/api/sources/src-pc1",
        "/api/status", "/api/agents", "/api/scopes", "/api/datasets", f"/api/datasets/{some}",
        f"/api/plot/{some}/m.nc", "/login",
    ]  # fmt: skip
    for path in paths:
        r = web.request("POST", path, body=b"item=x&csrf=y")
        assert r.status in (401, 403, 404, 405), (path, r.status)
    time.sleep(0.5)
    assert _catalog_snapshot(lab_setup["catalog"]) == before
    assert not (lab_setup["lab_home"] / "state.db").exists()
    for page in ("/", "/problems", "/datasets"):
        assert "method=post" not in web.get(page).text


def test_lab_problems_show_what_the_heartbeats_tell(lab) -> None:  # noqa: ANN001
    """An agent with a failed item (the ``lab`` fixture's broken YAML) as a lab browser
    sees it: the source, its count and the item's error line from the heartbeat on
    Problems, no Retry; and an agent silent for hours."""
    from datetime import datetime, timedelta, timezone

    from etiket_sync_agent.runtime import Runtime
    from etiket_sync_agent.services.agents import HeartbeatPublisher
    from etiket_sync_agent.store.interface import AgentReport
    from etiket_sync_agent.web.server import start_in_thread
    from tests.web.conftest import Client

    assert HeartbeatPublisher(lab).publish()
    old = datetime.now(timezone.utc) - timedelta(hours=3)
    lab.store.report_agent(AgentReport("gone", "pc9", "/data/old", "0.1", "running", old))
    server = start_in_thread(lambda: Runtime(lab.home), lab=True)
    try:
        c = Client(server)
        problems = c.get("/problems").text
        assert "cannot list every failed item" in problems
        assert "Sources with problems" in problems and "invalid _QH_dataset_info.yaml" in problems
        assert "pc9" in problems and "3.0 h ago" in problems  # the silent agent
        assert "<code>broken</code>" in problems  # the failed item the heartbeat carries
        assert "<button" not in problems and "<form" not in problems  # no retry
        overview = c.get("/").text
        assert overview.count("class=bad") == 2 and "1 of 2 agent(s) silent" in overview
        (me,) = [a for a in c.get("/api/agents").json() if a["host"] != "pc9"]
        (src,) = me["sources"]
        assert src["items"]["failed"] == 1 and src["items"]["synchronized"] == 2
        assert c.request("POST", "/api/sources/lab/retry", b"item=broken").status == 405
        assert c.get("/api/sources").status == 404
    finally:
        server.stop()


def test_lab_overview_in_chromium_refreshes_itself(lab, browser_factory) -> None:  # noqa: ANN001, F811
    """lab.js redraws the agents table from /api/agents (no script error, CSP kept)."""
    from etiket_sync_agent.runtime import Runtime
    from etiket_sync_agent.services.agents import HeartbeatPublisher
    from etiket_sync_agent.web.server import start_in_thread

    assert HeartbeatPublisher(lab).publish()
    server = start_in_thread(lambda: Runtime(lab.home), lab=True)
    try:
        b = browser_factory(server.url)
        b.open("/")
        b.wait("the agent", lambda: "running" in b.find("#agents tbody").text)
        b.screenshot("lab-overview")
        b.driver.execute_script("document.querySelector('#agents tbody').innerHTML = ''")
        (row,) = b.wait(
            "the agents redrawn by lab.js",
            lambda: [r.text for r in b.find_all("#agents tbody tr")],
        )
        assert str(lab.home.data_dir) in row and "lab (" in row
        assert "lab browser" in b.find("header").text
        b.open("/problems")
        assert "cannot list every failed item" in b.find("main").text
        assert not b.find_all("button")
        b.screenshot("lab-problems")
    finally:
        server.stop()
