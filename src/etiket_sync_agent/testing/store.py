"""The dataset store contract as pytest classes, run by every store implementation.

The contract is written in :mod:`etiket_sync_agent.store.interface` (and, for blob
storages, :mod:`etiket_sync_agent.store.blob_interface`). A test module subclasses one of
the classes below and provides a ``make_store`` fixture: a callable that opens a handle
on one store, empty at the start of each test. Every call opens another handle on the
*same* store (as a second agent or a restarted one would); the suite closes the handles.

* :class:`StoreContractTests` checks any :class:`~etiket_sync_agent.store.DatasetStore`
  through its public methods only.
* :class:`BlobStorageContractTests` adds the blob lifecycle of the catalog store
  (:class:`~etiket_sync_agent.store.local.LocalStore` over any
  :class:`~etiket_sync_agent.store.blob_interface.BlobStorage`): content stored once,
  no temp files left behind, replaced live content deleted, ``gc``, ``verify`` and
  ``stats``. An S3 or other object-storage implementation runs this one.

This module imports pytest; :mod:`etiket_sync_agent.testing` imports it only on demand.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from etiket_sync_agent.errors import NotFoundError, StoreError
from etiket_sync_agent.store.interface import DatasetSpec, DatasetStore, FileStatus, FileUpload

UTC = timezone.utc
LIVE, COMPLETE = FileStatus.LIVE, FileStatus.COMPLETE
StoreFactory = Callable[[], DatasetStore]


def _append(path: Path) -> None:
    with open(path, "ab") as fh:
        fh.write(b"more data")


def _reading_started(source: Path, tmp_dir: Path) -> bool:
    """Whether this process has begun reading ``source``: an open handle on it past its
    first byte (Linux: ``/proc/self``), else a non-empty temp file in ``tmp_dir``."""
    fds = Path("/proc/self/fd")
    if fds.is_dir():
        for fd in fds.iterdir():
            try:
                if os.readlink(fd) != str(source):
                    continue
                info = (Path("/proc/self/fdinfo") / fd.name).read_text()
            except OSError:
                continue
            if any(
                line.split()[1:] != ["0"] for line in info.splitlines() if line.startswith("pos:")
            ):
                return True
        return False
    for tmp in tmp_dir.glob("*.tmp"):
        try:
            if tmp.stat().st_size > 0:
                return True
        except FileNotFoundError:
            pass
    return False


class StoreContractTests:
    """The :class:`~etiket_sync_agent.store.DatasetStore` contract.

    Provide ``make_store``: a pytest fixture returning a callable that opens a handle on
    the test's store (fresh and empty per test; further calls open the same store).
    """

    @pytest.fixture
    def open_store(self, make_store: StoreFactory) -> Iterator[StoreFactory]:
        """``make_store``, closing every handle it opened when the test ends."""
        opened: list[DatasetStore] = []

        def open_one() -> DatasetStore:
            opened.append(make_store())
            return opened[-1]

        yield open_one
        for handle in reversed(opened):
            handle.close()

    @pytest.fixture
    def store(self, open_store: StoreFactory) -> DatasetStore:
        return open_store()

    @pytest.fixture
    def scoped(self, store: DatasetStore) -> DatasetStore:
        store.create_scope("lab")
        return store

    @pytest.fixture
    def ds(self, scoped: DatasetStore) -> str:
        return scoped.upsert_dataset(DatasetSpec(uuid="d-1", scope="lab", name="sweep")).uuid

    # -- scopes -----------------------------------------------------------------------------
    def test_create_scope_is_idempotent(self, store: DatasetStore) -> None:
        first = store.create_scope("lab", "the lab")
        again = store.create_scope("lab", "other text")
        assert again == first
        assert again.description == "the lab"
        assert [s.name for s in store.list_scopes()] == ["lab"]
        assert store.get_scope("lab") == first
        assert store.get_scope("nope") is None

    def test_list_scopes_counts_datasets_and_sorts_by_name(self, store: DatasetStore) -> None:
        store.create_scope("zeta")
        store.create_scope("alpha")
        for i in range(3):
            store.upsert_dataset(DatasetSpec(uuid=f"u{i}", scope="zeta", name=f"d{i}"))
        assert [(s.name, s.n_datasets) for s in store.list_scopes()] == [
            ("alpha", 0),
            ("zeta", 3),
        ]
        zeta = store.get_scope("zeta")
        assert zeta is not None and zeta.n_datasets == 3

    @pytest.mark.parametrize("bad", ["", "   "])
    def test_scope_name_must_not_be_empty(self, store: DatasetStore, bad: str) -> None:
        with pytest.raises(StoreError):
            store.create_scope(bad)

    # -- datasets ---------------------------------------------------------------------------
    def test_upsert_creates_then_updates_by_uuid(self, scoped: DatasetStore) -> None:
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

    def test_upsert_matches_alt_uid_and_keeps_the_original_uuid(self, scoped: DatasetStore) -> None:
        scoped.upsert_dataset(DatasetSpec(uuid="orig", scope="lab", name="a", alt_uid="guid"))
        again = scoped.upsert_dataset(
            DatasetSpec(uuid="new", scope="lab", name="b", alt_uid="guid")
        )
        assert again.uuid == "orig" and again.name == "b"
        assert [d.uuid for d in scoped.list_datasets()] == ["orig"]
        found = scoped.find_dataset(scope="lab", alt_uid="guid")
        assert found is not None and found.uuid == "orig"
        assert scoped.find_dataset(scope="lab", alt_uid="other") is None
        with pytest.raises(NotFoundError):
            scoped.get_dataset("new")

    def test_alt_uid_is_unique_per_scope_only(self, scoped: DatasetStore) -> None:
        scoped.create_scope("other")
        a = scoped.upsert_dataset(DatasetSpec(uuid="a", scope="lab", name="a", alt_uid="guid"))
        b = scoped.upsert_dataset(DatasetSpec(uuid="b", scope="other", name="b", alt_uid="guid"))
        assert (a.uuid, b.uuid) == ("a", "b")
        with pytest.raises(StoreError, match="already belongs"):
            scoped.upsert_dataset(DatasetSpec(uuid="b", scope="lab", name="b", alt_uid="guid"))

    def test_upsert_into_missing_scope_raises_not_found(self, store: DatasetStore) -> None:
        with pytest.raises(NotFoundError, match="nowhere") as err:
            store.upsert_dataset(DatasetSpec(uuid="x", scope="nowhere", name="n"))
        assert "scopes create" in err.value.hint
        assert store.list_datasets() == []

    def test_unknown_dataset_raises_not_found(self, store: DatasetStore) -> None:
        with pytest.raises(NotFoundError, match="missing-uuid"):
            store.get_dataset("missing-uuid")
        with pytest.raises(NotFoundError):
            store.upload_file("missing-uuid", "a.txt", io.BytesIO(b"x"))
        with pytest.raises(NotFoundError):
            store.open_file("missing-uuid", "a.txt")

    def test_invalid_attributes_are_rejected(self, scoped: DatasetStore) -> None:
        with pytest.raises(StoreError, match="attribute 'bad'"):
            scoped.upsert_dataset(
                DatasetSpec(uuid="x", scope="lab", name="n", attributes={"bad": object()})
            )

    def test_list_datasets_order_and_filters(self, scoped: DatasetStore) -> None:
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

    def test_naive_collected_is_local_time(self, scoped: DatasetStore) -> None:
        naive = datetime(2024, 3, 1, 9, 15)
        info = scoped.upsert_dataset(DatasetSpec(uuid="x", scope="lab", name="n", collected=naive))
        assert info.collected == naive.astimezone(UTC) and info.collected.tzinfo == UTC

    # -- files and versions -----------------------------------------------------------------
    def test_upload_new_file_is_version_1(
        self, scoped: DatasetStore, ds: str, tmp_path: Path
    ) -> None:
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

    def test_same_content_is_unchanged(self, scoped: DatasetStore, ds: str) -> None:
        first = scoped.upload_file(ds, "a.txt", io.BytesIO(b"same"))
        again = scoped.upload_file(ds, "a.txt", io.BytesIO(b"same"))
        assert not again.changed
        assert again.version == first.version
        assert len(again.file.versions) == 1

    def test_changed_complete_upload_creates_next_version(
        self, scoped: DatasetStore, ds: str
    ) -> None:
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

    def test_live_upload_replaces_in_place(self, scoped: DatasetStore, ds: str) -> None:
        first = scoped.upload_file(ds, "live.h5", io.BytesIO(b"part 1"), status=LIVE)
        second = scoped.upload_file(ds, "live.h5", io.BytesIO(b"part 1+2"), status=LIVE)
        assert first.version.version == second.version.version == 1
        assert second.changed and second.version.status == LIVE
        assert second.version.sha256 != first.version.sha256
        assert len(second.file.versions) == 1
        with scoped.open_file(ds, "live.h5") as fh:
            assert fh.read() == b"part 1+2"

    def test_replaced_live_content_still_used_elsewhere_is_kept(
        self, scoped: DatasetStore, ds: str
    ) -> None:
        scoped.upload_file(ds, "other.txt", io.BytesIO(b"shared"))
        scoped.upload_file(ds, "live.h5", io.BytesIO(b"shared"), status=LIVE)
        scoped.upload_file(ds, "live.h5", io.BytesIO(b"grown"), status=LIVE)
        with scoped.open_file(ds, "other.txt") as fh:
            assert fh.read() == b"shared"

    def test_complete_after_live_finalizes_same_version(
        self, scoped: DatasetStore, ds: str
    ) -> None:
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

    def test_live_upload_never_reopens_a_complete_version(
        self, scoped: DatasetStore, ds: str
    ) -> None:
        scoped.upload_file(ds, "a.txt", io.BytesIO(b"done"))
        same = scoped.upload_file(ds, "a.txt", io.BytesIO(b"done"), status=LIVE)
        assert same.version.status == COMPLETE and not same.changed
        grown = scoped.upload_file(ds, "a.txt", io.BytesIO(b"done, more"), status=LIVE)
        assert grown.version.version == 2 and grown.version.status == LIVE

    def test_upload_from_a_stream(self, scoped: DatasetStore, ds: str) -> None:
        payload = bytes(range(256)) * 10_000  # several chunks
        result = scoped.upload_file(ds, "stream.bin", io.BufferedReader(io.BytesIO(payload)))
        assert result.version.size == len(payload)
        assert result.version.sha256 == hashlib.sha256(payload).hexdigest()
        with scoped.open_file(ds, "stream.bin") as fh:
            assert fh.read() == payload

    @pytest.mark.parametrize(
        "name", ["", "/etc/passwd", "../up.txt", "a/../../b", "a//b", "./a", "a\\b", "C:/x"]
    )
    def test_invalid_file_names_are_rejected(
        self, scoped: DatasetStore, ds: str, name: str
    ) -> None:
        with pytest.raises(StoreError):
            scoped.upload_file(ds, name, io.BytesIO(b"x"))
        assert scoped.get_dataset(ds).files == ()

    def test_missing_path_raises_and_stores_nothing(
        self, scoped: DatasetStore, ds: str, tmp_path: Path
    ) -> None:
        with pytest.raises(StoreError, match="does not exist"):
            scoped.upload_file(ds, "gone.txt", tmp_path / "gone.txt")
        assert scoped.get_dataset(ds).files == ()

    def test_failing_stream_propagates_and_stores_nothing(
        self, scoped: DatasetStore, ds: str
    ) -> None:
        with pytest.raises(OSError, match="unplugged"):
            scoped.upload_file(ds, "broken.bin", _BrokenStream())
        assert scoped.get_dataset(ds).files == ()

    def test_concurrent_threads_number_versions_without_gaps(
        self, scoped: DatasetStore, ds: str
    ) -> None:
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

    def test_big_files_hash_exactly_what_is_stored(
        self, scoped: DatasetStore, ds: str, tmp_path: Path
    ) -> None:
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

    def test_another_handle_sees_what_one_wrote(
        self, scoped: DatasetStore, ds: str, open_store: StoreFactory
    ) -> None:
        """Two agents (or an agent and its restart) on one store see the same data."""
        scoped.upload_file(ds, "a.txt", io.BytesIO(b"from the first"))
        other = open_store()
        assert [f.name for f in other.get_dataset(ds).files] == ["a.txt"]
        with other.open_file(ds, "a.txt") as fh:
            assert fh.read() == b"from the first"
        again = other.upsert_dataset(DatasetSpec(uuid="d-2", scope="lab", name="other"))
        other.upload_file(again.uuid, "b.txt", io.BytesIO(b"from the second"))
        with scoped.open_file("d-2", "b.txt") as fh:
            assert fh.read() == b"from the second"

    # -- several files at once --------------------------------------------------------------
    def test_upload_files_follows_the_rules_file_by_file(
        self, scoped: DatasetStore, ds: str, tmp_path: Path
    ) -> None:
        (tmp_path / "p.bin").write_bytes(b"from a path")
        scoped.upload_file(ds, "kept.txt", io.BytesIO(b"kept"))
        results = scoped.upload_files(
            ds,
            [
                FileUpload("p.bin", tmp_path / "p.bin", file_type="BIN", generator="g"),
                FileUpload("kept.txt", io.BytesIO(b"kept")),
                FileUpload("twice.txt", io.BytesIO(b"one")),
                FileUpload("twice.txt", io.BytesIO(b"two")),
                FileUpload("sub/live.h5", io.BytesIO(b"partial"), status=LIVE),
                FileUpload("sub/live.h5", io.BytesIO(b"final"), filename="x.h5"),
            ],
        )
        assert [(r.file.name, r.version.version, r.changed) for r in results] == [
            ("p.bin", 1, True),
            ("kept.txt", 1, False),
            ("twice.txt", 1, True),
            ("twice.txt", 2, True),
            ("sub/live.h5", 1, True),
            ("sub/live.h5", 1, True),
        ]
        assert results[0].version.sha256 == hashlib.sha256(b"from a path").hexdigest()
        assert (results[0].file.file_type, results[0].file.generator) == ("BIN", "g")
        assert results[5].version.status == COMPLETE and results[5].file.filename == "x.h5"
        files = {f.name: f for f in scoped.get_dataset(ds).files}
        assert sorted(files) == ["kept.txt", "p.bin", "sub/live.h5", "twice.txt"]
        assert files["twice.txt"] == results[3].file
        for name, payload in [("p.bin", b"from a path"), ("sub/live.h5", b"final")]:
            with scoped.open_file(ds, name) as fh:
                assert fh.read() == payload
        with scoped.open_file(ds, "twice.txt", version=1) as fh:
            assert fh.read() == b"one"
        assert scoped.upload_files(ds, []) == []

    def test_upload_files_of_many_files(self, scoped: DatasetStore, ds: str) -> None:
        payloads = {f"f{i:03d}.txt": b"content %d" % i for i in range(300)}
        results = scoped.upload_files(
            ds, [FileUpload(name, io.BytesIO(data)) for name, data in payloads.items()]
        )
        assert [r.file.name for r in results] == list(payloads)
        stored = {f.name: f.latest.sha256 for f in scoped.get_dataset(ds).files}
        assert stored == {n: hashlib.sha256(d).hexdigest() for n, d in payloads.items()}

    def test_concurrent_upload_files_of_the_same_new_names(
        self, scoped: DatasetStore, ds: str, open_store: StoreFactory
    ) -> None:
        """Two writers (threads on two handles) add the same new files at once: every
        upload becomes a version, none is lost, no error."""
        other = open_store()
        names = [f"n{i:02d}.txt" for i in range(40)]
        errors: list[BaseException] = []

        def writer(store: DatasetStore, tag: bytes) -> None:
            try:
                store.upload_files(ds, [FileUpload(n, io.BytesIO(tag + n.encode())) for n in names])
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [
            threading.Thread(target=writer, args=(store, tag))
            for store, tag in ((scoped, b"a:"), (other, b"b:"))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        files = scoped.get_dataset(ds).files
        assert [f.name for f in files] == names
        assert all([v.version for v in f.versions] == [1, 2] for f in files)

    def test_upload_files_of_many_paths(
        self, scoped: DatasetStore, ds: str, tmp_path: Path
    ) -> None:
        folder = tmp_path / "data"
        folder.mkdir()
        payloads = {f"p{i:02d}.bin": bytes([i]) * (1000 + i) for i in range(24)}
        for name, data in payloads.items():
            (folder / name).write_bytes(data)
        payloads["again.bin"] = payloads["p03.bin"]  # the same content under two names
        (folder / "again.bin").write_bytes(payloads["again.bin"])
        results = scoped.upload_files(ds, [FileUpload(n, folder / n) for n in payloads])
        assert [r.version.size for r in results] == [len(d) for d in payloads.values()]
        for name, data in payloads.items():
            with scoped.open_file(ds, name) as fh:
                assert fh.read() == data

    def test_upload_files_stops_at_a_missing_file(
        self, scoped: DatasetStore, ds: str, tmp_path: Path
    ) -> None:
        (tmp_path / "a.bin").write_bytes(b"a")
        with pytest.raises(StoreError, match="does not exist"):
            scoped.upload_files(
                ds,
                [
                    FileUpload("a.bin", tmp_path / "a.bin"),
                    FileUpload("gone.bin", tmp_path / "gone.bin"),
                    FileUpload("after.bin", io.BytesIO(b"after")),
                ],
            )
        names = {f.name for f in scoped.get_dataset(ds).files}
        assert "gone.bin" not in names and "after.bin" not in names
        with pytest.raises(StoreError):
            scoped.upload_files(ds, [FileUpload("../bad", io.BytesIO(b"x"))])
        with pytest.raises(NotFoundError):
            scoped.upload_files("missing-uuid", [FileUpload("a.txt", io.BytesIO(b"x"))])

    # -- export -----------------------------------------------------------------------------
    def test_export_writes_latest_files_in_sub_folders(
        self, scoped: DatasetStore, ds: str, tmp_path: Path
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


class _BrokenStream(io.RawIOBase):
    """A caller's stream that fails after two reads (a device unplugged mid-copy)."""

    calls = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        self.calls += 1
        if self.calls > 2:
            raise OSError("device unplugged")
        buf[:4] = b"data"
        return 4


