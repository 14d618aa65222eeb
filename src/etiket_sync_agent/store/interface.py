"""The dataset store contract. Every implementation runs the contract suite of
:mod:`etiket_sync_agent.testing` (``StoreContractTests``; ours in ``tests/store``).

Vocabulary
----------
* A **scope** is a named collection of datasets (a project, a sample, a set-up).
* A **dataset** has a ``uuid`` (assigned by the agent, stable forever) and an optional
  ``alt_uid`` (the acquisition software's own id, e.g. a QCoDeS GUID). Within a scope,
  ``alt_uid`` is unique: upserting with a known ``alt_uid`` updates that dataset, so
  re-adding the same source never duplicates datasets.
* A dataset holds **files**, keyed by ``name`` (for folder datasets: the path relative to
  the dataset folder, with ``/`` separators). Each file has **versions** numbered from 1.
  Uploading content whose sha256 equals the latest version's stores nothing new.
  A version is ``live`` (a measurement still being written) or ``complete``. While the
  latest version is live, further uploads replace it in place (same version number,
  new content); a ``complete`` upload over a live version finalizes it; a changed
  ``complete`` upload over a complete version creates version N+1.

Durability: content is written to a temp file, fsynced and renamed before the catalog
row that points to it is committed, so a crash never leaves a catalog entry without its
content. Blobs are content-addressed (sha256), so identical content is stored once.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO


class FileStatus(str, enum.Enum):
    LIVE = "live"
    COMPLETE = "complete"


@dataclass(frozen=True)
class ScopeInfo:
    name: str
    description: str
    created: datetime
    n_datasets: int = 0


@dataclass
class DatasetSpec:
    """What a backend knows about a dataset; input of :meth:`DatasetStore.upsert_dataset`.

    ``attributes`` values are str/int/float/bool; ``tags`` are free strings. ``source`` is
    the provenance: the name of the sync source that produced the dataset.
    """

    uuid: str
    scope: str
    name: str
    alt_uid: str | None = None
    description: str = ""
    collected: datetime | None = None
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    ranking: int = 0
    creator: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class FileVersionInfo:
    version: int
    size: int
    sha256: str
    status: FileStatus
    created: datetime
    modified: datetime


@dataclass(frozen=True)
class FileInfo:
    name: str
    filename: str
    file_type: str
    generator: str | None
    versions: tuple[FileVersionInfo, ...]

    @property
    def latest(self) -> FileVersionInfo:
        return self.versions[-1]


@dataclass(frozen=True)
class DatasetInfo:
    uuid: str
    alt_uid: str | None
    scope: str
    name: str
    description: str
    collected: datetime | None
    tags: tuple[str, ...]
    attributes: dict[str, Any]
    ranking: int
    creator: str | None
    source: str | None
    created: datetime
    modified: datetime
    files: tuple[FileInfo, ...] = ()


@dataclass(frozen=True)
class AgentReport:
    """An agent's heartbeat as published into a shared catalog (see
    :meth:`DatasetStore.report_agent`). ``sources`` is a JSON-able summary per source
    (name -> status, item counts, last error); never secrets."""

    agent_id: str
    host: str
    home: str
    version: str
    state: str
    heartbeat: datetime
    started: datetime | None = None
    sources: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FileUpload:
    """One file of :meth:`DatasetStore.upload_files`: the arguments of ``upload_file``."""

    name: str
    source: Path | BinaryIO
    filename: str | None = None
    file_type: str = "UNKNOWN"
    generator: str | None = None
    status: FileStatus = FileStatus.COMPLETE


@dataclass(frozen=True)
class UploadResult:
    """Outcome of a file upload: the version now current and whether bytes were stored."""

    file: FileInfo
    version: FileVersionInfo
    changed: bool


class DatasetStore(ABC):
    """A place that holds scopes, datasets, files and file versions.

    Implementations must be safe to use from several threads of one process (each call
    is its own transaction) and from several processes sharing the same catalog.
    Names of missing things raise :class:`etiket_sync_agent.errors.NotFoundError`;
    invalid input raises :class:`etiket_sync_agent.errors.StoreError`.
    """

    # -- scopes ---------------------------------------------------------------------
    @abstractmethod
    def create_scope(self, name: str, description: str = "") -> ScopeInfo:
        """Create a scope; creating an existing scope returns it unchanged."""

    @abstractmethod
    def get_scope(self, name: str) -> ScopeInfo | None:
        """The scope called ``name``, or None."""

    @abstractmethod
    def list_scopes(self) -> list[ScopeInfo]:
        """All scopes, by name, with their dataset counts."""

    # -- datasets -------------------------------------------------------------------
    @abstractmethod
    def upsert_dataset(self, spec: DatasetSpec) -> DatasetInfo:
        """Create the dataset or update its metadata.

        Matching: by ``spec.uuid`` if it exists; else by ``(spec.scope, spec.alt_uid)`` if
        ``alt_uid`` is set and known (the existing dataset keeps its uuid — the returned
        info carries it, callers must use it from then on); else a new dataset with
        ``spec.uuid``. The scope must exist. Metadata fields are replaced by the spec's
        (an ``alt_uid`` of None clears it; another scope moves the dataset there). Naive
        datetimes are taken as local time. The returned info has no ``files`` (use
        :meth:`get_dataset` for them).
        """

    @abstractmethod
    def get_dataset(self, uuid: str) -> DatasetInfo:
        """The dataset with its files (all versions). NotFoundError if unknown."""

    @abstractmethod
    def find_dataset(self, *, scope: str, alt_uid: str) -> DatasetInfo | None:
        """The dataset in ``scope`` with ``alt_uid``, or None."""

    @abstractmethod
    def list_datasets(
        self,
        *,
        scope: str | None = None,
        source: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        text: str | None = None,
        tag: str | None = None,
        attribute: tuple[str, str | None] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[DatasetInfo]:
        """Datasets (without files), newest ``collected`` first (undated last, then newest
        ``created``), filtered by everything given, the first ``limit`` after skipping
        ``offset``.

        ``scope``: datasets of that scope (NotFoundError if it does not exist); ``source``:
        whose provenance is that source; ``text``: whose name contains it, ignoring case
        (``%`` and ``_`` are plain characters); ``tag``: that carry the tag (exactly);
        ``attribute``: ``(name, value)`` — that have the attribute, with that value when
        ``value`` is not None (compared as text: strings as they are, numbers as JSON
        writes them, booleans as ``true``/``false``); ``since``/``until``: collected at or
        after ``since`` and before ``until`` (undated datasets never match a date).
        """

    def match_datasets(
        self, ref: str, *, min_prefix: int = 4, limit: int | None = None
    ) -> list[DatasetInfo]:
        """Datasets (without files) that ``ref`` may name: those whose ``alt_uid`` is
        ``ref`` first, then those whose uuid starts with ``ref`` (lower-cased, when it has
        at least ``min_prefix`` characters) or whose name starts with ``ref`` ignoring
        case; each once, newest first within the two groups, at most ``limit``.

        This default reads every dataset; implementations answer it with their index.
        """
        key = ref.lower()
        exact, prefixed = [], []
        for d in self.list_datasets():
            if d.alt_uid == ref:
                exact.append(d)
            elif (len(key) >= min_prefix and d.uuid.startswith(key)) or (
                d.name.lower().startswith(key)
            ):
                prefixed.append(d)
        return (exact + prefixed)[:limit]

    # -- agents ---------------------------------------------------------------------
    @abstractmethod
    def report_agent(self, report: AgentReport) -> None:
        """Publish an agent's heartbeat: replaces the previous report of
        ``report.agent_id`` (one row per agent, however often it reports)."""

    @abstractmethod
    def list_agents(self) -> list[AgentReport]:
        """Every agent that ever reported into this store, by host then home."""

    # -- files ----------------------------------------------------------------------
    @abstractmethod
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
        """Store ``source`` (a path, or a readable binary stream) as file ``name``.

        ``filename`` defaults to the last path component of ``name``. Versioning rules are
        in the module docstring. The content is copied while hashing (one pass); a path
        that disappears or changes size during the copy raises StoreError and stores
        nothing. ``UploadResult.changed`` is False when no new bytes were stored — also when
        a live version is finalized with unchanged content (its status still becomes
        complete). Exceptions raised by a caller's stream propagate unchanged.
        """

    def upload_files(self, dataset_uuid: str, files: Sequence[FileUpload]) -> list[UploadResult]:
        """Store several files of one dataset; their results in order.

        Each file follows the rules of :meth:`upload_file`, in the order given (a name
        given twice is uploaded twice). An implementation may publish the files in fewer
        catalog transactions than files (the local store: one per group of files) —
        every row is still committed only after its content is durable. When a file
        fails, the error propagates; files given before it may or may not be stored, the
        failing file and those after it are not. Default: :meth:`upload_file` per file.
        """
        return [
            self.upload_file(
                dataset_uuid,
                f.name,
                f.source,
                filename=f.filename,
                file_type=f.file_type,
                generator=f.generator,
                status=f.status,
            )
            for f in files
        ]

    @abstractmethod
    def open_file(
        self, dataset_uuid: str, name: str, version: int | None = None
    ) -> AbstractContextManager[BinaryIO]:
        """Open a file version (default: latest) for reading."""

    def export_dataset(self, dataset_uuid: str, target: Path) -> list[Path]:
        """Write the latest version of every file of the dataset under ``target``.

        Files keep their relative ``name`` (sub-folders are created). Names are checked
        to stay inside ``target``. Returns the written paths.
        """
        import shutil

        info = self.get_dataset(dataset_uuid)
        target = target.resolve()
        written: list[Path] = []
        for f in info.files:
            dest = (target / f.name).resolve()
            if target not in dest.parents:
                from etiket_sync_agent.errors import StoreError

                raise StoreError(f"file name {f.name!r} would leave the export folder")
            dest.parent.mkdir(parents=True, exist_ok=True)
            with self.open_file(dataset_uuid, f.name) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            written.append(dest)
        return written

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
