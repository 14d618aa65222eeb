"""Makes the README's picture of the Overview: ``docs/images/web-overview.png``.

    python -m tests.web.browser.readme_screenshot [OUT.png]

A throw-away home with three sources (a QCoDeS database, two folders, one dataset of
which has a broken metadata file) is synchronized by the real agent, served on
127.0.0.1, and photographed in headless Chromium while the agent runs.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
OUT = REPO / "docs" / "images" / "web-overview.png"


def _build(tmp: Path):  # noqa: ANN202 - Runtime
    from etiket_sync_agent.home import Home
    from etiket_sync_agent.runtime import Runtime
    from etiket_sync_agent.services import sources
    from tests.backends.qcodes.test_sync_backend import _make_db
    from tests.helpers import add_folder_source, make_dataset

    os.environ["ETIKET_SYNC_HOME"] = str(tmp / "etiket-sync")
    rt = Runtime(Home.resolve(tmp / "etiket-sync"))
    db = tmp / "fridge-2" / "experiments.db"
    db.parent.mkdir()
    _make_db(db, n_runs=4)
    gc.collect()  # qcodes closes its connections when collected
    rt.store.create_scope("qubits")
    sources.add_source(
        rt, "qcodes", "fridge-2", scope="qubits", settings={"database_path": str(db)}
    )

    gone = tmp / "fridge-1" / "experiments.db"  # moved away after it was added: an error
    gone.parent.mkdir()
    _make_db(gone, n_runs=1)
    gc.collect()
    sources.add_source(
        rt, "qcodes", "fridge-1", scope="qubits", settings={"database_path": str(gone)}
    )
    gone.rename(gone.with_name("moved.db"))

    day = datetime(2025, 3, 3, 9, 0)
    archive = tmp / "cooldown-archive"
    for k in range(24):
        make_dataset(
            archive,
            f"cd{k:02d}",
            {"log.csv": "t,T\n0,4.2\n1,0.02\n"},
            name=f"cooldown {k}",
            tags=["cooldown"],
            collected=day + timedelta(days=k),
        )
    add_folder_source(rt, archive, name="cooldown-archive", scope="cryo")

    station = tmp / "probe-station"
    for k in range(6):
        make_dataset(station, f"wafer{k}", {"iv.txt": f"{k}\n"}, name=f"wafer {k} IV")
    bad = make_dataset(station, "wafer6", {"iv.txt": "6\n"})
    (bad / "_QH_dataset_info.yaml").write_text("dataset_name: [unclosed\n")
    add_folder_source(rt, station, name="probe-station", scope="wafers")
    return rt


def main(out: Path = OUT) -> Path:
    from etiket_sync_agent.runtime import Runtime
    from etiket_sync_agent.services.status import status
    from etiket_sync_agent.web.server import start_in_thread
    from tests.conftest import FAST
    from tests.helpers import running_engine, wait_for
    from tests.web.browser.chromium import new_driver

    with tempfile.TemporaryDirectory(prefix="lab-") as name:
        tmp = Path(name)
        rt = _build(tmp)
        server = start_in_thread(lambda: Runtime(rt.home))
        driver = new_driver(tmp, tmp / "chromedriver.log")
        try:
            with running_engine(rt, FAST):

                def settled() -> bool:
                    rows = status(rt)["sources"]
                    return all(
                        (s["items"]["total"] and not s["items"]["pending"]) or s["last_error"]
                        for s in rows
                    )

                if not wait_for(settled, 120):
                    raise SystemExit("the agent did not finish synchronizing in 2 minutes")
                driver.set_window_size(1200, 700)
                driver.get(server.url + "/")
                time.sleep(2.5)  # one refresh of the page, so the heartbeat is a fresh one
                out.parent.mkdir(parents=True, exist_ok=True)
                driver.find_element("css selector", "body").screenshot(str(out))
        finally:
            driver.quit()
            server.stop()
            rt.close()
    return out


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
