"""The DatasetStore contract (see ``store/interface.py``), run on every implementation."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from etiket_sync_agent.errors import NotFoundError, StoreError
from etiket_sync_agent.store.interface import DatasetSpec, FileStatus
from etiket_sync_agent.store.local import LocalStore

UTC = timezone.utc
LIVE, COMPLETE = FileStatus.LIVE, FileStatus.COMPLETE


def blob_files(store: LocalStore) -> set[str]:
    """The contents its blob storage holds (a folder or a bucket)."""
    return set(store.blobs.iter_blobs())


def tmp_files(root: Path) -> list[Path]:
    return list((root / "tmp").iterdir())


@pytest.fixture
def scoped(store: LocalStore) -> LocalStore:
    store.create_scope("lab")
    return store


@pytest.fixture
def ds(scoped: LocalStore) -> str:
    return scoped.upsert_dataset(DatasetSpec(uuid="d-1", scope="lab", name="sweep")).uuid


# -- scopes -------------------------------------------------------------------------------


def test_create_scope_is_idempotent(store: LocalStore) -> None:
    first = store.create_scope("lab", "the lab")
    again = store.create_scope("lab", "other text")
    assert again == first
    assert again.description == "the lab"
    assert [s.name for s in store.list_scopes()] == ["lab"]
    assert store.get_scope("lab") == first
    assert store.get_scope("nope") is None


def test_list_scopes_counts_datasets_and_sorts_by_name(store: LocalStore) -> None:
    store.create_scope("zeta")
    store.create_scope("alpha")
    for i in range(3):
        store.upsert_dataset(DatasetSpec(uuid=f"u{i}", scope="zeta", name=f"d{i}"))
    assert [(s.name, s.n_datasets) for s in store.list_scopes()] == [("alpha", 0), ("zeta", 3)]
    assert store.get_scope("zeta").n_datasets == 3


@pytest.mark.parametrize("bad", ["", "   "])
def test_scope_name_must_not_be_empty(store: LocalStore, bad: str) -> None:
    with pytest.raises(StoreError):
        store.create_scope(bad)


# -- datasets -----------------------------------------------------------------------------


def test_upsert_creates_then_updates_by_uuid(scoped: LocalStore) -> None:
    when = datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    spec = DatasetSpec(
        uuid="d-1",
        scope="lab",
        name="sweep",
        alt_uid="guid-1",
        description="first",
        collected=when,
        tags=["a", "b"],
        attributes={"sample": "S1", "n": 3, "x": 1.5, "ok": True},
        ranking=2,
        creator="alice",
        source="qcodes-1",
    )
    created = scoped.upsert_dataset(spec)
    assert (created.uuid, created.alt_uid, created.scope, created.name) == (
        "d-1",
        "guid-1",
        "lab",
        "sweep",
    )
    assert created.collected == when and created.collected.tzinfo == UTC
    assert created.tags == ("a", "b")
    assert created.attributes == {"sample": "S1", "n": 3, "x": 1.5, "ok": True}
    assert (created.ranking, created.creator, created.source) == (2, "alice", "qcodes-1")

    spec.name, spec.description, spec.tags = "sweep 2", "second", ["c"]
    updated = scoped.upsert_dataset(spec)
    assert (updated.uuid, updated.name, updated.description, updated.tags) == (
        "d-1",
        "sweep 2",
        "second",
        ("c",),
    )
    assert updated.created == created.created
    assert updated.modified >= created.modified
    assert scoped.get_dataset("d-1") == updated
    assert len(scoped.list_datasets()) == 1


def test_upsert_matches_alt_uid_and_keeps_the_original_uuid(scoped: LocalStore) -> None:
    scoped.upsert_dataset(DatasetSpec(uuid="orig", scope="lab", name="a", alt_uid="guid"))
    again = scoped.upsert_dataset(DatasetSpec(uuid="new", scope="lab", name="b", alt_uid="guid"))
    assert again.uuid == "orig" and again.name == "b"
    assert [d.uuid for d in scoped.list_datasets()] == ["orig"]
    assert scoped.find_dataset(scope="lab", alt_uid="guid").uuid == "orig"
    assert scoped.find_dataset(scope="lab", alt_uid="other") is None
    with pytest.raises(NotFoundError):
        scoped.get_dataset("new")


def test_alt_uid_is_unique_per_scope_only(scoped: LocalStore) -> None:
    scoped.create_scope("other")
    a = scoped.upsert_dataset(DatasetSpec(uuid="a", scope="lab", name="a", alt_uid="guid"))
    b = scoped.upsert_dataset(DatasetSpec(uuid="b", scope="other", name="b", alt_uid="guid"))
    assert (a.uuid, b.uuid) == ("a", "b")
    with pytest.raises(StoreError, match="already belongs"):
        scoped.upsert_dataset(DatasetSpec(uuid="b", scope="lab", name="b", alt_uid="guid"))


def test_upsert_into_missing_scope_raises_not_found(store: LocalStore) -> None:
    with pytest.raises(NotFoundError, match="nowhere") as err:
        store.upsert_dataset(DatasetSpec(uuid="x", scope="nowhere", name="n"))
    assert "scopes create" in err.value.hint
    assert store.list_datasets() == []


def test_unknown_dataset_raises_not_found(store: LocalStore) -> None:
    with pytest.raises(NotFoundError, match="missing-uuid"):
        store.get_dataset("missing-uuid")
    with pytest.raises(NotFoundError):
        store.upload_file("missing-uuid", "a.txt", io.BytesIO(b"x"))
    with pytest.raises(NotFoundError):
        store.open_file("missing-uuid", "a.txt")


def test_invalid_attributes_are_rejected(scoped: LocalStore) -> None:
    with pytest.raises(StoreError, match="attribute 'bad'"):
        scoped.upsert_dataset(
            DatasetSpec(uuid="x", scope="lab", name="n", attributes={"bad": object()})
        )


def test_list_datasets_order_and_filters(scoped: LocalStore) -> None:
    scoped.create_scope("other")
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    scoped.upsert_dataset(DatasetSpec(uuid="undated", scope="lab", name="u", source="s1"))
    scoped.upsert_dataset(DatasetSpec(uuid="old", scope="lab", name="o", collected=t0))
    scoped.upsert_dataset(
        DatasetSpec(uuid="new", scope="other", name="n", collected=t0 + timedelta(days=1))
    )
    # local time with an offset sorts by its UTC instant
    mid = datetime(2024, 1, 1, 13, tzinfo=timezone(timedelta(hours=5)))
    scoped.upsert_dataset(
        DatasetSpec(uuid="mid", scope="lab", name="m", collected=mid, source="s1")
    )
    assert [d.uuid for d in scoped.list_datasets()] == ["new", "mid", "old", "undated"]
    assert [d.uuid for d in scoped.list_datasets(scope="lab")] == ["mid", "old", "undated"]
    assert [d.uuid for d in scoped.list_datasets(source="s1")] == ["mid", "undated"]
    assert [d.uuid for d in scoped.list_datasets(limit=2)] == ["new", "mid"]
    assert all(d.files == () for d in scoped.list_datasets())
    with pytest.raises(NotFoundError):
        scoped.list_datasets(scope="nope")


# -- files and versions -------------------------------------------------------------------


def test_upload_new_file_is_version_1(scoped: LocalStore, ds: str, tmp_path: Path) -> None:
    src = tmp_path / "data.bin"
    src.write_bytes(b"hello world")
    result = scoped.upload_file(ds, "raw/data.bin", src, file_type="BIN", generator="g 1.0")
    assert result.changed
    assert result.version.version == 1 and result.version.status == COMPLETE
    assert result.version.size == 11
    assert result.version.sha256 == hashlib.sha256(b"hello world").hexdigest()
    assert (result.file.name, result.file.filename) == ("raw/data.bin", "data.bin")
    assert (result.file.file_type, result.file.generator) == ("BIN", "g 1.0")
    (info,) = scoped.get_dataset(ds).files
    assert info == result.file and info.latest == result.version
    with scoped.open_file(ds, "raw/data.bin") as fh:
        assert fh.read() == b"hello world"


def test_same_content_is_unchanged(scoped: LocalStore, ds: str, store_root: Path) -> None:
    first = scoped.upload_file(ds, "a.txt", io.BytesIO(b"same"))
    blobs = blob_files(scoped)
    again = scoped.upload_file(ds, "a.txt", io.BytesIO(b"same"))
    assert not again.changed
    assert again.version == first.version
    assert len(again.file.versions) == 1
    assert blob_files(scoped) == blobs
    # the same content under another name is stored once
    scoped.upload_file(ds, "copy.txt", io.BytesIO(b"same"))
    assert blob_files(scoped) == blobs


def test_changed_complete_upload_creates_next_version(scoped: LocalStore, ds: str) -> None:
    scoped.upload_file(ds, "a.txt", io.BytesIO(b"one"))
    second = scoped.upload_file(ds, "a.txt", io.BytesIO(b"two"))
    assert second.changed and second.version.version == 2
    assert [v.version for v in second.file.versions] == [1, 2]
    with scoped.open_file(ds, "a.txt") as fh:
        assert fh.read() == b"two"
    with scoped.open_file(ds, "a.txt", version=1) as fh:
        assert fh.read() == b"one"
    with pytest.raises(NotFoundError):
        scoped.open_file(ds, "a.txt", version=3)
    with pytest.raises(NotFoundError):
        scoped.open_file(ds, "b.txt")


def test_live_upload_replaces_in_place(scoped: LocalStore, ds: str, store_root: Path) -> None:
    first = scoped.upload_file(ds, "live.h5", io.BytesIO(b"part 1"), status=LIVE)
    second = scoped.upload_file(ds, "live.h5", io.BytesIO(b"part 1+2"), status=LIVE)
    assert first.version.version == second.version.version == 1
    assert second.changed and second.version.status == LIVE
    assert second.version.sha256 != first.version.sha256
    assert len(second.file.versions) == 1
    with scoped.open_file(ds, "live.h5") as fh:
        assert fh.read() == b"part 1+2"
    # the replaced content was referenced by nothing else: its blob is gone
    assert blob_files(scoped) == {second.version.sha256}


def test_replaced_live_content_still_used_elsewhere_is_kept(
    scoped: LocalStore, ds: str, store_root: Path
) -> None:
    shared = scoped.upload_file(ds, "other.txt", io.BytesIO(b"shared"))
    scoped.upload_file(ds, "live.h5", io.BytesIO(b"shared"), status=LIVE)
    scoped.upload_file(ds, "live.h5", io.BytesIO(b"grown"), status=LIVE)
    assert shared.version.sha256 in blob_files(scoped)
    with scoped.open_file(ds, "other.txt") as fh:
        assert fh.read() == b"shared"


def test_complete_after_live_finalizes_same_version(scoped: LocalStore, ds: str) -> None:
    scoped.upload_file(ds, "m.h5", io.BytesIO(b"v1 done"))
    live = scoped.upload_file(ds, "m.h5", io.BytesIO(b"v2 partial"), status=LIVE)
    assert live.version.version == 2 and live.version.status == LIVE
    final = scoped.upload_file(ds, "m.h5", io.BytesIO(b"v2 final"), status=COMPLETE)
    assert final.version.version == 2 and final.version.status == COMPLETE and final.changed
    # finalizing without new content: same version, no new bytes
    scoped.upload_file(ds, "n.h5", io.BytesIO(b"x"), status=LIVE)
    done = scoped.upload_file(ds, "n.h5", io.BytesIO(b"x"), status=COMPLETE)
    assert done.version.version == 1 and done.version.status == COMPLETE
    assert not done.changed
    # then a change makes version 3 / 2
    assert scoped.upload_file(ds, "m.h5", io.BytesIO(b"v3")).version.version == 3
    assert scoped.get_dataset(ds).files[0].latest.version == 3


def test_live_upload_never_reopens_a_complete_version(scoped: LocalStore, ds: str) -> None:
    scoped.upload_file(ds, "a.txt", io.BytesIO(b"done"))
    same = scoped.upload_file(ds, "a.txt", io.BytesIO(b"done"), status=LIVE)
    assert same.version.status == COMPLETE and not same.changed
    grown = scoped.upload_file(ds, "a.txt", io.BytesIO(b"done, more"), status=LIVE)
    assert grown.version.version == 2 and grown.version.status == LIVE


def test_upload_from_a_stream(scoped: LocalStore, ds: str) -> None:
    payload = bytes(range(256)) * 10_000  # several chunks
    result = scoped.upload_file(ds, "stream.bin", io.BufferedReader(io.BytesIO(payload)))
    assert result.version.size == len(payload)
    assert result.version.sha256 == hashlib.sha256(payload).hexdigest()
    with scoped.open_file(ds, "stream.bin") as fh:
        assert fh.read() == payload


@pytest.mark.parametrize(
    "name", ["", "/etc/passwd", "../up.txt", "a/../../b", "a//b", "./a", "a\\b", "C:/x"]
)
def test_invalid_file_names_are_rejected(scoped: LocalStore, ds: str, name: str) -> None:
    with pytest.raises(StoreError):
        scoped.upload_file(ds, name, io.BytesIO(b"x"))
    assert scoped.get_dataset(ds).files == ()


def test_missing_path_raises_and_stores_nothing(
    scoped: LocalStore, ds: str, tmp_path: Path, store_root: Path
) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        scoped.upload_file(ds, "gone.txt", tmp_path / "gone.txt")
    assert scoped.get_dataset(ds).files == ()
    assert tmp_files(store_root) == []


def _copy_started(store_root: Path) -> bool:
    for tmp in (store_root / "tmp").glob("*.tmp"):
        try:
            if tmp.stat().st_size > 0:
                return True
        except FileNotFoundError:
            pass
    return False


def _append(path: Path) -> None:
    with open(path, "ab") as fh:
        fh.write(b"more data")


@pytest.mark.parametrize(
    ("disturb", "error"),
    [(_append, "changed while being read"), (Path.unlink, "vanished while being read")],
    ids=["grows", "vanishes"],
)
def test_source_disturbed_during_upload_raises_and_stores_nothing(
    scoped: LocalStore,
    ds: str,
    tmp_path: Path,
    store_root: Path,
    disturb: Callable[[Path], None],
    error: str,
) -> None:
    big = tmp_path / "source.bin"
    big.write_bytes(b"\1" * (128 << 20))
    stop = threading.Event()

    def disturb_once_copy_started() -> None:
        # a real second party, acting as soon as the store has started copying the file
        while not stop.is_set():
            if _copy_started(store_root):
                disturb(big)
                return
            stop.wait(0.0005)

    other = threading.Thread(target=disturb_once_copy_started)
    other.start()
    try:
        with pytest.raises(StoreError, match=error):
            scoped.upload_file(ds, "source.bin", big)
    finally:
        stop.set()
        other.join()
    assert scoped.get_dataset(ds).files == ()
    assert tmp_files(store_root) == [] and blob_files(scoped) == set()


def test_failing_stream_leaves_no_temp_file(scoped: LocalStore, ds: str, store_root: Path) -> None:
    class Broken(io.RawIOBase):
        calls = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buf) -> int:  # noqa: ANN001
            self.calls += 1
            if self.calls > 2:
                raise OSError("device unplugged")
            buf[:4] = b"data"
            return 4

    with pytest.raises(OSError, match="unplugged"):
        scoped.upload_file(ds, "broken.bin", Broken())
    assert tmp_files(store_root) == [] and blob_files(scoped) == set()
    assert scoped.get_dataset(ds).files == ()


def test_successful_uploads_leave_no_temp_files(
    scoped: LocalStore, ds: str, tmp_path: Path, store_root: Path
) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(b"abc" * 1000)
    scoped.upload_file(ds, "f.bin", src)
    scoped.upload_file(ds, "f.bin", src)  # unchanged: staged copy discarded
    assert tmp_files(store_root) == []
    sha = hashlib.sha256(b"abc" * 1000).hexdigest()
    with scoped.blobs.open(sha) as fh:
        assert fh.read() == b"abc" * 1000


def test_concurrent_threads_number_versions_without_gaps(scoped: LocalStore, ds: str) -> None:
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for i in range(10):
                scoped.upload_file(ds, "shared.txt", io.BytesIO(f"{w}-{i}".encode()))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    (info,) = scoped.get_dataset(ds).files
    assert [v.version for v in info.versions] == list(range(1, 41))
    assert len({v.sha256 for v in info.versions}) == 40


# -- export -------------------------------------------------------------------------------


def test_export_writes_latest_files_in_sub_folders(
    scoped: LocalStore, ds: str, tmp_path: Path
) -> None:
    scoped.upload_file(ds, "top.txt", io.BytesIO(b"old"))
    scoped.upload_file(ds, "top.txt", io.BytesIO(b"top"))
    scoped.upload_file(ds, "sub/deeper/x.csv", io.BytesIO(b"1,2"))
    target = tmp_path / "export"
    written = scoped.export_dataset(ds, target)
    assert sorted(p.relative_to(target.resolve()).as_posix() for p in written) == [
        "sub/deeper/x.csv",
        "top.txt",
    ]
    assert (target / "top.txt").read_bytes() == b"top"
    assert (target / "sub" / "deeper" / "x.csv").read_bytes() == b"1,2"


def test_export_refuses_names_leaving_the_target(
    scoped: LocalStore, ds: str, tmp_path: Path
) -> None:
    # the store never accepts such a name; plant one in the catalog as a tampered row would
    scoped.upload_file(ds, "ok.txt", io.BytesIO(b"x"))
    from sqlalchemy import update

    from etiket_sync_agent.store.catalog import File

    with scoped._engine.begin() as conn:  # noqa: SLF001 - simulating a tampered catalog
        conn.execute(update(File).values(name="../escaped.txt"))
    with pytest.raises(StoreError, match="leave the export folder"):
        scoped.export_dataset(ds, tmp_path / "export")
    assert not (tmp_path / "escaped.txt").exists()


# -- stats and gc -------------------------------------------------------------------------


def test_stats_and_gc(scoped: LocalStore, ds: str, store_root: Path) -> None:
    scoped.upload_file(ds, "a.txt", io.BytesIO(b"12345"))
    scoped.upload_file(ds, "a.txt", io.BytesIO(b"123456"))
    scoped.upload_file(ds, "b.txt", io.BytesIO(b"12345"))
    assert scoped.stats() == {
        "scopes": 1,
        "datasets": 1,
        "files": 2,
        "versions": 3,
        "bytes": 11,
    }
    orphan_sha, _ = scoped.blobs.put(io.BytesIO(b"orphan"))
    (store_root / "tmp" / "crashed.tmp").write_bytes(b"left by a crash")
    assert scoped.gc(tmp_older_than=0) == {"blobs_removed": 1, "tmp_removed": 1}
    assert orphan_sha not in blob_files(scoped) and len(blob_files(scoped)) == 2
    assert scoped.gc() == {"blobs_removed": 0, "tmp_removed": 0}


def test_big_files_hash_exactly_what_is_stored(scoped: LocalStore, ds: str, tmp_path: Path) -> None:
    # > 8 MiB goes through the threaded copy pipeline, for paths and for open files
    payload = b"".join(i.to_bytes(4, "little") * 1024 for i in range(5000))  # ~20 MB
    src = tmp_path / "big.bin"
    src.write_bytes(payload)
    expected = hashlib.sha256(payload).hexdigest()
    assert scoped.upload_file(ds, "big.bin", src).version.sha256 == expected
    with open(src, "rb") as fh:
        again = scoped.upload_file(ds, "copy.bin", fh)
    assert again.version.sha256 == expected and again.version.size == len(payload)
    with scoped.open_file(ds, "copy.bin") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == expected


def test_naive_collected_is_local_time(scoped: LocalStore) -> None:
    naive = datetime(2024, 3, 1, 9, 15)
    info = scoped.upsert_dataset(DatasetSpec(uuid="x", scope="lab", name="n", collected=naive))
    assert info.collected == naive.astimezone(UTC) and info.collected.tzinfo == UTC


# -- verify -------------------------------------------------------------------------------


def _overwrite_content(store: LocalStore, sha256: str, data: bytes) -> None:
    """Damage a stored content behind the store's back (a disk or bucket fault)."""
    blobs = store.blobs
    if hasattr(blobs, "path"):  # the local folder
        blobs.path(sha256).write_bytes(data)
    else:  # a bucket
        blobs.client.put_object(Bucket=blobs.settings.bucket, Key=blobs.key(sha256), Body=data)


