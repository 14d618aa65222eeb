"""The blob storage contract: where a store keeps file contents, addressed by SHA-256.

The catalog (:mod:`etiket_sync_agent.store.local`) decides *what* the files and versions
are; a :class:`BlobStorage` only keeps immutable contents named by their SHA-256 (hex).
Two implementations run the same contract tests (``tests/store``):

* :class:`etiket_sync_agent.store.blobs.BlobStore` — a folder, ``<root>/blobs/ab/<sha>``;
* :class:`etiket_sync_agent.store.s3.S3BlobStorage` — an S3-compatible bucket, shared by
  every agent of a lab.

Contract
--------
* Writing is two steps so that the catalog can decide in between.
  :meth:`BlobStorage.stage` copies and hashes the source (one pass) into a temp file
  under the storage's ``tmp_dir`` and yields a :class:`StagedContent` (an implementation
  may instead hash a path in place and read it again later, if it checks that the file
  did not change in between — S3 does, to spare a copy of big files); the catalog then
  calls :meth:`StagedContent.place` inside the write transaction that publishes the row
  referring to the content, holding the content lock of its sha256. When ``place``
  returns, the whole content is readable under its sha256 — so a catalog row is never
  published before its content is complete. An implementation may do the expensive
  transfer in ``stage`` (outside any transaction, as S3 does) as long as ``place`` then
  re-checks, under the lock, that the content is still there and restores it if not.
* Content-addressed: content whose sha256 is already stored is never transferred again,
  by any agent sharing the storage.
* :meth:`BlobStorage.stage_many` stages several sources at once (an implementation may
  copy them in parallel and make them durable together); its :class:`StagedGroup` is
  placed content by content in one catalog transaction, and :meth:`StagedGroup.sync`,
  called before that transaction commits, makes every placement durable.
* The temp file is removed when the ``stage`` block exits, whatever happened.
* Content is immutable once placed; :meth:`BlobStorage.delete` is called only by the
  catalog, under the content lock, when no file version refers to the content any more.
* A missing content raises :class:`~etiket_sync_agent.errors.StoreError` from
  :meth:`BlobStorage.open`; an unreachable storage raises StoreError with a hint.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import BinaryIO


class StagedContent(ABC):
    """Content copied into a temp file and hashed; :meth:`place` makes it stored."""

    sha256: str
    size: int
    tmp: Path

    @abstractmethod
    def place(self) -> bool:
        """Make the content readable under its sha256; True if bytes had to be written.

        Idempotent: the catalog calls it again when it retries its transaction.
        """


class StagedGroup:
    """Contents staged together by :meth:`BlobStorage.stage_many`, in source order."""

    def __init__(self, contents: list[StagedContent]) -> None:
        self.contents = contents

    def sync(self) -> None:  # noqa: B027 - the default placement is durable at once
        """Make what :meth:`StagedContent.place` did for these contents durable; the
        catalog calls it before it commits the rows referring to them."""


class BlobStorage(ABC):
    """Immutable contents named by their sha256. Safe across threads and processes."""

    #: folder of the temp files of :meth:`stage` (on the agent's machine)
    tmp_dir: Path

    @abstractmethod
    def describe(self) -> str:
        """Where the contents are, for display (no secrets)."""

    @abstractmethod
    def stage(self, source: Path | BinaryIO) -> AbstractContextManager[StagedContent]:
        """Copy ``source`` into a temp file while hashing it; remove the temp file on exit.

        A path that is missing, vanishes, or changes size or mtime while it is read raises
        StoreError (nothing is staged). Exceptions of a caller's stream propagate.
        """

    @contextmanager
    def stage_many(self, sources: Sequence[Path | BinaryIO]) -> Iterator[StagedGroup]:
        """:meth:`stage` for several sources; every temp file is removed on exit. The
        first failing source raises (nothing is staged). Default: one after another."""
        with ExitStack() as stack:
            yield StagedGroup([stack.enter_context(self.stage(s)) for s in sources])

    @abstractmethod
    def exists(self, sha256: str) -> bool:
        """Whether the whole content ``sha256`` is stored."""

    @abstractmethod
    def open(self, sha256: str) -> BinaryIO:
        """The content opened for reading (the caller closes it). StoreError if missing."""

    @abstractmethod
    def delete(self, sha256: str) -> bool:
        """Remove a content; False if it was not there. The caller guarantees nothing
        refers to it (it holds the content lock)."""

    @abstractmethod
    def iter_blobs(self) -> Iterator[str]:
        """The sha256 of every stored content."""

    def gc_candidates(self, older_than: float) -> Iterator[str]:
        """Contents the garbage collector may delete when unreferenced. Default: all;
        a storage shared by several agents yields only contents older than
        ``older_than`` seconds (another agent may be about to publish a younger one)."""
        return self.iter_blobs()

    @abstractmethod
    def clean_tmp(self, older_than: float = 24 * 3600, dry_run: bool = False) -> int:
        """Remove temp files of processes that are gone or older than ``older_than``
        seconds (and any other transfer leftovers of the implementation); how many were
        (``dry_run``: would be) removed."""

    def put(self, source: Path | BinaryIO) -> tuple[str, int]:
        """Store ``source`` outside the catalog (stage + place); ``(sha256, size)``."""
        with self.stage(source) as staged:
            staged.place()
            return staged.sha256, staged.size

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files."""
