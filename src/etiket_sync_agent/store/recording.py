"""A store that records what would be written, for ``etiket-sync run --dry-run``.

:class:`RecordingStore` answers reads from a read-only view of the real catalog (a
private snapshot of an SQLite catalog, or read-only transactions on PostgreSQL) merged
with an in-memory overlay of the writes made so far, so a backend sees the same answers
as in a real run. Writes never reach the real store: an upload is hashed (one read pass,
nothing copied) and its sha256 and size are compared with the latest stored version
under the store's versioning rules (see :mod:`.interface`). :meth:`RecordingStore.changes`
then says, per dataset touched, what a real run would create or update.

The real store is read through its own interface (:func:`open_reader`). Stored
contents are never read: :meth:`RecordingStore.open_file` raises StoreError.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from etiket_sync_agent.dbtypes import utcnow
from etiket_sync_agent.errors import NotFoundError, StoreError
from etiket_sync_agent.store import interface as api
from etiket_sync_agent.store.local.lookups import DATASET_HINT, SCOPE_HINT
from etiket_sync_agent.store.local.validation import check_text, dataset_values, upload_values
from etiket_sync_agent.store.local.versioning import decide

T = TypeVar("T")
CHUNK = 1 << 20
#: the metadata a dataset update compares
META = ("alt_uid", "scope", "name", "description", "collected", "tags", "attributes",
        "ranking", "creator", "source")  # fmt: skip


@dataclass
class _Planned:
    """One dataset as the dry run would leave it."""

    info: api.DatasetInfo  # metadata, no files
    before: api.DatasetInfo | None  # as stored now (with files); None: a new dataset
    files: dict[str, api.FileInfo] = field(default_factory=dict)  # uploaded ones


class RecordingStore(api.DatasetStore):
    """Reads from ``real`` (None: no store yet, everything is new), writes nowhere.

    ``real`` is only read; open it with :func:`open_reader`. Closing this store closes it.
    """

    def __init__(self, real: api.DatasetStore | None) -> None:
        self._store = real
        self._lock = threading.RLock()
        self._scopes: dict[str, api.ScopeInfo] = {}
        self._planned: dict[str, _Planned] = {}

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def _real(self, work: Callable[[api.DatasetStore], T], empty: T) -> T:
        return empty if self._store is None else work(self._store)

    def _real_dataset(self, uuid: str) -> api.DatasetInfo | None:
        try:
            return self._real(lambda s: s.get_dataset(uuid), None)
        except NotFoundError:
            return None

    # -- scopes ------------------------------------------------------------------------
    def create_scope(self, name: str, description: str = "") -> api.ScopeInfo:
        name = check_text("scope name", name, 255, required=True)
        with self._lock:
            found = self.get_scope(name)
            if found is None:
                found = self._scopes[name] = api.ScopeInfo(name, description, utcnow())
            return found

    def get_scope(self, name: str) -> api.ScopeInfo | None:
        if name in self._scopes:
            return self._scopes[name]
        return self._real(lambda s: s.get_scope(name), None)

    def list_scopes(self) -> list[api.ScopeInfo]:
        real = self._real(lambda s: s.list_scopes(), [])
        return sorted([*real, *self._scopes.values()], key=lambda s: s.name)

    # -- datasets ----------------------------------------------------------------------
    def upsert_dataset(self, spec: api.DatasetSpec) -> api.DatasetInfo:
        check_text("dataset uuid", spec.uuid, 36, required=True)
        values = dataset_values(spec)
        with self._lock:
            if self.get_scope(spec.scope) is None:
                raise NotFoundError(f"scope {spec.scope!r} does not exist", hint=SCOPE_HINT)
            current = self._current(spec.uuid)
            other = None if spec.alt_uid is None else self.find_dataset(
                scope=spec.scope, alt_uid=spec.alt_uid
            )  # fmt: skip
            if current is None:
                current = other
            elif other is not None and other.uuid != current.uuid:
                raise StoreError(
                    f"alt_uid {spec.alt_uid!r} already belongs to dataset {other.uuid} "
                    f"in scope {spec.scope!r}, not to {current.uuid}"
                )
            uuid = spec.uuid if current is None else current.uuid
            now = utcnow()
            info = api.DatasetInfo(
                uuid=uuid, scope=spec.scope, created=current.created if current else now,
                modified=now, **{**values, "tags": tuple(values["tags"])},
            )  # fmt: skip
            plan = self._plan(uuid)
            if plan is None:
                self._planned[uuid] = _Planned(info, None)
            else:
                plan.info = info
            return info

    def _current(self, uuid: str) -> api.DatasetInfo | None:
        """The dataset as it is now (overlay over the catalog), with files, or None."""
        plan = self._planned.get(uuid)
        if plan is None:
            return self._real_dataset(uuid)
        files = {f.name: f for f in (plan.before.files if plan.before else ())} | plan.files
        return replace(plan.info, files=tuple(files[n] for n in sorted(files)))

    def _plan(self, uuid: str) -> _Planned | None:
        """The overlay entry of a dataset that exists (made for one only in the catalog)."""
        plan = self._planned.get(uuid)
        if plan is None:
            real = self._real_dataset(uuid)
            if real is None:
                return None
            plan = self._planned[uuid] = _Planned(replace(real, files=()), real)
        return plan

    def get_dataset(self, uuid: str) -> api.DatasetInfo:
        with self._lock:
            found = self._current(uuid)
        if found is None:
            raise NotFoundError(f"dataset {uuid} does not exist", hint=DATASET_HINT)
        return found

    def find_dataset(self, *, scope: str, alt_uid: str) -> api.DatasetInfo | None:
        with self._lock:
            for uuid, plan in self._planned.items():
                if plan.info.scope == scope and plan.info.alt_uid == alt_uid:
                    return self._current(uuid)
            real = self._real(lambda s: s.find_dataset(scope=scope, alt_uid=alt_uid), None)
            # one changed by this run is matched above, or is no longer a match
            return None if real is None or real.uuid in self._planned else real

    def list_datasets(
        self,
        *,
        scope: str | None = None,
        source: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        **filters: Any,
    ) -> list[api.DatasetInfo]:
        if scope is not None and self.get_scope(scope) is None:
            raise NotFoundError(f"scope {scope!r} does not exist", hint=SCOPE_HINT)
        with self._lock:
            real: list[api.DatasetInfo] = []
            if scope is None or scope not in self._scopes:
                real = self._real(
                    lambda s: s.list_datasets(scope=scope, source=source, **filters), []
                )
            rows = [d for d in real if d.uuid not in self._planned] + [
                p.info
                for p in self._planned.values()
                if (scope is None or p.info.scope == scope)
                and (source is None or p.info.source == source)
                and _matches(p.info, **filters)
            ]
        rows.sort(key=lambda d: d.uuid)
        rows.sort(key=lambda d: d.created, reverse=True)
        rows.sort(key=lambda d: (d.collected is None, -(d.collected or d.created).timestamp()))
        return rows[offset : None if limit is None else offset + limit]

    # -- agents ------------------------------------------------------------------------
    def report_agent(self, report: Any) -> None:  # noqa: ANN401 - api.AgentReport
        """A dry run is not an agent: nothing is published."""

    def list_agents(self) -> list[Any]:
        return self._real(lambda s: s.list_agents(), [])

    # -- files -------------------------------------------------------------------------
    def upload_file(
        self,
        dataset_uuid: str,
        name: str,
        source: Path | BinaryIO,
        *,
        filename: str | None = None,
        file_type: str = "UNKNOWN",
        generator: str | None = None,
        status: api.FileStatus = api.FileStatus.COMPLETE,
    ) -> api.UploadResult:
        name, meta, status = upload_values(name, filename, file_type, generator, status)
        sha256, size = _hash(source)  # outside the lock, as the real store stages
        with self._lock:
            current = self._current(dataset_uuid)
            if current is None:
                raise NotFoundError(f"dataset {dataset_uuid} does not exist", hint=DATASET_HINT)
            old = next((f for f in current.files if f.name == name), None)
            versions = list(old.versions if old else ())
            latest = versions[-1] if versions else None
            now = utcnow()
            was = None if latest is None else (latest.sha256, latest.status)
            decision = decide(was, sha256, status)
            if decision.new_version:
                number = 1 if latest is None else latest.version + 1
                versions.append(api.FileVersionInfo(number, size, sha256, status, now, now))
            elif decision.touched:  # a live version: replaced in place and/or finalized
                versions[-1] = replace(
                    latest, size=size, sha256=sha256, status=decision.status, modified=now
                )
            info = api.FileInfo(
                name, meta["filename"], meta["file_type"], meta["generator"], tuple(versions)
            )
            plan = self._plan(dataset_uuid)
            assert plan is not None
            plan.files[name] = info
            return api.UploadResult(info, versions[-1], decision.changed)

    def open_file(self, dataset_uuid: str, name: str, version: int | None = None) -> BinaryIO:
        raise StoreError(
            "a dry run does not read stored file contents",
            hint="run without --dry-run",
        )

    # -- the outcome -------------------------------------------------------------------
    def changes(self) -> dict[str, Any]:
        """What a real run would do: ``scopes`` (names to create) and ``datasets``, each
        ``{uuid, name, scope, source, tags, action, files}`` with ``action`` ``new``,
        ``updated`` or ``unchanged`` and per file ``{name, action, version, size,
        status}`` (``action``: ``new``, ``new_version``, ``replaced`` (a live version's
        content), ``finalized`` or ``unchanged``), in the order they were first touched."""
        with self._lock:
            return {
                "scopes": sorted(self._scopes),
                "datasets": [_dataset_change(p) for p in self._planned.values()],
            }


def _file_change(f: api.FileInfo, before: api.FileInfo | None) -> dict[str, Any]:
    v = f.latest
    old = None if before is None else before.latest
    if old is None:
        action = "new"
    elif v.version > old.version:
        action = "new_version"
    elif v.sha256 != old.sha256:
        action = "replaced"
    elif v.status is not old.status:
        action = "finalized"
    else:
        action = "unchanged"
    return {
        "name": f.name, "action": action, "version": v.version, "size": v.size,
        "status": v.status.value,
    }  # fmt: skip


def _dataset_change(plan: _Planned) -> dict[str, Any]:
    before = {f.name: f for f in (plan.before.files if plan.before else ())}
    files = [_file_change(plan.files[n], before.get(n)) for n in sorted(plan.files)]
    if plan.before is None:
        action = "new"
    elif any(f["action"] != "unchanged" for f in files) or any(
        getattr(plan.info, k) != getattr(plan.before, k) for k in META
    ):
        action = "updated"
    else:
        action = "unchanged"
    i = plan.info
    return {
        "uuid": i.uuid, "name": i.name, "scope": i.scope, "source": i.source,
        "tags": list(i.tags), "action": action, "files": files,
    }  # fmt: skip


def _hash(source: Path | BinaryIO) -> tuple[str, int]:
    """sha256 and size of the content, read once; a path that vanishes or changes size
    while it is read is a StoreError (as in a real upload)."""
    digest = hashlib.sha256()
    size = 0
    if not isinstance(source, Path):
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
        return digest.hexdigest(), size
    try:
        expected = source.stat().st_size
        with open(source, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        raise StoreError(f"{source} disappeared while it was read") from None
    if size != expected:
        raise StoreError(f"{source} changed while it was read", hint="it is retried")
    return digest.hexdigest(), size


def _matches(
    d: api.DatasetInfo,
    *,
    text: str | None = None,
    tag: str | None = None,
    attribute: tuple[str, str | None] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> bool:
    """Whether a dataset of the overlay passes the filters of ``list_datasets``."""
    import json

    if text is not None and text.lower() not in d.name.lower():
        return False
    if tag is not None and tag not in d.tags:
        return False
    if attribute is not None:
        key, value = attribute
        if key not in d.attributes:
            return False
        v = d.attributes[key]
        if value is not None and (v if isinstance(v, str) else json.dumps(v)) != value:
            return False
    if since is not None or until is not None:
        if d.collected is None:
            return False
        if since is not None and d.collected < since:
            return False
        if until is not None and d.collected >= until:
            return False
    return True


def open_reader(catalog_url: str | None, root: Path) -> api.DatasetStore | None:
    """The real store opened only to be read, or None when there is none yet.

    ``catalog_url``: a private SQLite copy (migrated if older, being private) or a server's
    URL (PostgreSQL), which must be at the current revision: opening it then only reads.
    ``root``: a private folder for what the store object keeps on disk (nothing is
    put there by reading)."""
    from sqlalchemy.exc import OperationalError

    from etiket_sync_agent.db.engine import make_engine
    from etiket_sync_agent.db.migrate import current_revision
    from etiket_sync_agent.store.local import LocalStore
    from etiket_sync_agent.store.migrations import HEAD, ROLE, VERSION_TABLE

    if catalog_url is None:
        return None
    if not catalog_url.startswith("sqlite"):
        engine = make_engine(catalog_url, ROLE)
        try:
            with engine.connect() as conn:
                revision = current_revision(conn, VERSION_TABLE)
        except OperationalError as exc:
            where = engine.url.render_as_string(hide_password=True)
            raise StoreError(
                f"cannot read the store catalog {where}: {exc.orig}",
                hint="a dry run reads the store to compare; check that it is reachable",
            ) from exc
        finally:
            engine.dispose()
        if revision is None:
            return None
        if revision != HEAD:
            raise StoreError(
                f"the store catalog is at revision {revision}, this agent expects {HEAD}",
                hint="run `etiket-sync scopes list` first: it upgrades the catalog",
            )
    return LocalStore(root, catalog_url=catalog_url)
