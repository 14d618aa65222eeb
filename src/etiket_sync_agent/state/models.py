"""SQLAlchemy 2 models of the state database.

The schema is built and upgraded only by the Alembic migrations in ``migrations/``;
``tests/state/test_migrations.py`` checks that the migrated schema equals these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from etiket_sync_agent.dbtypes import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Source(Base):
    """A configured sync source: one backend reading one place."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    backend: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    identity: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active|paused|error
    default_scope: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_discovery: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    items: Mapped[list[Item]] = relationship(
        back_populates="source", cascade="all, delete-orphan", passive_deletes=True
    )
    scope_mappings: Mapped[list[ScopeMapping]] = relationship(
        back_populates="source", cascade="all, delete-orphan", passive_deletes=True
    )


class ScopeMapping(Base):
    """Maps a backend's scope identifier to a store scope, per source."""

    __tablename__ = "scope_mappings"
    __table_args__ = (UniqueConstraint("source_id", "identifier"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    identifier: Mapped[str] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(String(200))

    source: Mapped[Source] = relationship(back_populates="scope_mappings")


class Item(Base):
    """One dataset of one source and where its synchronization stands.

    ``fingerprint`` is the manifest entry of a dataset (for files a digest of names, sizes
    and mtimes seen by the last scan): a new one requeues the item. The sync records of
    its last attempts live in :class:`ItemRecord` (never loaded by listings);
    ``last_warnings`` are those of the last attempt, for listings.
    """

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("source_id", "identifier"),
        Index("ix_items_schedule", "source_id", "status", "priority"),
        # the highest-priority item of a source, asked for at every database poll
        Index("ix_items_source_priority", "source_id", "priority", "id"),
        # lookups by what users type (``etiket-sync item SOURCE 12``)
        Index("ix_items_source_label", "source_id", "label"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    identifier: Mapped[str] = mapped_column(String(2000))
    dataset_uuid: Mapped[str] = mapped_column(String(36))
    scope_identifier: Mapped[str | None] = mapped_column(String(500), nullable=True)
    #: what people call the dataset (a QCoDeS run id "12"), set by the backend's NewItem
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: the dataset's human name (e.g. the QCoDeS run name), set by the backend's NewItem
    name: Mapped[str | None] = mapped_column(String(500), nullable=True)
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_retry: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: what a ``waiting`` item waits for (:class:`~etiket_sync_agent.state.status.WaitReason`)
    waiting_for: Mapped[str | None] = mapped_column(String(20), nullable=True)
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: the warnings of the last attempt (what ``items`` shows without loading records)
    last_warnings: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    #: what the backend saved about the item at its last successful sync (save_state)
    backend_state: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    sync_count: Mapped[int] = mapped_column(Integer, default=0)
    last_sync: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    source: Mapped[Source] = relationship(back_populates="items")

    @property
    def records(self) -> list[dict[str, Any]]:
        """The sync records of the last attempts, oldest first (loaded on first access).

        Listings never need them: use ``last_warnings``. Loading works on an item whose
        session is closed (every repository function closes its own).
        """
        loaded = self.__dict__.get("_records")
        if loaded is None:
            bind = self.__dict__.get("_bind")
            loaded = [] if bind is None else load_records(bind, self.id)
            self.__dict__["_records"] = loaded
        return loaded


@event.listens_for(Item, "load")
def _remember_bind(item: Item, context: Any) -> None:
    # where Item.records loads from later (no query now)
    item.__dict__["_bind"] = context.session.get_bind()


class ItemRecord(Base):
    """The sync record of one attempt of one item (the last few are kept)."""

    __tablename__ = "item_records"
    __table_args__ = (Index("ix_item_records_item", "item_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)


def load_records(bind: Any, item_id: int) -> list[dict[str, Any]]:
    """The stored records of an item, oldest first."""
    query = select(ItemRecord.record).where(ItemRecord.item_id == item_id).order_by(ItemRecord.id)
    with Session(bind) as s:
        return list(s.scalars(query))


class LoopStatus(Base):
    """The single row describing the running (or last) sync loop."""

    __tablename__ = "loop_status"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(20), default="stopped")  # running|stopped|crashed
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    host: Mapped[str | None] = mapped_column(String(200), nullable=True)
    iteration: Mapped[int] = mapped_column(Integer, default=0)
    started: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: since when the loop finds the dataset store unreachable (None: reachable)
    store_unreachable_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    store_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class ErrorLog(Base):
    """Errors of sources and of the loop (item errors live on the item)."""

    __tablename__ = "errors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), nullable=True
    )
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), nullable=True
    )
    when: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    message: Mapped[str] = mapped_column(Text)
