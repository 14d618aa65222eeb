"""Web page with 100k datasets in the store: server time of the overview and of dataset
searches, and a 1000x1000 variable plotted (server time; in headless Chromium when
/usr/bin/chromium and chromedriver are installed).

Set-up: one home with a folderbase source whose 100k items are recorded through the
state DB's discovery path (``record_discovery``) and marked synchronized, and 100k
catalog rows built by the store's own validation (``dataset_values``: exactly the columns
``upsert_dataset`` writes) but inserted in bulk (one transaction, executemany) so the
set-up takes seconds. ``--pg`` puts the catalog into a fresh PostgreSQL database.

Server time: an ASGI wrapper around the application measures each request from its
start to the last byte sent (uvicorn in a thread, as ``serve`` runs it); the client's
loopback time is shown too. Targets (issue 14): p95 below 200 ms; plot within 1 s.

    /tmp/venv/bin/python bench/bench_web.py [--n 100000] [--requests 40] [--pg]
"""

from __future__ import annotations

import argparse
import http.client
import random
import shutil
import statistics
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import WORK, machine_info, open_runtime  # noqa: E402

TAGS = ["cooldown", "calibration", "rabi", "ramsey", "t1", "t2", "spectroscopy", "flux",
        "readout", "noise", "q1", "q2", "q3", "q4", "good", "bad", "warm", "cold", "night",
        "rare-tag"]  # fmt: skip
WORDS = ["rabi sweep", "ramsey fringe", "T1 decay", "resonator scan", "flux map",
         "two-tone", "chevron", "noise trace"]  # fmt: skip
SCOPES = ["qubits", "resonators", "cleanroom", "fridge-2", "students"]
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def dataset_spec(i: int, item_uuid: str):  # noqa: ANN201 - DatasetSpec
    from etiket_sync_agent.store.interface import DatasetSpec

    rnd = random.Random(i)
    tags = rnd.sample(TAGS[:-1], rnd.randint(0, 3))
    if i % 10_000 == 7:
        tags.append("rare-tag")
    return DatasetSpec(
        uuid=item_uuid,
        scope=SCOPES[i % len(SCOPES)],
        name=f"{WORDS[i % len(WORDS)]} q{i % 8} run {i}",
        alt_uid=f"run{i:07d}",
        description="bench dataset",
        collected=T0 + timedelta(minutes=7 * i),  # ~2 years for 100k
        tags=tags,
        attributes={"sample": f"S{i % 50}", "fridge": i % 4, "temperature_mK": 10.0 + i % 30},
        creator="bench",
        source="lab",
    )


def populate(rt, n: int) -> list[str]:  # noqa: ANN001
    """``n`` synchronized items in the state DB and their datasets in the catalog."""
    from sqlalchemy import insert, update

    from etiket_sync_agent.dbtypes import utcnow
    from etiket_sync_agent.services import sources
    from etiket_sync_agent.state import repository as repo
    from etiket_sync_agent.state.models import Item
    from etiket_sync_agent.store.local import lookups as q
    from etiket_sync_agent.store.local.validation import dataset_values

    root = rt.home.data_dir / "acq"
    root.mkdir(exist_ok=True)
    for scope in SCOPES:
        rt.store.create_scope(scope)
    sources.add_source(rt, "folderbase", "lab", scope="qubits",
                       settings={"root_directory": str(root)})  # fmt: skip
    src = repo.get_source(rt.state, "lab")
    found = [repo.Discovered(f"day{i // 1000:04d}/run{i:07d}") for i in range(n)]
    known: dict = {}
    repo.record_discovery(rt.state, src.id, found, known)
    with rt.state.session() as s, s.begin():
        s.execute(update(Item).where(Item.source_id == src.id).values(status="synchronized"))
    uuids = [known[f"day{i // 1000:04d}/run{i:07d}"].id for i in range(n)]
    with rt.state.session() as s:
        from sqlalchemy import select

        by_id = dict(s.execute(select(Item.id, Item.dataset_uuid)).all())
    uuids = [by_id[i] for i in uuids]
    from sqlalchemy.orm import Session

    engine = rt.store._engine  # noqa: SLF001 - bulk set-up only
    with Session(engine) as session:
        scope_ids = {s: q.require_scope_id(session, s) for s in SCOPES}
    now = utcnow()
    rows = []
    for i, item_uuid in enumerate(uuids):
        spec = dataset_spec(i, item_uuid)
        row = {"uuid": spec.uuid, "scope_id": scope_ids[spec.scope], "created": now,
               "modified": now, **dataset_values(spec)}  # fmt: skip
        rows.append(row)
    with engine.begin() as conn:
        for k in range(0, len(rows), 5000):
            conn.execute(insert(q.DATASETS), rows[k : k + 5000])
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return uuids


