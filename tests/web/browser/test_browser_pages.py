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
    b.click_to_load(row[0].find_element("css selector", "button"))  # Retry of this item only
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
