"""The Overview in headless Chromium while a real sync runs: opened before the agent
starts, it shows the counts reach their final values without being reloaded."""

from __future__ import annotations

from pathlib import Path

from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.web.server import start_in_thread
from tests.conftest import FAST
from tests.helpers import add_folder_source, make_dataset, running_engine

N_GOOD = 60

#: the cells of one source's row, by the table's column titles (read in the page)
ROW_JS = """
const heads = [...document.querySelectorAll('#sources thead th')].map(th => th.textContent);
for (const tr of document.querySelectorAll('#sources tbody tr')) {
  const cells = [...tr.cells].map(td => td.textContent);
  if (cells[0] === arguments[0])
    return Object.fromEntries(heads.map((h, i) => [h, cells[i]]).concat([['class', tr.className]]));
}
return null;
"""


def _row(b, source: str) -> dict | None:
    return b.driver.execute_script(ROW_JS, source)


def test_overview_counts_reach_their_final_values_while_a_sync_runs(
    tmp_path: Path, runtime: Runtime, browser_factory
) -> None:
    root = tmp_path / "acq"
    for k in range(N_GOOD):
        make_dataset(root, f"run{k:03d}", {"data.txt": f"point {k}\n" * 100}, name=f"run {k}")
    bad = make_dataset(root, "broken", {"x.txt": "x\n"})
    (bad / "_QH_dataset_info.yaml").write_text("dataset_name: [unclosed\n")
    add_folder_source(runtime, root)

    server = start_in_thread(lambda: Runtime(runtime.home))
    try:
        b = browser_factory(server.url)
        b.open("/")
        first = b.wait("the source row", lambda: _row(b, "lab"))
        assert first["total"] == first["synchronized"] == "0", first
        assert b.find("#loop-state").text == "never run"
        assert b.find("#summary").text == "No item found yet."
        b.driver.execute_script("window.notReloaded = true")  # gone if the page reloads
        b.screenshot("overview-before-sync")

        final = {
            "total": str(N_GOOD + 1),
            "pending": "0",
            "live": "0",
            "synchronized": str(N_GOOD),
            "failed": "1",
            "waiting": "0",
        }

        def reached() -> dict | None:
            row = _row(b, "lab")
            return row if row and {k: row[k] for k in final} == final else None

        with running_engine(runtime, FAST):
            b.wait("the agent running", lambda: b.find("#loop-state").text == "running")
            row = b.wait("the final counts", reached)
            b.screenshot("overview-synchronized")
        assert row["class"] == "bad"  # a source with a failed item is marked
        b.wait("the summary line", lambda: b.find("#summary-text").text == "1 failed item(s).")
        assert b.find("#summary").get_attribute("class") == "error"
        b.wait("the agent stopped", lambda: b.find("#loop-state").text == "stopped")
        b.screenshot("overview-agent-stopped")
        assert b.driver.execute_script("return window.notReloaded") is True
        b.click_to_load(b.find("#summary-link"))  # shown only while something failed
        assert "broken" in b.find("tr.failed").text
    finally:
        server.stop()


def test_overview_says_when_the_server_stops_answering_and_recovers(
    served, lab: Runtime, browser_factory
) -> None:
    b = browser_factory(served.origin)
    b.allow("ERR_CONNECTION_REFUSED")  # the page's requests while the server is down
    b.open("/")
    b.wait("a refresh", lambda: "Updated every 2 s (last" in b.find("#updated").text)
    port = served.server.port
    served.server.stop()
    b.wait("the warning", lambda: "does not answer" in b.find("#updated").text)
    assert "stale" in b.find("#sources").get_attribute("class")
    assert b.find("#updated").get_attribute("class") == "error"
    b.screenshot("overview-server-gone")

    again = start_in_thread(lambda: Runtime(lab.home), port=port)  # back on the same port
    try:
        b.wait("the recovery", lambda: "Updated every 2 s (last" in b.find("#updated").text)
        assert "stale" not in b.find("#sources").get_attribute("class")
        b.screenshot("overview-server-back")
    finally:
        again.stop()