def add_plot_file(rt, dataset_uuid: str, work: Path) -> str:  # noqa: ANN001
    import numpy as np
    import xarray as xr

    x, y = np.arange(1000.0), np.arange(1000.0) * 0.5
    values = np.sin(np.add.outer(x / 40, y / 25)) + 0.1 * np.random.default_rng(1).random(
        (1000, 1000)
    )
    path = work / "map.nc"
    xr.Dataset({"map": (("x", "y"), values, {"units": "V"})}, coords={"x": x, "y": y}).to_netcdf(
        path, engine="h5netcdf"
    )
    rt.store.upload_file(dataset_uuid, "map.nc", path, file_type="HDF5_NETCDF")
    return "map.nc"


class Timed:
    """ASGI wrapper: each request's server time, from its start to its last byte."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.app = app
        self.times: list[float] = []

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        t0 = time.perf_counter()
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.times.append(time.perf_counter() - t0)


def serve(home: Path, lab: bool):  # noqa: ANN201
    import uvicorn

    from etiket_sync_agent.home import Home
    from etiket_sync_agent.runtime import Runtime
    from etiket_sync_agent.web.app import create_app
    from etiket_sync_agent.web.server import bind

    timed = Timed(create_app(lambda: Runtime(Home.resolve(home)), lab=lab))
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(
        uvicorn.Config(timed, log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, timed, sock.getsockname()[1]


def get(port: int, path: str) -> tuple[int, int, float]:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, len(body), time.perf_counter() - t0


def p95(values: list[float]) -> float:
    return (
        statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]
    )


def measure(port: int, timed: Timed, path: str, n: int) -> dict:
    for _ in range(2):
        status, size, _ = get(port, path)
        assert status == 200, (path, status)
    timed.times.clear()
    client = [get(port, path)[2] for _ in range(n)]
    server = list(timed.times)
    return {
        "path": path,
        "bytes": size,
        "server_p50": statistics.median(server),
        "server_p95": p95(server),
        "server_max": max(server),
        "client_p95": p95(client),
    }


def report(r: dict) -> str:
    ms = {k: r[k] * 1e3 for k in ("server_p50", "server_p95", "server_max", "client_p95")}
    return (
        f"{r['mode']:5} {r['path'][:55]:55} server p50 {ms['server_p50']:7.1f} ms"
        f"  p95 {ms['server_p95']:7.1f} ms  max {ms['server_max']:7.1f}"
        f"  (client p95 {ms['client_p95']:6.1f} ms, {r['bytes']} B)"
    )


def browser_plot(port: int, page: str, repeats: int) -> list[dict] | None:
    chromium, driver_path = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
    if not (chromium.exists() and driver_path.exists()):
        return None
    import os

    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(driver_path)))
    # when the canvas says it has drawn: ms since navigation start (CDP scripts pass the CSP)
    driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {"source": """
