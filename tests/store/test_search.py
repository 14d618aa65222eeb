"""Dataset search runs in the catalog's SQL: the same answers on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from etiket_sync_agent.errors import ConfigError, NotFoundError
from etiket_sync_agent.store.interface import DatasetSpec
from etiket_sync_agent.store.local import LocalStore

UTC = timezone.utc
DAY = datetime(2026, 3, 10, tzinfo=UTC)
ODD_TAGS = ['say "hi"', "back\\slash", "Zürich", "100%"]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def catalog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStore]:
    """One store per database, filled once for the module (the tests only read)."""
    url = None
    if request.param == "postgres":
        make: Callable[[], str] = request.getfixturevalue("make_pg_database")
        url = make()
    store = LocalStore(tmp_path_factory.mktemp(request.param) / "store", catalog_url=url)
    for scope in ("lab", "cleanroom", "oddities"):
        store.create_scope(scope)
    specs = [
        DatasetSpec("a", "lab", "Rabi sweep", collected=DAY, tags=["cooldown", "q1"],
                    attributes={"sample": "A7", "fridge": 3, "ok": True, "gain": 1.5},
                    source="qc"),
        DatasetSpec("b", "lab", "rabi_SWEEP 2", collected=DAY + timedelta(hours=23, minutes=59),
                    tags=["q1"], attributes={"sample": "B1", "ok": False}, source="qc"),
        DatasetSpec("c", "cleanroom", "100% done", collected=DAY + timedelta(days=1),
                    tags=["cooldowns"], attributes={"sample": "A7"}, source="folder"),
        DatasetSpec("d", "lab", "T1 decay", collected=DAY - timedelta(seconds=1),
                    attributes={"samples": "A7"}, source="folder"),
        DatasetSpec("e", "lab", "undated rabi", tags=["cooldown"], attributes={"sample": "A7"}),
        DatasetSpec("f00d-1", "oddities", "Rabi final", alt_uid="rabi"),
        DatasetSpec("odd", "oddities", "odd tags", tags=ODD_TAGS,
                    attributes={"code": "007", "ratio": 2.0, "flag": "true"}),
    ]  # fmt: skip
    for spec in specs:
        store.upsert_dataset(spec)
    yield store
    store.close()


def uuids(store: LocalStore, **filters: object) -> list[str]:
    return [d.uuid for d in store.list_datasets(**filters)]  # type: ignore[arg-type]


def test_no_filter_is_everything_newest_first_undated_last(catalog: LocalStore) -> None:
    assert uuids(catalog) == ["c", "b", "a", "d", "odd", "f00d-1", "e"]  # undated: newest created


def test_name_text_is_a_case_insensitive_substring(catalog: LocalStore) -> None:
    assert uuids(catalog, text="RABI") == ["b", "a", "f00d-1", "e"]
    assert uuids(catalog, text="sweep 2") == ["b"]
    assert uuids(catalog, text="nothing") == []


def test_like_wildcards_in_the_text_are_plain_characters(catalog: LocalStore) -> None:
    assert uuids(catalog, text="%") == ["c"]
    assert uuids(catalog, text="_") == ["b"]
    assert uuids(catalog, text="0% d") == ["c"]


def test_tag_matches_exactly(catalog: LocalStore) -> None:
    assert uuids(catalog, tag="cooldown") == ["a", "e"]  # not "cooldowns"
    assert uuids(catalog, tag="q1") == ["b", "a"]
    assert uuids(catalog, tag="cool") == []


def test_tags_with_quotes_backslashes_and_accents(catalog: LocalStore) -> None:
    """Tags that JSON escapes (and the SQLite text pre-test skips) are found too."""
    for tag in ODD_TAGS:
        assert uuids(catalog, tag=tag) == ["odd"], tag
    assert uuids(catalog, tag="zürich") == [] and uuids(catalog, tag="100") == []


def test_attribute_by_name_or_by_value_as_text(catalog: LocalStore) -> None:
    assert uuids(catalog, attribute=("sample", None)) == ["c", "b", "a", "e"]  # not "samples"
    assert uuids(catalog, attribute=("sample", "A7")) == ["c", "a", "e"]
    assert uuids(catalog, attribute=("fridge", "3")) == ["a"]
    assert uuids(catalog, attribute=("gain", "1.5")) == ["a"]
    assert uuids(catalog, attribute=("ok", "true")) == ["a"]
    assert uuids(catalog, attribute=("ok", "false")) == ["b"]
    assert uuids(catalog, attribute=("sample", "a7")) == []
    assert uuids(catalog, attribute=("nope", None)) == []


def test_attribute_values_compare_as_their_text_not_as_numbers(catalog: LocalStore) -> None:
    assert uuids(catalog, attribute=("code", "007")) == ["odd"]
    assert uuids(catalog, attribute=("code", "7")) == []
    assert uuids(catalog, attribute=("ratio", "2.0")) == ["odd"]
    assert uuids(catalog, attribute=("ratio", "2")) == []
    assert uuids(catalog, attribute=("flag", "true")) == ["odd"]  # the string "true"
    assert uuids(catalog, attribute=("fridge", "3.0")) == []
    assert uuids(catalog, attribute=("fridge", "NaN")) == []


def test_dates_since_included_until_excluded_undated_never(catalog: LocalStore) -> None:
    next_day = DAY + timedelta(days=1)
    assert uuids(catalog, since=DAY, until=next_day) == ["b", "a"]
    assert uuids(catalog, since=next_day) == ["c"]
    assert uuids(catalog, until=DAY) == ["d"]
    # another offset of the same instant
    local = DAY.astimezone(timezone(timedelta(hours=2)))
    assert uuids(catalog, since=local, until=next_day) == ["b", "a"]


def test_scope_and_source(catalog: LocalStore) -> None:
    assert uuids(catalog, scope="cleanroom") == ["c"]
    assert uuids(catalog, source="folder") == ["c", "d"]
    assert uuids(catalog, scope="lab", source="folder") == ["d"]
    with pytest.raises(NotFoundError, match="nosuch"):
        catalog.list_datasets(scope="nosuch", text="x")


def test_filters_combine(catalog: LocalStore) -> None:
    assert uuids(catalog, text="rabi", tag="cooldown", attribute=("sample", "A7")) == ["a", "e"]
    assert uuids(catalog, text="rabi", tag="cooldown", since=DAY) == ["a"]
    assert uuids(catalog, scope="lab", tag="q1", attribute=("ok", "false")) == ["b"]


def test_limit_and_offset_page_through_in_order(catalog: LocalStore) -> None:
    everything = uuids(catalog)
    pages = [uuids(catalog, limit=2, offset=n) for n in range(0, len(everything) + 2, 2)]
    assert sum(pages, []) == everything and pages[-1] == []
    assert all(len(p) == 2 for p in pages[: len(everything) // 2])
    assert uuids(catalog, text="rabi", limit=1, offset=1) == ["a"]


def test_rows_carry_their_metadata(catalog: LocalStore) -> None:
    (a,) = catalog.list_datasets(tag="q1", attribute=("fridge", None))
    assert (a.scope, a.name, a.source, a.collected) == ("lab", "Rabi sweep", "qc", DAY)
    assert a.tags == ("cooldown", "q1") and a.attributes["gain"] == 1.5 and a.files == ()


def test_the_service_parses_days_and_attributes(tmp_path: Path) -> None:
    from etiket_sync_agent.home import Home
    from etiket_sync_agent.runtime import Runtime
    from etiket_sync_agent.services.datasets import list_datasets

    rt = Runtime(Home.resolve(tmp_path / "home"))
    try:
        rt.store.create_scope("lab")
        for uuid, hour in (("late", 23), ("early", 0)):
            rt.store.upsert_dataset(
                DatasetSpec(
                    uuid, "lab", uuid, collected=DAY.replace(hour=hour), attributes={"k": "v=w"}
                )
            )
        names = lambda **f: [r["name"] for r in list_datasets(rt, **f)]  # noqa: E731
        assert names(since="2026-03-10", until="2026-03-10") == ["late", "early"]
        assert names(until="2026-03-09") == [] and names(since="2026-03-11") == []
        assert names(attribute="k=v=w") == ["late", "early"]  # the first = separates
        assert names(attribute=" k ") == ["late", "early"]
        with pytest.raises(ConfigError, match="not a date"):
            list_datasets(rt, since="10.3.2026")
        with pytest.raises(ConfigError, match="no name"):
            list_datasets(rt, attribute="=x")
        with pytest.raises(NotFoundError, match="nosuch"):
            list_datasets(rt, source="nosuch", text="x")
    finally:
        rt.close()


def test_match_datasets_by_alt_uid_then_uuid_or_name_prefix(catalog: LocalStore) -> None:
    from etiket_sync_agent.store.interface import DatasetStore

    for ref, limit, expected in (
        ("rabi", None, ["f00d-1", "b", "a"]),  # the alt_uid first, then names
        ("RABI", None, ["b", "a", "f00d-1"]),  # no alt_uid is "RABI": names only
        ("f00d", None, ["f00d-1"]),  # a uuid prefix
        ("f00", None, []),  # too short for a uuid prefix, and no name starts so
        ("rabi", 2, ["f00d-1", "b"]),
        ("100%", None, ["c"]),  # LIKE's characters are plain
        ("_", None, []),
    ):
        found = [d.uuid for d in catalog.match_datasets(ref, limit=limit)]
        assert found == expected, ref
        # the interface's default (reading every dataset) gives the same answer
        default = DatasetStore.match_datasets(catalog, ref, limit=limit)
        assert [d.uuid for d in default] == expected, ref
