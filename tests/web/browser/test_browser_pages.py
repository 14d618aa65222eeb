"""The page in headless Chromium over a synchronized home (tests/web/conftest.py ``lab``:
two good datasets, one with broken YAML): Problems with a working Retry button, the
dataset search form, and a file downloaded through the dataset page's link."""

from __future__ import annotations

from tests.helpers import item_status


def test_failed_item_on_problems_page_and_retry_requeues_it(
    served, lab, browser_factory, cli
) -> None:
    b = browser_factory(served.origin)
    b.open("/problems")
    row = b.wait("the failed item's row", lambda: b.find_all("tr.failed"))
    assert len(row) == 1
    text = row[0].text
    assert "broken" in text and "invalid _QH_dataset_info.yaml" in text  # its error line
    assert "etiket-sync item lab broken" in text  # the hint
    b.screenshot("problems-with-failed-item")

    (before,) = [
        i for i in cli("items", "lab", "--json", as_json=True) if i["identifier"] == "broken"
    ]
    assert before["status"] == "failed"
    button = row[0].find_element("css selector", "button")
    assert button.get_attribute("aria-label") == "Retry broken"  # says which, to a screen reader
    b.click_to_load(button)  # Retry of this item only
    assert "1 item(s) queued again" in b.find("main").text
    assert b.driver.current_url.endswith("/problems?requeued=1")
    b.screenshot("problems-after-retry")
    (after,) = [
        i for i in cli("items", "lab", "--json", as_json=True) if i["identifier"] == "broken"
    ]
    assert after["status"] == "pending"
    assert item_status(lab, "run1") == "synchronized"  # the others are untouched
    assert "No problems" in b.find("main").text  # nothing failed any more


def test_search_by_tag_finds_the_tagged_dataset_only(served, browser_factory) -> None:
    b = browser_factory(served.origin)
    b.open("/datasets")
    names = lambda: [r.text for r in b.find_all("#datasets tbody tr td:first-child")]  # noqa: E731
    assert sorted(b.wait("all datasets", names)) == ["first run", "second"]
    b.screenshot("datasets-all")

    b.find("form.search input[name=tag]").send_keys("cooldown")
    b.click_to_load(b.find("form.search button"))
    assert "tag=cooldown" in b.driver.current_url
    assert names() == ["first run"]
    assert "1 dataset(s)." in b.find("main").text
    assert b.find("form.search input[name=tag]").get_attribute("value") == "cooldown"
    b.screenshot("datasets-tag-cooldown")

    tag = b.find("form.search input[name=tag]")
    tag.clear()
    tag.send_keys("nosuchtag")
    b.click_to_load(b.find("form.search button"))
    assert "0 dataset(s)." in b.find("main").text
    assert names() == []
    b.screenshot("datasets-tag-none")


def test_search_by_attribute_and_collection_dates(served, browser_factory) -> None:
    b = browser_factory(served.origin)
    b.open("/datasets")
    names = lambda: [r.text for r in b.find_all("#datasets tbody tr td:first-child")]  # noqa: E731
    b.find("form.search input[name=attribute]").send_keys("sample=A7")
    b.click_to_load(b.find("form.search button"))
    assert names() == ["first run"]

    b.open("/datasets")
    b.find("input[name=since]").send_keys("01012025")  # typed as a person does (en-US)
    b.find("input[name=until]").send_keys("01032025")
    assert b.find("input[name=since]").get_attribute("value") == "2025-01-01"
    b.click_to_load(b.find("form.search button"))
    assert "since=2025-01-01" in b.driver.current_url
    assert names() == ["first run"]  # collected 2025-01-02; the others today
    b.screenshot("datasets-dates")


def test_downloaded_file_equals_the_stored_bytes(served, lab, browser_factory) -> None:
    from tests.web.conftest import PAYLOAD

    (second,) = [d for d in lab.store.list_datasets() if d.name == "second"]
    with lab.store.open_file(second.uuid, "sub/blob.bin") as fh:
        stored = fh.read()
    assert stored == PAYLOAD

    b = browser_factory(served.origin)
    b.open("/datasets")
    b.wait("the dataset link", lambda: b.find_all("#datasets a"))
    [link] = [a for a in b.find_all("#datasets a") if a.text == "second"]
    b.click_to_load(link)
    b.screenshot("dataset-second")
    [file_link] = [a for a in b.find_all("#files a[download]") if a.text == "sub/blob.bin"]
    file_link.click()

    def done() -> bool:  # Chromium writes NAME.crdownload, then renames it when complete
        names = [f.name for f in b.downloads.iterdir()]
        return "blob.bin" in names and not any(n.endswith(".crdownload") for n in names)

    b.wait("the downloaded file", done)
    assert [f.name for f in b.downloads.iterdir()] == ["blob.bin"]  # the stored name
    assert (b.downloads / "blob.bin").read_bytes() == stored
    b.screenshot("dataset-second-after-download")


def test_download_keeps_a_non_ascii_name(tmp_path, runtime, browser_factory) -> None:
    """The browser saves the file under its exact name (``filename*`` of the header)."""
    from etiket_sync_agent.runtime import Runtime
    from etiket_sync_agent.web.server import start_in_thread
    from tests.conftest import FAST
    from tests.helpers import add_folder_source, make_dataset, run_once

    content = "température;résistance\n0.02;1.5e3\n".encode()
    make_dataset(tmp_path / "acq", "r1", {"mesures/données été.csv": content}, name="été")
    add_folder_source(runtime, tmp_path / "acq")
    run_once(runtime, FAST)
    server = start_in_thread(lambda: Runtime(runtime.home))
    try:
        b = browser_factory(server.url)
        b.open(f"/datasets/{runtime.store.list_datasets()[0].uuid}")
        [link] = [a for a in b.find_all("#files a[download]") if a.text.endswith(".csv")]
        assert link.text == "mesures/données été.csv"
        link.click()

        def saved() -> list[str]:
            names = [f.name for f in b.downloads.iterdir()]
            return [] if any(n.endswith(".crdownload") for n in names) else names

        assert b.wait("the downloaded file", saved) == ["données été.csv"]
        assert (b.downloads / "données été.csv").read_bytes() == content
        b.screenshot("dataset-non-ascii-download")
    finally:
        server.stop()
