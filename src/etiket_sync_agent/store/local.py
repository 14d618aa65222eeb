"""The local store: a catalog database plus content-addressed blobs on disk.

The catalog is SQLite at ``root/catalog.db`` by default, or any SQLAlchemy URL (e.g. a
PostgreSQL database shared by several agents); blobs are always under ``root/blobs``.

Concurrency. Every public call is its own short transaction, so one store can be used by
several threads and several processes at once. Write transactions on SQLite start with
``BEGIN IMMEDIATE`` (writers queue on the database lock for up to 30 s instead of failing
with "database is locked"); on PostgreSQL the file row is locked ``FOR UPDATE`` and a race
lost on a unique constraint is retried.

Content lifecycle. An upload first copies and hashes the source into a temp file outside
any transaction. Inside the write transaction it decides what the upload means (new
version, live replace, finalize, unchanged) and, if the content is needed, places the blob
(fsync + link) before the catalog row referring to it is committed. A blob is deleted only
when no file version refers to it: right after a live version's content is replaced, and
by :meth:`LocalStore.gc`. Placing and deleting a blob happen under the same lock (the
SQLite write lock, or a PostgreSQL advisory lock keyed by the sha256) as the reference
check, so an upload that reuses content can never lose it to a concurrent delete.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO, TypeVar

from sqlalchemy import Engine, bindparam, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from etiket_sync_agent.dbtypes import to_utc, utcnow
from etiket_sync_agent.errors import NotFoundError, StoreError
from etiket_sync_agent.store.blobs import BlobStore, StagedBlob
from etiket_sync_agent.store.catalog import (
    WRITE,
    Dataset,
    File,
    FileVersion,
    Scope,
    make_engine,
    sqlite_url,
)
from etiket_sync_agent.store.interface import (
    DatasetInfo,
    DatasetSpec,
    DatasetStore,
    FileInfo,
    FileStatus,
    FileVersionInfo,
    ScopeInfo,
    UploadResult,
)
from etiket_sync_agent.store.migrations import ensure_schema

T = TypeVar("T")

_WRITE_ATTEMPTS = 3
_PG_CONTENT_LOCK_NS = 0x45544B  # advisory-lock namespace of blob placement/deletion
_SCOPE_HINT = "create it with `etiket-sync scopes create NAME`"
_DATASET_HINT = "list datasets with `etiket-sync datasets list`"
_DATASETS = Dataset.__table__
_FILES = File.__table__
_VERSIONS = FileVersion.__table__

# The per-item hot paths (upsert_dataset, upload_file) use these Core statements, built
# once: executing them costs SQLAlchemy a compiled-cache lookup, where ORM objects and
# freshly built statements cost it several times more than SQLite does.
_SCOPE_ID = select(Scope.id).where(Scope.name == bindparam("scope_name"))
_DATASET_BY_UUID = select(_DATASETS).where(_DATASETS.c.uuid == bindparam("q_uuid"))
_DATASET_BY_ALT_UID = select(_DATASETS).where(
    _DATASETS.c.scope_id == bindparam("q_scope_id"), _DATASETS.c.alt_uid == bindparam("q_alt_uid")
)
_UPDATE_DATASET = update(_DATASETS).where(_DATASETS.c.uuid == bindparam("q_uuid"))
_FILE_FOR_UPDATE = (
    select(_FILES)
    .where(_FILES.c.dataset_uuid == bindparam("q_uuid"), _FILES.c.name == bindparam("q_name"))
    .with_for_update()
)
_UPDATE_FILE = update(_FILES).where(_FILES.c.id == bindparam("q_id"))
_LATEST_VERSION = (
    select(_VERSIONS)
    .where(_VERSIONS.c.file_id == bindparam("q_file_id"))
    .order_by(_VERSIONS.c.version.desc())
    .limit(1)
)
_VERSIONS_OF = (
    select(_VERSIONS)
    .where(_VERSIONS.c.file_id == bindparam("q_file_id"))
    .order_by(_VERSIONS.c.version)
)
_UPDATE_VERSION = update(_VERSIONS).where(_VERSIONS.c.id == bindparam("q_id"))


class LocalStore(DatasetStore):
    """The embedded default store (see the module docstring for how it stays consistent).

    Opening migrates the catalog to the current schema (a no-op when it is current) and
    raises StoreError if the catalog cannot be reached or was written by a newer version.
    Datetimes come back timezone-aware in UTC; a naive ``collected`` is taken as local time.
    Beyond the interface: :meth:`stats`, :meth:`gc`, and the attributes ``root``,
    ``blobs`` (the :class:`BlobStore`) and ``catalog`` (the catalog URL, password hidden).
    """

    def __init__(self, root: Path, catalog_url: str | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.blobs = BlobStore(self.root)
        self._engine: Engine = make_engine(catalog_url or sqlite_url(self.root / "catalog.db"))
        self.catalog = self._engine.url.render_as_string(hide_password=True)
        try:
            ensure_schema(self._engine, self.root / "catalog.lock")
        except OperationalError as exc:
            self._engine.dispose()
            raise self._unavailable(exc, "cannot open") from exc
        except TimeoutError as exc:
            self._engine.dispose()
            raise StoreError(
                f"timed out waiting for another process to migrate {self.catalog}",
                hint="retry; if it persists, look for a hung etiket-sync process",
            ) from exc
        except BaseException:
            self._engine.dispose()
            raise
        self._is_pg = self._engine.dialect.name == "postgresql"
        self._reader = sessionmaker(self._engine, expire_on_commit=False)
        self._writer = sessionmaker(self._engine.execution_options(**WRITE), expire_on_commit=False)

    def close(self) -> None:
        self._engine.dispose()

    # -- transactions -------------------------------------------------------------------
    def _unavailable(self, exc: OperationalError, what: str = "cannot use") -> StoreError:
        return StoreError(
            f"{what} the store catalog {self.catalog}: {exc.orig}",
            hint="check that the catalog database is reachable (its URL comes from "
            "$ETIKET_SYNC_STORE_URL when set) and retry",
        )

    @contextmanager
    def _read(self) -> Iterator[Session]:
        try:
            with self._reader() as session, session.begin():
                yield session
        except OperationalError as exc:
            raise self._unavailable(exc) from exc

    def _write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a write transaction, retrying races lost on unique constraints."""
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                with self._writer() as session, session.begin():
                    return work(session)
            except IntegrityError as exc:
                if attempt == _WRITE_ATTEMPTS:
                    raise StoreError(f"conflicting concurrent writes: {exc.orig}") from exc
            except OperationalError as exc:
                raise self._unavailable(exc) from exc
        raise AssertionError("unreachable")

    def _lock_content(self, session: Session, sha256: str) -> None:
        """Serialise placing/deleting the blob ``sha256`` with its reference check.

        SQLite needs nothing more: write transactions already hold the database lock.
        """
        if self._is_pg:
            key = int(sha256[:8], 16) - (1 << 31)
            session.execute(
                text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                {"ns": _PG_CONTENT_LOCK_NS, "key": key},
            )

    # -- scopes -------------------------------------------------------------------------
    def create_scope(self, name: str, description: str = "") -> ScopeInfo:
        name = _check_text("scope name", name, 255, required=True)

        def work(session: Session) -> ScopeInfo:
            scope = _scope_by_name(session, name)
            if scope is None:
                scope = Scope(name=name, description=description, created=utcnow())
                session.add(scope)
                session.flush()
            return _scope_info(scope, _count_datasets(session, scope.id))

        return self._write(work)

    def get_scope(self, name: str) -> ScopeInfo | None:
        with self._read() as session:
            scope = _scope_by_name(session, name)
            return None if scope is None else _scope_info(scope, _count_datasets(session, scope.id))

    def list_scopes(self) -> list[ScopeInfo]:
        counts = (
            select(Dataset.scope_id, func.count().label("n")).group_by(Dataset.scope_id).subquery()
        )
        query = (
            select(Scope, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.scope_id == Scope.id)
            .order_by(Scope.name)
        )
        with self._read() as session:
            return [_scope_info(scope, n) for scope, n in session.execute(query)]

    # -- datasets -----------------------------------------------------------------------
    def upsert_dataset(self, spec: DatasetSpec) -> DatasetInfo:
        uuid = _check_text("dataset uuid", spec.uuid, 36, required=True)
        values = _dataset_values(spec)

        # Core statements, not the ORM: this runs once per synchronized item
        def work(session: Session) -> DatasetInfo:
            scope_id = _require_scope_id(session, spec.scope)
            by_alt_uid = {"q_scope_id": scope_id, "q_alt_uid": spec.alt_uid}
            row = _one(session, _DATASET_BY_UUID, {"q_uuid": uuid})
            if row is None and spec.alt_uid is not None:
                row = _one(session, _DATASET_BY_ALT_UID, by_alt_uid)
            elif row is not None and spec.alt_uid is not None:
                other = _one(session, _DATASET_BY_ALT_UID, by_alt_uid)
                if other is not None and other["uuid"] != row["uuid"]:
                    raise StoreError(
                        f"alt_uid {spec.alt_uid!r} already belongs to dataset {other['uuid']} "
                        f"in scope {spec.scope!r}, not to {row['uuid']}"
                    )
            now = utcnow()
            if row is None:
                row = {"uuid": uuid, "scope_id": scope_id, "created": now, "modified": now}
                row.update(values)
                session.execute(insert(_DATASETS), row)
            elif row["scope_id"] != scope_id or any(row[k] != v for k, v in values.items()):
                changes = {**values, "scope_id": scope_id, "modified": now}
                session.execute(_UPDATE_DATASET, {"q_uuid": row["uuid"], **changes})
                row = {**row, **changes}
            return _dataset_info_from(row, spec.scope)  # no files: callers need the uuid

        return self._write(work)

    def get_dataset(self, uuid: str) -> DatasetInfo:
        with self._read() as session:
            row = _require_dataset(session, uuid)
            return _dataset_info(row, _files_of(session, uuid))

    def find_dataset(self, *, scope: str, alt_uid: str) -> DatasetInfo | None:
        with self._read() as session:
            scope_row = _scope_by_name(session, scope)
            row = None if scope_row is None else _dataset_by_alt_uid(session, scope_row.id, alt_uid)
            return None if row is None else _dataset_info(row, _files_of(session, row.uuid))

    def list_datasets(
        self, *, scope: str | None = None, source: str | None = None, limit: int | None = None
    ) -> list[DatasetInfo]:
        """Datasets without files: newest ``collected`` first (undated last, newest created)."""
        query = select(Dataset).order_by(
            Dataset.collected.desc().nulls_last(), Dataset.created.desc(), Dataset.uuid
        )
        if source is not None:
            query = query.where(Dataset.source == source)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as session:
            if scope is not None:
                query = query.where(Dataset.scope_id == _require_scope(session, scope).id)
            return [_dataset_info(row, ()) for row in session.scalars(query)]

    # -- files --------------------------------------------------------------------------
    def upload_file(
        self,
        dataset_uuid: str,
        name: str,
        source: Path | BinaryIO,
        *,
        filename: str | None = None,
        file_type: str = "UNKNOWN",
        generator: str | None = None,
        status: FileStatus = FileStatus.COMPLETE,
    ) -> UploadResult:
        name = _check_file_name(name)
        meta = {
            "filename": _check_text("filename", filename or name.rsplit("/", 1)[-1], 255),
            "file_type": _check_text("file type", file_type, 64),
            "generator": _check_text("generator", generator, 255),
        }
        status = FileStatus(status)
        with self.blobs.stage(source) as staged:
            result, replaced = self._write(
                lambda session: self._record_upload(
                    session, dataset_uuid, name, meta, staged, status
                )
            )
        if replaced is not None and replaced != result.version.sha256:
            self._discard_if_unreferenced(replaced)
        return result

    def _record_upload(
        self,
        session: Session,
        dataset_uuid: str,
        name: str,
        meta: dict[str, Any],
        staged: StagedBlob,
        status: FileStatus,
    ) -> tuple[UploadResult, str | None]:
        """Apply the versioning rules; returns the result and the sha256 a live replace
        dropped (its blob may now be unreferenced). Core statements: one upload each."""
        self._lock_content(session, staged.sha256)
        if _one(session, _DATASET_BY_UUID, {"q_uuid": dataset_uuid}) is None:
            raise NotFoundError(f"dataset {dataset_uuid} does not exist", hint=_DATASET_HINT)
        file_row = _one(session, _FILE_FOR_UPDATE, {"q_uuid": dataset_uuid, "q_name": name})
        latest = None
        if file_row is None:
            values = {"dataset_uuid": dataset_uuid, "name": name, **meta}
            file_id = session.execute(insert(_FILES), values).inserted_primary_key[0]
        else:
            file_id = file_row["id"]
            if any(file_row[k] != v for k, v in meta.items()):
                session.execute(_UPDATE_FILE, {"q_id": file_id, **meta})
            latest = _one(session, _LATEST_VERSION, {"q_file_id": file_id})
        now = utcnow()
        replaced: str | None = None
        changed = latest is None or latest["sha256"] != staged.sha256
        touched = changed
        if latest is None or (changed and latest["status"] == FileStatus.COMPLETE.value):
            new_version = {
                "file_id": file_id,
                "version": 1 if latest is None else latest["version"] + 1,
                "size": staged.size,
                "sha256": staged.sha256,
                "status": status.value,
                "created": now,
                "modified": now,
            }
            session.execute(insert(_VERSIONS), new_version)
        else:
            changes: dict[str, Any] = {}
            if changed:  # the latest version is live: replace its content in place
                replaced = latest["sha256"]
                changes.update(sha256=staged.sha256, size=staged.size)
            # a complete upload finalizes a live version; nothing turns complete into live
            final = FileStatus.COMPLETE.value in (status.value, latest["status"])
            new_status = FileStatus.COMPLETE.value if final else status.value
            touched = changed or new_status != latest["status"]
            if touched:
                changes.update(status=new_status, modified=now)
                session.execute(_UPDATE_VERSION, {"q_id": latest["id"], **changes})
        if touched:
            session.execute(_UPDATE_DATASET, {"q_uuid": dataset_uuid, "modified": now})
        staged.place()  # also restores content that went missing from disk
        if latest is None:  # a new file: its one version is the row just inserted
            versions = (_version_info(new_version),)
        else:
            rows = session.execute(_VERSIONS_OF, {"q_file_id": file_id}).mappings()
            versions = tuple(_version_info(v) for v in rows)
        info = FileInfo(name, meta["filename"], meta["file_type"], meta["generator"], versions)
        return UploadResult(info, versions[-1], changed), replaced

    def _discard_if_unreferenced(self, sha256: str) -> bool:
        def work(session: Session) -> bool:
            self._lock_content(session, sha256)
            used = session.scalar(
                select(FileVersion.id).where(FileVersion.sha256 == sha256).limit(1)
            )
            return False if used is not None else self.blobs.delete(sha256)

        return self._write(work)

    def open_file(self, dataset_uuid: str, name: str, version: int | None = None) -> BinaryIO:
        """The content of ``name`` (latest version by default) opened for reading."""
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            with self._read() as session:
                sha256 = _require_version(session, dataset_uuid, name, version).sha256
            try:
                return self.blobs.open(sha256)
            except StoreError:
                # a live version's content may have been replaced between the two steps
                if attempt == _WRITE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    # -- maintenance --------------------------------------------------------------------
    def gc(self, tmp_older_than: float = 24 * 3600) -> dict[str, int]:
        """Delete blobs no file version refers to, and temp files of crashed uploads.

        Safe while other processes upload: every deletion re-checks its reference under
        the content lock. Returns ``{"blobs_removed": n, "tmp_removed": m}``.
        """
        with self._read() as session:
            used = set(session.scalars(select(FileVersion.sha256).distinct()))
        removed = sum(
            self._discard_if_unreferenced(sha)
            for sha in list(self.blobs.iter_blobs())
            if sha not in used
        )
        return {"blobs_removed": removed, "tmp_removed": self.blobs.clean_tmp(tmp_older_than)}

    def stats(self) -> dict[str, Any]:
        """Counts for display: scopes, datasets, files, versions, and ``bytes`` stored
        (each distinct content counted once, as on disk)."""
        distinct = select(FileVersion.sha256, func.max(FileVersion.size).label("size")).group_by(
            FileVersion.sha256
        )
        with self._read() as session:
            counts = {
                key: session.scalar(select(func.count()).select_from(model)) or 0
                for key, model in (
                    ("scopes", Scope),
                    ("datasets", Dataset),
                    ("files", File),
                    ("versions", FileVersion),
                )
            }
            sub = distinct.subquery()
            counts["bytes"] = int(session.scalar(select(func.coalesce(func.sum(sub.c.size), 0))))
        return counts