class BlobStorageContractTests(StoreContractTests):
    """:class:`StoreContractTests` plus the blob lifecycle of the catalog store.

    ``make_store`` returns :class:`~etiket_sync_agent.store.local.LocalStore` handles
    (any catalog URL, any :class:`~etiket_sync_agent.store.blob_interface.BlobStorage`).
    Override :meth:`damage_content` for a storage other than the local folder and S3.
    """

    @staticmethod
    def blob_files(store: Any) -> set[str]:
        """The contents its blob storage holds (a folder or a bucket)."""
        return set(store.blobs.iter_blobs())

    @staticmethod
    def tmp_files(store: Any) -> list[Path]:
        return list(Path(store.blobs.tmp_dir).iterdir())

    def damage_content(self, store: Any, sha256: str, data: bytes) -> None:
        """Replace a stored content's bytes behind the store's back (a disk or bucket
        fault)."""
        blobs = store.blobs
        if hasattr(blobs, "path"):  # the local folder
            blobs.path(sha256).write_bytes(data)
        elif hasattr(blobs, "client"):  # a bucket
            blobs.client.put_object(Bucket=blobs.settings.bucket, Key=blobs.key(sha256), Body=data)
        else:
            pytest.skip(f"override damage_content for {type(blobs).__name__}")

    def test_same_content_is_stored_once(self, scoped: Any, ds: str) -> None:
        scoped.upload_file(ds, "a.txt", io.BytesIO(b"same"))
        blobs = self.blob_files(scoped)
        scoped.upload_file(ds, "a.txt", io.BytesIO(b"same"))
        assert self.blob_files(scoped) == blobs
        # the same content under another name is stored once
        scoped.upload_file(ds, "copy.txt", io.BytesIO(b"same"))
        assert self.blob_files(scoped) == blobs

    def test_replaced_live_content_is_deleted_unless_used(self, scoped: Any, ds: str) -> None:
        scoped.upload_file(ds, "live.h5", io.BytesIO(b"part 1"), status=LIVE)
        second = scoped.upload_file(ds, "live.h5", io.BytesIO(b"part 1+2"), status=LIVE)
        # the replaced content was referenced by nothing else: its blob is gone
        assert self.blob_files(scoped) == {second.version.sha256}
        shared = scoped.upload_file(ds, "other.txt", io.BytesIO(b"shared"))
        scoped.upload_file(ds, "live2.h5", io.BytesIO(b"shared"), status=LIVE)
        scoped.upload_file(ds, "live2.h5", io.BytesIO(b"grown"), status=LIVE)
        assert shared.version.sha256 in self.blob_files(scoped)

    def test_missing_path_leaves_no_temp_file(self, scoped: Any, ds: str, tmp_path: Path) -> None:
        with pytest.raises(StoreError, match="does not exist"):
            scoped.upload_file(ds, "gone.txt", tmp_path / "gone.txt")
        assert self.tmp_files(scoped) == []

    @pytest.mark.parametrize(
        ("disturb", "error"),
        [
            (_append, "changed while being read"),
            (Path.unlink, "vanished while being read"),
        ],
        ids=["grows", "vanishes"],
    )
    def test_source_disturbed_during_upload_raises_and_stores_nothing(
        self,
        scoped: Any,
        ds: str,
        tmp_path: Path,
        disturb: Callable[[Path], object],
        error: str,
    ) -> None:
        big = tmp_path / "source.bin"
        big.write_bytes(b"\1" * (128 << 20))
        stop = threading.Event()
        tmp_dir = Path(scoped.blobs.tmp_dir)

        def disturb_once_copy_started() -> None:
            # a real second party, acting as soon as the store has started copying the file
            while not stop.is_set():
                if _reading_started(big, tmp_dir):
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
        assert self.tmp_files(scoped) == [] and self.blob_files(scoped) == set()

    def test_failing_stream_leaves_no_temp_file(self, scoped: Any, ds: str) -> None:
        with pytest.raises(OSError, match="unplugged"):
            scoped.upload_file(ds, "broken.bin", _BrokenStream())
        assert self.tmp_files(scoped) == [] and self.blob_files(scoped) == set()

    def test_successful_uploads_leave_no_temp_files(
        self, scoped: Any, ds: str, tmp_path: Path
    ) -> None:
        src = tmp_path / "f.bin"
        src.write_bytes(b"abc" * 1000)
        scoped.upload_file(ds, "f.bin", src)
        scoped.upload_file(ds, "f.bin", src)  # unchanged: staged copy discarded
        assert self.tmp_files(scoped) == []
        sha = hashlib.sha256(b"abc" * 1000).hexdigest()
        with scoped.blobs.open(sha) as fh:
            assert fh.read() == b"abc" * 1000

    def test_upload_files_leave_no_temp_files_and_store_content_once(
        self, scoped: Any, ds: str, tmp_path: Path
    ) -> None:
        (tmp_path / "big.bin").write_bytes(b"\2" * (9 << 20))  # above the pipelined size
        results = scoped.upload_files(
            ds,
            [
                FileUpload("a.txt", io.BytesIO(b"same")),
                FileUpload("b.txt", io.BytesIO(b"same")),
                FileUpload("big.bin", tmp_path / "big.bin"),
                FileUpload("live.h5", io.BytesIO(b"part 1"), status=LIVE),
                FileUpload("live.h5", io.BytesIO(b"part 1+2"), status=LIVE),
            ],
        )
        assert self.tmp_files(scoped) == []
        # the live content replaced within the group is gone; the rest stored once
        assert self.blob_files(scoped) == {results[i].version.sha256 for i in (0, 2, 4)}
        with pytest.raises(OSError, match="unplugged"):
            scoped.upload_files(
                ds,
                [FileUpload("ok.txt", io.BytesIO(b"fine")), FileUpload("x", _BrokenStream())],
            )
        assert self.tmp_files(scoped) == []
        assert "x" not in {f.name for f in scoped.get_dataset(ds).files}
        # content a storage transferred while staging (S3) is unreferenced: gc takes it
        scoped.gc(tmp_older_than=0)
        assert len(self.blob_files(scoped)) == 3

    def test_export_refuses_names_leaving_the_target(
        self, scoped: Any, ds: str, tmp_path: Path
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

    # -- stats, gc, verify ------------------------------------------------------------------
    def test_stats_and_gc(self, scoped: Any, ds: str) -> None:
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
        (Path(scoped.blobs.tmp_dir) / "crashed.tmp").write_bytes(b"left by a crash")
        assert scoped.gc(tmp_older_than=0) == {"blobs_removed": 1, "tmp_removed": 1}
        assert orphan_sha not in self.blob_files(scoped) and len(self.blob_files(scoped)) == 2
        assert scoped.gc() == {"blobs_removed": 0, "tmp_removed": 0}

    def test_verify_reports_missing_and_damaged_content(self, scoped: Any, ds: str) -> None:
        kept = scoped.upload_file(ds, "a.txt", io.BytesIO(b"kept")).version.sha256
        scoped.upload_file(ds, "copy.txt", io.BytesIO(b"kept"))
        lost = scoped.upload_file(ds, "b.txt", io.BytesIO(b"lost")).version.sha256
        bad = scoped.upload_file(ds, "c.txt", io.BytesIO(b"good bytes")).version.sha256
        report = scoped.verify(deep=True)
        assert report["ok"] and report["problems"] == []
        assert (report["versions"], report["contents"]) == (4, 3)

        scoped.blobs.delete(lost)
        self.damage_content(scoped, bad, b"bad bytes!")
        shallow = scoped.verify()
        assert not shallow["ok"]
        assert [(p["file"], p["problem"]) for p in shallow["problems"]] == [("b.txt", "missing")]
        deep = scoped.verify(deep=True)
        assert [
            (p["dataset"], p["file"], p["version"], p["problem"]) for p in deep["problems"]
        ] == [
            (ds, "b.txt", 1, "missing"),
            (ds, "c.txt", 1, "mismatch"),
        ]
        assert deep["problems"][1]["actual_sha256"] == hashlib.sha256(b"bad bytes!").hexdigest()
        assert kept not in {p["sha256"] for p in deep["problems"]}

    def test_gc_dry_run_counts_and_removes_nothing(self, scoped: Any, ds: str) -> None:
        kept = scoped.upload_file(ds, "a.txt", io.BytesIO(b"kept")).version.sha256
        orphans = {scoped.blobs.put(io.BytesIO(b"orphan %d" % i))[0] for i in range(3)}
        (Path(scoped.blobs.tmp_dir) / "crashed.tmp").write_bytes(b"left by a crash")
        before = self.blob_files(scoped)
        assert scoped.gc(tmp_older_than=0, dry_run=True) == {"blobs_removed": 3, "tmp_removed": 1}
        assert self.blob_files(scoped) == before and len(self.tmp_files(scoped)) == 1
        assert scoped.gc(tmp_older_than=0) == {"blobs_removed": 3, "tmp_removed": 1}
        assert self.blob_files(scoped) == {kept} and not orphans & self.blob_files(scoped)
