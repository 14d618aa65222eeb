"""The pages over real HTTP: overview, problems with a cross-site-safe retry, datasets."""

from __future__ import annotations

import re

from tests.helpers import item_status


def _csrf(html: str) -> str:
    m = re.search(r'name=csrf value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def test_overview_lists_sources_with_counts_and_polls(served) -> None:
    page = served.get("/")
    assert page.status == 200
    assert "lab" in page.text and "folderbase" in page.text
    assert 'data-poll="/api/status"' in page.text
    assert "<tr class=bad>" in page.text  # the source with a failed item is marked
    js = served.get("/static/app.js")
    assert js.status == 200 and "setTimeout(poll, 2000)" in js.text
    assert served.get("/static/style.css").status == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_problems_retry_needs_same_origin_and_token(served, lab) -> None:
    page = served.get("/problems").text
    assert "broken" in page and "invalid _QH_dataset_info.yaml" in page
    assert "etiket-sync item lab broken" in page  # the hint
    csrf = _csrf(page)
    form = f"csrf={csrf}&item=broken".encode()
    kind = {"Content-Type": "application/x-www-form-urlencoded"}

    evil = served.request(
        "POST", "/api/sources/lab/retry", form, kind | {"Origin": "http://evil.example"}
    )
    assert evil.status == 403
    no_origin = served.request("POST", "/api/sources/lab/retry", form, kind)
    assert no_origin.status == 403
    wrong = served.request(
        "POST",
        "/api/sources/lab/retry",
        b"csrf=guess&item=broken",
        kind | {"Origin": served.origin},
    )
    assert wrong.status == 403
    assert item_status(lab, "broken") == "failed"

    ok = served.request("POST", "/api/sources/lab/retry", form, kind | {"Origin": served.origin})
    assert ok.status == 303 and ok.headers["location"] == "/problems?requeued=1"
    assert item_status(lab, "broken") == "pending"
    assert "1 item(s) queued again" in served.get("/problems?requeued=1").text

    # JSON clients: the same checks, the header form of the token, a JSON answer
    again = served.request(
        "POST",
        "/api/sources/lab/retry",
        b"{}",
        {"Content-Type": "application/json", "X-CSRF-Token": csrf, "Referer": served.origin + "/"},
    )
    assert again.status == 200 and again.json() == {"source": "lab", "requeued": 0}


def test_datasets_pages(served, lab) -> None:
    listing = served.get("/datasets").text
    assert "first run" in listing and "second" in listing
    (first,) = [d for d in lab.store.list_datasets() if d.name == "first run"]
    page = served.get(f"/datasets/{first.uuid}")
    assert page.status == 200
    assert "cooldown" in page.text and "data.txt" in page.text and "v1:" in page.text
    assert served.get("/datasets/nosuchdataset").status == 404


def test_data_is_escaped(tmp_path, runtime) -> None:
    from etiket_sync_agent.runtime import Runtime
    from etiket_sync_agent.web.server import start_in_thread
    from tests.conftest import FAST
    from tests.helpers import add_folder_source, make_dataset, run_once
    from tests.web.conftest import Client

    root = tmp_path / "acq"
    make_dataset(root, "x", name="<script>alert(1)</script>", tags=["<b>t</b>"])
    add_folder_source(runtime, root)
    run_once(runtime, FAST)
    server = start_in_thread(lambda: Runtime(runtime.home))
    try:
        c = Client(server)
        for path in (
            "/datasets",
            "/datasets?q=%3Cscript",
            f"/datasets/{runtime.store.list_datasets()[0].uuid}",
        ):
            text = c.get(path).text
            assert "<script>alert" not in text and "&lt;script&gt;" in text
    finally:
        server.stop()


def test_overview_says_when_the_store_is_unreachable(served, lab) -> None:
    from datetime import datetime, timezone

    from etiket_sync_agent.state import repository as repo
    from etiket_sync_agent.web.pages import summary

    assert re.search(r"<p id=store class=warn hidden>", served.get("/").text)
    since = datetime(2026, 11, 30, 12, 52, 3, tzinfo=timezone.utc)
    # what the loop's store probe records when the store stops answering
    repo.set_loop_status(lab.state, store_unreachable_since=since, store_error="no route to S3")
    page = served.get("/").text
    assert re.search(r"<p id=store class=warn>Store unreachable since", page)
    assert "2026-11-30T12:52:03+00:00" in page and "no route to S3" in page
    data = served.get("/api/status").json()
    assert data["store"]["reachable"] is False
    # the line at a glance: failures first, then the store, then the rest
    assert summary(data["sources"], data["store"])[0] == "error"
    calm = [dict(s, status="ok", items=dict(s["items"], failed=0)) for s in data["sources"]]
    css, text = summary(calm, data["store"])
    assert css == "warn" and text.startswith("The store is unreachable")
    idle = {"pending": 0, "live": 0, "waiting": 2}
    waiting = [dict(s, items=dict(s["items"], **idle), waiting_for_store=2) for s in calm]
    assert "scope mapping" not in summary(waiting, {"reachable": True})[1]
    mapping = [dict(s, waiting_for_store=0) for s in waiting]
    assert summary(mapping, {"reachable": True}) == (
        "warn", "2 item(s) waiting for a scope mapping."
    )  # fmt: skip
    repo.set_loop_status(lab.state, store_unreachable_since=None, store_error=None)
    assert re.search(r"<p id=store class=warn hidden>", served.get("/").text)