# -- lookups ----------------------------------------------------------------------------


def _scope_by_name(session: Session, name: str) -> Scope | None:
    return session.scalar(select(Scope).where(Scope.name == name))


def _require_scope_id(session: Session, name: str) -> int:
    scope_id = session.scalar(_SCOPE_ID, {"scope_name": name})
    if scope_id is None:
        raise NotFoundError(f"scope {name!r} does not exist", hint=_SCOPE_HINT)
    return scope_id


def _one(session: Session, statement: Any, params: dict[str, Any]) -> dict[str, Any] | None:
    """The first row of a prepared Core statement, as a dict (None if there is none)."""
    row = session.execute(statement, params).mappings().first()
    return None if row is None else dict(row)


def _require_scope(session: Session, name: str) -> Scope:
    scope = _scope_by_name(session, name)
    if scope is None:
        raise NotFoundError(f"scope {name!r} does not exist", hint=_SCOPE_HINT)
    return scope


def _count_datasets(session: Session, scope_id: int) -> int:
    query = select(func.count()).select_from(Dataset).where(Dataset.scope_id == scope_id)
    return session.scalar(query) or 0


def _dataset_by_alt_uid(session: Session, scope_id: int, alt_uid: str) -> Dataset | None:
    return session.scalar(
        select(Dataset).where(Dataset.scope_id == scope_id, Dataset.alt_uid == alt_uid)
    )