new MutationObserver(function (records, obs) {
  var c = document.getElementById('plot');
  if (c && c.hasAttribute('data-draw-ms')) {
    window.__drawnAt = performance.now(); obs.disconnect();
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-draw-ms']});"""},
    )  # fmt: skip
    out = []
    try:
        for _ in range(repeats):
            driver.get(f"http://127.0.0.1:{port}{page}")
            deadline = time.monotonic() + 60
            drawn = None
            while time.monotonic() < deadline:
                drawn = driver.execute_script("return window.__drawnAt || null")
                if drawn:
                    break
                time.sleep(0.02)
            canvas = driver.find_element("id", "plot")
            out.append({
                "open_to_drawn_ms": drawn,
                "draw_ms": float(canvas.get_attribute("data-draw-ms") or "nan"),
                "points": int(canvas.get_attribute("data-points") or 0),
            })  # fmt: skip
    finally:
        driver.quit()
    return out


def new_pg_database() -> str:
    import psycopg

    name = f"etiket_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres",
                         autocommit=True) as conn:  # fmt: skip
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres",
                         autocommit=True) as conn:  # fmt: skip
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--pg", action="store_true", help="the catalog in a fresh PostgreSQL DB")
    ap.add_argument("--browser-repeats", type=int, default=5)
    ap.add_argument("--keep-pg", action="store_true", help="keep the PostgreSQL database")
    args = ap.parse_args()

    import os

    work = WORK / "web"
    shutil.rmtree(work, ignore_errors=True)
    home = work / "home"
    home.mkdir(parents=True)
    pg = new_pg_database() if args.pg else None
    if pg:
        os.environ["ETIKET_SYNC_STORE_URL"] = pg
    try:
        rt = open_runtime(home)
        t0 = time.perf_counter()
        uuids = populate(rt, args.n)
        setup_s = time.perf_counter() - t0
        plot_name = add_plot_file(rt, uuids[-1], work)
        from etiket_sync_agent.services.agents import HeartbeatPublisher

        assert HeartbeatPublisher(rt).publish()  # the lab overview shows this agent
        print(f"{machine_info()}\ncatalog: {'PostgreSQL' if pg else 'SQLite'}; "
              f"{args.n} datasets set up in {setup_s:.1f} s")  # fmt: skip
        rt.close()
        someone = uuids[args.n // 2]
        mid = (T0 + timedelta(minutes=7 * args.n // 2)).date()
        searches = [
            "/",
            "/api/status",
            "/datasets",
            "/datasets?q=sweep",
            f"/datasets?q=run+{args.n - 3}",
            "/datasets?tag=cooldown",
            "/datasets?tag=rare-tag",
            "/datasets?attribute=sample%3DS7",
            "/datasets?attribute=fridge",
            f"/datasets?since={mid}&until={mid + timedelta(days=6)}",
            "/datasets?q=rabi&tag=q3&attribute=fridge%3D0",
            "/datasets?q=rabi&tag=q3&attribute=fridge%3D2",  # none: a full scan
            "/datasets?q=rabi&offset=20000",
            "/api/datasets?tag=cooldown&limit=200",
            f"/datasets/{someone}",
            f"/datasets/{someone[:8]}",  # a dataset by the start of its id
        ]
        results = []
        for lab in (False, True):
            server, thread, timed, port = serve(home, lab)
            try:
                paths = searches if not lab else ["/", "/problems", "/api/agents"]
                for path in paths:
                    r = measure(port, timed, path, args.requests)
                    r["mode"] = "lab" if lab else "agent"
                    results.append(r)
                    print(report(r))
                if not lab:
                    plot_api = f"/api/plot/{uuids[-1]}/{plot_name}?var=map"
                    r = measure(port, timed, plot_api, max(args.requests // 4, 5))
                    print(f"plot  {'/api/plot ... ?var=map (1000x1000)':55} server p50 "
                          f"{r['server_p50'] * 1e3:7.1f} ms  p95 {r['server_p95'] * 1e3:7.1f} ms"
                          f"  ({r['bytes']} B)")  # fmt: skip
                    shots = browser_plot(port, f"/plot/{uuids[-1]}/{plot_name}",
                                         args.browser_repeats)  # fmt: skip
                    if shots is None:
                        print("browser: /usr/bin/chromium or chromedriver missing: skipped")
                    else:
                        opened = [s["open_to_drawn_ms"] for s in shots]
                        drawn = [s["draw_ms"] for s in shots]
                        print(f"browser: open -> drawn {min(opened):.0f}-{max(opened):.0f} ms "
                              f"(median {statistics.median(opened):.0f}); request+draw "
                              f"{min(drawn):.0f}-{max(drawn):.0f} ms; cells drawn "
                              f"{shots[0]['points']}")  # fmt: skip
            finally:
                server.should_exit = True
                thread.join(30)
    finally:
        if pg and not args.keep_pg:
            drop_pg_database(pg)
        elif pg:
            print(f"kept {pg}")


if __name__ == "__main__":
    main()