def test_verify_reports_missing_and_damaged_content(scoped: LocalStore, ds: str) -> None:
    kept = scoped.upload_file(ds, "a.txt", io.BytesIO(b"kept")).version.sha256
    scoped.upload_file(ds, "copy.txt", io.BytesIO(b"kept"))
    lost = scoped.upload_file(ds, "b.txt", io.BytesIO(b"lost")).version.sha256
    bad = scoped.upload_file(ds, "c.txt", io.BytesIO(b"good bytes")).version.sha256
    report = scoped.verify(deep=True)
    assert report["ok"] and report["problems"] == []
    assert (report["versions"], report["contents"]) == (4, 3)

    scoped.blobs.delete(lost)
    _overwrite_content(scoped, bad, b"bad bytes!")
    shallow = scoped.verify()
    assert not shallow["ok"]
    assert [(p["file"], p["problem"]) for p in shallow["problems"]] == [("b.txt", "missing")]
    deep = scoped.verify(deep=True)
    assert [(p["dataset"], p["file"], p["version"], p["problem"]) for p in deep["problems"]] == [
        (ds, "b.txt", 1, "missing"),
        (ds, "c.txt", 1, "mismatch"),
    ]
    assert deep["problems"][1]["actual_sha256"] == hashlib.sha256(b"bad bytes!").hexdigest()
    assert kept not in {p["sha256"] for p in deep["problems"]}


def test_gc_dry_run_counts_and_removes_nothing(
    scoped: LocalStore, ds: str, store_root: Path
) -> None:
    kept = scoped.upload_file(ds, "a.txt", io.BytesIO(b"kept")).version.sha256
    orphans = {scoped.blobs.put(io.BytesIO(b"orphan %d" % i))[0] for i in range(3)}
    (store_root / "tmp" / "crashed.tmp").write_bytes(b"left by a crash")
    before = blob_files(scoped)
    assert scoped.gc(tmp_older_than=0, dry_run=True) == {"blobs_removed": 3, "tmp_removed": 1}
    assert blob_files(scoped) == before and len(tmp_files(store_root)) == 1
    assert scoped.gc(tmp_older_than=0) == {"blobs_removed": 3, "tmp_removed": 1}
    assert blob_files(scoped) == {kept} and not orphans & blob_files(scoped)
