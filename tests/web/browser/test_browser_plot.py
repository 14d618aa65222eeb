"""A live QCoDeS measurement in headless Chromium: a writer process adds points while the
agent runs; the plot page, opened from the dataset page, redraws the growing live file
until the run is complete."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources
from etiket_sync_agent.web.server import start_in_thread
from tests.conftest import FAST
from tests.helpers import running_engine, wait_for

pytest.importorskip("qcodes")

POINTS = 250
DELAY_S = 0.1  # the run takes about POINTS * DELAY_S seconds
DATA_FILE = "measured_data.hdf5"


def _canvas(b) -> dict:
    return b.driver.execute_script(
        "const c = document.getElementById('plot');"
        "return {points: c.getAttribute('data-points'), ms: c.getAttribute('data-draw-ms'),"
        " note: document.getElementById('plot-note').textContent};"
    )


def test_live_qcodes_run_plot_grows_until_complete(
    tmp_path: Path, runtime: Runtime, browser_factory
) -> None:
    from tests.backends.qcodes.test_sync_backend import _file_status, _make_db, _start_writer

    db = tmp_path / "lab" / "experiments.db"
    db.parent.mkdir()
    _make_db(db, n_runs=1)  # an earlier, finished run
    gc.collect()  # qcodes closes its connections when collected
    runtime.store.create_scope("qubits")
    sources.add_source(
        runtime, "qcodes", "fridge", scope="qubits", settings={"database_path": str(db)}
    )
    server = start_in_thread(lambda: Runtime(runtime.home))
    writer = None
    try:
        with running_engine(runtime, FAST):
            writer, guid = _start_writer(db, POINTS, DELAY_S)
            assert wait_for(lambda: _file_status(runtime, guid) == "live", 60), "never live"
            uuid = runtime.store.find_dataset(scope="qubits", alt_uid=guid).uuid

            b = browser_factory(server.url)
            b.open(f"/datasets/{uuid}")
            b.wait("the plot link", lambda: b.find_all("#files a.plot"))
            b.screenshot("live-dataset-page")
            b.click_to_load(b.find("#files a.plot"))
            b.wait("the variable list", lambda: b.find_all("#variable option[value=current]"))
            assert b.find("#variable").get_attribute("value") == "current"
            assert b.find("#variable option[value=current]").text.startswith("current [")

            seen: list[int] = []

            def grown() -> bool:
                c = _canvas(b)
                if c["points"] is not None and "(live)" in c["note"]:
                    n = int(c["points"])
                    if not seen or seen[-1] != n:
                        seen.append(n)
                        if len(seen) == 1:
                            b.screenshot("live-plot-first")
                return len(seen) >= 2  # drawn twice while live, with more points

            b.wait("the live plot growing", grown)
            b.screenshot("live-plot-grown")
            assert seen == sorted(seen) and seen[-1] < POINTS, seen

            assert writer.wait(120) == 0
            c = b.wait(
                "the complete run",
                lambda: (
                    (c := _canvas(b))["points"] == str(POINTS) and "live" not in c["note"] and c
                ),
            )
            b.screenshot("plot-complete")
            assert b.find("#variable option[value=current]").text == f"current [{POINTS}]"
            assert int(c["ms"]) >= 0  # what was drawn, and how long it took, is on the canvas
    finally:
        if writer is not None and writer.poll() is None:
            writer.kill()
        server.stop()
