"""The JSON API over real HTTP returns what the CLI's ``--json`` prints, and downloads
give the stored bytes."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import quote

from tests.web.conftest import PAYLOAD


def test_api_equals_cli_json(served, cli) -> None:
    assert served.get("/api/status").json() == cli("status", "--json", as_json=True)
    assert served.get("/api/sources").json() == cli("sources", "list", "--json", as_json=True)
    assert served.get("/api/sources/lab").json() == cli(
        "sources", "show", "lab", "--json", as_json=True
    )
    items = served.get("/api/sources/lab/items").json()
    assert items == cli("items", "lab", "--json", as_json=True)
    assert {i["status"] for i in items} == {"synchronized", "failed"}
    failed = served.get("/api/sources/lab/items?status=failed").json()
    assert failed == cli("items", "lab", "--status", "failed", "--json", as_json=True)
    assert [i["identifier"] for i in failed] == ["broken"]
    assert served.get("/api/sources/lab/items/broken").json() == cli(
        "item", "lab", "broken", "--json", as_json=True
    )
    listing = served.get("/api/datasets").json()
    assert listing == cli("datasets", "list", "--json", as_json=True)
    assert len(listing) == 2
    assert served.get("/api/datasets?scope=proj&limit=1").json() == cli(
        "datasets", "list", "--scope", "proj", "--limit", "1", "--json", as_json=True
    )
    assert served.get("/api/scopes").json() == cli("scopes", "list", "--json", as_json=True)
    for row in listing:
        assert served.get(f"/api/datasets/{row['uuid']}").json() == cli(
            "datasets", "show", row["uuid"], "--json", as_json=True
        )


def test_errors_are_the_json_error_object(served, cli) -> None:
    r = served.get("/api/sources/nosuch/items")
    assert r.status == 404
    err = cli("items", "nosuch", "--json", check=False).stderr
    assert r.json()["error"] in err and r.json()["type"] == "NotFoundError"
    bad = served.get("/api/sources/lab/items?status=bogus")
    assert bad.status == 400 and bad.json()["hint"]


def test_search_by_name_and_tag(served) -> None:
    by_tag = served.get("/api/datasets?tag=cooldown").json()
    assert [d["name"] for d in by_tag] == ["first run"]
    by_name = served.get("/api/datasets?q=SECOND").json()
    assert [d["name"] for d in by_name] == ["second"]
    assert served.get("/api/datasets?tag=nothing").json() == []
    page = served.get("/datasets?tag=cooldown").text
    assert "first run" in page and ">second<" not in page


def test_search_equals_the_cli_filters(served, cli) -> None:
    """The page's filters are ``datasets list``'s options, with the same rows."""
    for query, options in (
        ("tag=cooldown", ["--tag", "cooldown"]),
        ("q=RUN&since=2025-01-02&until=2025-01-02", ["--text", "RUN", "--since", "2025-01-02",
                                                     "--until", "2025-01-02"]),
        ("attribute=sample%3DA7", ["--attribute", "sample=A7"]),
        ("q=S&limit=1&offset=1", ["--text", "s", "--limit", "2"]),
    ):  # fmt: skip
        rows = json.loads(cli("datasets", "list", *options, "--json").stdout)
        api = served.get(f"/api/datasets?{query}").json()
        if "offset=1" in query:
            rows = rows[1:]
        assert api == rows and rows, query
    page = served.get("/datasets?source=lab&q=FIRST").text
    assert "first run" in page and ">second<" not in page
    assert served.get("/datasets?source=nosuch").status == 404
    bad = cli("datasets", "list", "--since", "yesterday", check=False)
    assert bad.returncode != 0 and "YYYY-MM-DD" in bad.stderr


def test_download_is_the_stored_file(served, lab) -> None:
    (second,) = [d for d in lab.store.list_datasets() if d.name == "second"]
    info = lab.store.get_dataset(second.uuid)
    blob = next(f for f in info.files if f.name.endswith("blob.bin"))
    r = served.get(f"/files/{second.uuid}/{quote(blob.name)}")
    assert r.status == 200
    assert r.body == PAYLOAD
    assert hashlib.sha256(r.body).hexdigest() == blob.latest.sha256
    assert r.headers["content-type"] == "application/octet-stream"
    assert 'filename="blob.bin"' in r.headers["content-disposition"]
    csv = next(f for f in info.files if f.name == "notes.csv")
    r = served.get(f"/files/{second.uuid}/notes.csv")
    assert r.body == b"a,b\n1,2\n" and r.headers["content-type"].startswith("text/csv")
    # the dataset page links to it
    assert f"/files/{second.uuid}/{csv.name}" in served.get(f"/datasets/{second.uuid}").text


def test_search_by_attribute_and_date(served) -> None:
    names = lambda path: [d["name"] for d in served.get(path).json()]  # noqa: E731
    assert names("/api/datasets?attribute=sample=A7") == ["first run"]
    assert names("/api/datasets?attribute=sample") == ["first run"]
    assert names("/api/datasets?attribute=sample=B1") == []
    assert names("/api/datasets?since=2025-01-01&until=2025-01-31") == ["first run"]
    assert names("/api/datasets?until=2025-01-01") == []
    assert set(names("/api/datasets?since=2025-01-02")) == {"first run", "second"}
    bad = served.get("/api/datasets?since=yesterday")
    assert bad.status == 400 and "YYYY-MM-DD" in bad.json()["hint"]
    assert served.get("/api/datasets?scope=nosuch&q=x").status == 404
    page = served.get("/datasets?attribute=sample%3DA7&since=2025-01-01").text
    assert "first run" in page and ">second<" not in page


def test_status_follows_a_running_sync(tmp_path, runtime) -> None:
    """While the loop runs, /api/status reaches the final counts and a running loop."""
    from etiket_sync_agent.runtime import Runtime
    from etiket_sync_agent.web.server import start_in_thread
    from tests.conftest import FAST
    from tests.helpers import add_folder_source, make_dataset, running_engine, wait_for
    from tests.web.conftest import Client

    root = tmp_path / "acq"
    for n in range(5):
        make_dataset(root, f"r{n}")
    add_folder_source(runtime, root)
    server = start_in_thread(lambda: Runtime(runtime.home))
    try:
        c = Client(server)
        first = c.get("/api/status").json()
        assert first["sources"][0]["items"]["synchronized"] < 5
        with running_engine(runtime, FAST):

            def done() -> bool:
                data = c.get("/api/status").json()
                return (
                    data["loop"]["state"] == "running"
                    and data["sources"][0]["items"]["synchronized"] == 5
                )

            assert wait_for(done, 60), c.get("/api/status").json()
            make_dataset(root, "r5")  # a new dataset appears while the page watches
            assert wait_for(
                lambda: c.get("/api/status").json()["sources"][0]["items"]["synchronized"] == 6,
                60,
            )
    finally:
        server.stop()