def _require_dataset(session: Session, uuid: str) -> Dataset:
    row = session.get(Dataset, uuid)
    if row is None:
        raise NotFoundError(f"dataset {uuid} does not exist", hint=_DATASET_HINT)
    return row


def _files_of(session: Session, uuid: str) -> list[File]:
    query = (
        select(File)
        .where(File.dataset_uuid == uuid)
        .order_by(File.name)
        .options(selectinload(File.versions))
    )
    return list(session.scalars(query))


def _require_version(session: Session, uuid: str, name: str, version: int | None) -> FileVersion:
    _require_dataset(session, uuid)
    query = (
        select(FileVersion)
        .join(File)
        .where(File.dataset_uuid == uuid, File.name == name)
        .order_by(FileVersion.version.desc())
        .limit(1)
    )
    if version is not None:
        query = query.where(FileVersion.version == version)
    row = session.scalar(query)
    if row is None:
        what = f"file {name!r}" if version is None else f"version {version} of file {name!r}"
        raise NotFoundError(
            f"dataset {uuid} has no {what}", hint="see its files with `etiket-sync datasets show`"
        )
    return row


# -- conversion to the interface's dataclasses ------------------------------------------


def _scope_info(scope: Scope, n_datasets: int) -> ScopeInfo:
    return ScopeInfo(scope.name, scope.description, scope.created, int(n_datasets))


