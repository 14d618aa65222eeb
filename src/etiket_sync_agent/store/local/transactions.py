"""Opening the catalog and running read and write transactions on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from etiket_sync_agent.db.engine import WRITE, make_engine, sqlite_url
from etiket_sync_agent.errors import StoreError
from etiket_sync_agent.store.migrations import ROLE, ensure_schema

T = TypeVar("T")

WRITE_ATTEMPTS = 3
_PG_CONTENT_LOCK_NS = 0x45544B  # advisory-lock namespace of blob placement/deletion


class Catalog:
    """The catalog database of one store: engine, migrations, transactions.

    Opening migrates the catalog to the current schema (a no-op when it is current) and
    raises StoreError if it cannot be reached, StateDBError if the SQLite file is damaged
    or was written by a newer version.
    """

    def __init__(self, root: Path, url: str | None = None) -> None:
        self.engine: Engine = make_engine(url or sqlite_url(root / "catalog.db"), ROLE)
        self.url = self.engine.url.render_as_string(hide_password=True)
        try:
            ensure_schema(self.engine, root / "catalog.lock")
        except OperationalError as exc:
            self.engine.dispose()
            raise self.unavailable(exc, "cannot open") from exc
        except TimeoutError as exc:
            self.engine.dispose()
            raise StoreError(
                f"timed out waiting for another process to migrate {self.url}",
                hint="retry; if it persists, look for a hung etiket-sync process",
            ) from exc
        except BaseException:
            self.engine.dispose()
            raise
        self.is_pg = self.engine.dialect.name == "postgresql"
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(self.engine.execution_options(**WRITE), expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def unavailable(self, exc: OperationalError, what: str = "cannot use") -> StoreError:
        return StoreError(
            f"{what} the store catalog {self.url}: {exc.orig}",
            hint="check that the catalog database is reachable (its URL comes from "
            "$ETIKET_SYNC_STORE_URL when set) and retry",
        )

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read transaction (no lock on SQLite)."""
        try:
            with self._reader() as session, session.begin():
                yield session
        except OperationalError as exc:
            raise self.unavailable(exc) from exc

    def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a write transaction, retrying races lost on unique constraints."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self._writer() as session, session.begin():
                    return work(session)
            except IntegrityError as exc:
                if attempt == WRITE_ATTEMPTS:
                    raise StoreError(f"conflicting concurrent writes: {exc.orig}") from exc
            except OperationalError as exc:
                raise self.unavailable(exc) from exc
        raise AssertionError("unreachable")

    def lock_content(self, session: Session, sha256: str) -> None:
        """Serialise placing/deleting the blob ``sha256`` with its reference check.

        SQLite needs nothing more: write transactions already hold the database lock.
        """
        if self.is_pg:
            key = int(sha256[:8], 16) - (1 << 31)
            session.execute(
                text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                {"ns": _PG_CONTENT_LOCK_NS, "key": key},
            )
