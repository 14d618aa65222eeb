"""``/metrics`` and ``/healthz`` scraped over HTTP while a real sync runs; the numbers
match ``etiket-sync status --json`` (a real subprocess)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from etiket_sync_agent.errors import ConfigError
from etiket_sync_agent.ops.metrics import parse_address, serve_metrics
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources
from etiket_sync_agent.state import repository as repo
from tests.conftest import FAST
from tests.helpers import add_folder_source, make_dataset, running_engine, wait_for


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as resp:
        text = resp.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def healthz(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _counts(status: dict) -> dict[str, dict[str, int]]:
    return {s["name"]: s["items"] for s in status["sources"]}


def test_metrics_match_status_while_a_real_sync_runs(runtime: Runtime, cli, tmp_path: Path) -> None:
    root = tmp_path / "data"
    for i in range(6):
        make_dataset(root, f"ds{i}", files={"data.bin": bytes(range(256)) * (i + 1)})
    bad = root / "broken"
    bad.mkdir()
    (bad / "_QH_dataset_info.yaml").write_text("dataset_name: [unclosed\nattributes: 3\n")
    add_folder_source(runtime, root)
    server = serve_metrics(runtime, "127.0.0.1:0")
    try:
        assert server.address[0] == "127.0.0.1"
        code, body = healthz(server.url)
        assert code == 503 and body["status"] == "never_run"
        with running_engine(runtime, FAST):
            assert wait_for(lambda: healthz(server.url)[0] == 200)

            # while it runs: a scrape between two equal readings of `status --json`
            # must show exactly those counts
            def settled() -> bool:
                before = cli("status", "--json", as_json=True)
                metrics = scrape(server.url)
                after = cli("status", "--json", as_json=True)
                if _counts(before) != _counts(after):
                    return False
                for name, counts in _counts(after).items():
                    for state in ("pending", "live", "synchronized", "failed"):
                        key = ("etiket_sync_items", (("source", name), ("state", state)))
                        assert metrics[key] == counts[state], (key, metrics[key], counts)
                return counts["synchronized"] == 6 and counts["failed"] == 1

            assert wait_for(settled, timeout=120)
            status = cli("status", "--json", as_json=True)
            metrics = scrape(server.url)
            assert metrics[("etiket_sync_loop_up", ())] == 1
            assert metrics[("etiket_sync_live_datasets", ())] == 0
            assert metrics[("etiket_sync_oldest_pending_age_seconds", (("source", "lab"),))] == 0
            assert metrics[("etiket_sync_last_success_timestamp_seconds", (("source", "lab"),))]
            assert metrics[("etiket_sync_errors_total", (("source", "lab"),))] >= 1
            assert metrics[("etiket_sync_source_error", (("source", "lab"),))] == (
                1 if status["sources"][0]["status"] == "error" else 0
            )
            datasets = cli("datasets", "list", "--json", as_json=True)
            assert metrics[("etiket_sync_store_datasets", ())] == len(datasets) == 6
            assert metrics[("etiket_sync_store_files", ())] >= 6
            # every content once: 256 * (1 + 2 + ... + 6) bytes of data plus metadata
            assert metrics[("etiket_sync_store_bytes", ())] >= 256 * 21
            assert metrics[("etiket_sync_home_disk_free_bytes", ())] > 0
            beat = metrics[("etiket_sync_loop_heartbeat_timestamp_seconds", ())]
            # status was read before the scrape: the scraped heartbeat is that one or later
            assert beat >= datetime.fromisoformat(status["loop"]["last_heartbeat"]).timestamp()
        assert wait_for(lambda: healthz(server.url)[0] == 503)
        assert scrape(server.url)[("etiket_sync_loop_up", ())] == 0
    finally:
        server.stop()


def test_a_waiting_dataset_has_an_age_and_a_paused_source_says_so(
    runtime: Runtime, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    make_dataset(root, "waiting")
    add_folder_source(runtime, root)
    sources.set_paused(runtime, "lab", True)
    server = serve_metrics(runtime, ":0")
    try:
        age = ("etiket_sync_oldest_pending_age_seconds", (("source", "lab"),))
        assert scrape(server.url)[age] == 0  # nothing discovered yet
        src = repo.get_source(runtime.state, "lab")
        repo.record_discovery(runtime.state, src.id, [repo.Discovered("waiting")], {})
        assert wait_for(lambda: scrape(server.url)[age] > 0)
        metrics = scrape(server.url)
        assert metrics[("etiket_sync_items", (("source", "lab"), ("state", "pending")))] == 1
        assert metrics[("etiket_sync_source_paused", (("source", "lab"),))] == 1
        assert ("etiket_sync_last_success_timestamp_seconds", (("source", "lab"),)) not in metrics
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9464", ("127.0.0.1", 9464)),
        (":9464", ("127.0.0.1", 9464)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:9464", ("::1", 9464)),
    ],
)
def test_addresses_bind_to_localhost_unless_told(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["host:", "x:y", "1:70000", ""])
def test_bad_addresses_are_one_line_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="invalid metrics address"):
        parse_address(text)


def test_a_taken_port_is_a_clear_error(runtime: Runtime) -> None:
    server = serve_metrics(runtime, "127.0.0.1:0")
    try:
        with pytest.raises(ConfigError, match="cannot serve metrics"):
            serve_metrics(runtime, f"127.0.0.1:{server.address[1]}")
    finally:
        server.stop()


def test_the_run_entry_starts_and_stops_metrics_and_notifier(runtime: Runtime) -> None:
    from etiket_sync_agent.cli.ops_cmd import serve_metrics as run_entry

    handle = run_entry(runtime, "127.0.0.1:0")
    url = handle.metrics_url
    assert url and url.startswith("http://127.0.0.1:")
    assert healthz(url)[0] == 503  # no loop runs
    assert {type(p).__name__ for p in handle.parts} == {"MetricsServer", "NotifierThread"}
    handle.stop()
    handle.stop()  # idempotent
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/healthz", timeout=5)