def _columns(row: Any, table: Any) -> dict[str, Any]:
    """A model object's column values (row mappings of the Core hot paths pass through)."""
    if isinstance(row, dict):
        return row
    return {c.key: getattr(row, c.key) for c in table.columns}


def _version_info(row: FileVersion | dict[str, Any]) -> FileVersionInfo:
    v = _columns(row, _VERSIONS)
    return FileVersionInfo(
        v["version"], v["size"], v["sha256"], FileStatus(v["status"]), v["created"], v["modified"]
    )


def _file_info(row: File) -> FileInfo:
    versions = tuple(_version_info(v) for v in row.versions)
    return FileInfo(row.name, row.filename, row.file_type, row.generator, versions)


def _dataset_info(row: Dataset, files: Any) -> DatasetInfo:
    return _dataset_info_from(_columns(row, _DATASETS), row.scope.name, files)


def _dataset_info_from(row: dict[str, Any], scope: str, files: Any = ()) -> DatasetInfo:
    """From the datasets table's column values."""
    return DatasetInfo(
        uuid=row["uuid"],
        alt_uid=row["alt_uid"],
        scope=scope,
        name=row["name"],
        description=row["description"],
        collected=row["collected"],
        tags=tuple(row["tags"]),
        attributes=dict(row["attributes"]),
        ranking=row["ranking"],
        creator=row["creator"],
        source=row["source"],
        created=row["created"],
        modified=row["modified"],
        files=tuple(_file_info(f) for f in files),
    )


# -- validation -------------------------------------------------------------------------


def _check_text(what: str, value: str | None, max_len: int, required: bool = False) -> Any:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise StoreError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > max_len:
        raise StoreError(f"{what} is longer than {max_len} characters: {value[:40]!r}...")
    return value


def _check_file_name(name: str) -> str:
    """A relative ``/``-separated path that stays inside its dataset."""
    _check_text("file name", name, 1024, required=True)
    parts = name.split("/")
    if (
        "\\" in name
        or "\0" in name
        or PurePosixPath(name).is_absolute()
        or PureWindowsPath(name).drive
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise StoreError(
            f"invalid file name {name!r}",
            hint="use a relative path with '/' separators and no '.', '..' or empty parts",
        )
    return name


def _dataset_values(spec: DatasetSpec) -> dict[str, Any]:
    """The spec's metadata, validated, as column values."""
    if spec.collected is not None and not isinstance(spec.collected, datetime):
        raise StoreError(f"collected must be a datetime, got {spec.collected!r}")
    if isinstance(spec.tags, str) or not all(isinstance(t, str) for t in spec.tags):
        raise StoreError(f"tags must be a list of strings, got {spec.tags!r}")
    if isinstance(spec.ranking, bool) or not isinstance(spec.ranking, numbers.Integral):
        raise StoreError(f"ranking must be an integer, got {spec.ranking!r}")
    return {
        "alt_uid": _check_text("alt_uid", spec.alt_uid, 255),
        "name": _check_text("dataset name", spec.name, 1024, required=True),
        "description": spec.description or "",
        "collected": None if spec.collected is None else to_utc(spec.collected),
        "tags": list(spec.tags),
        "attributes": {
            _check_text("attribute name", k, 255, required=True): _scalar(k, v)
            for k, v in spec.attributes.items()
        },
        "ranking": int(spec.ranking),
        "creator": _check_text("creator", spec.creator, 255),
        "source": _check_text("source", spec.source, 255),
    }


def _scalar(key: str, value: Any) -> str | int | float | bool | None:
    """A JSON scalar; numpy-like numbers become Python ones."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise StoreError(
        f"attribute {key!r} must be a string, number or boolean, got {type(value).__name__}"
    )
