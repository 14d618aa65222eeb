"""The local store's catalog: its SQLAlchemy models.

The models have their own :class:`Base` / ``MetaData`` (the agent's state database is a
different database with different migrations). The schema is created and upgraded only
by the Alembic migrations in ``store/migrations`` — never by ``create_all`` — and the
engine is the agent's one engine factory (:mod:`etiket_sync_agent.db.engine`).

Portable types only (``String``, ``JSON``, timezone-aware ``DateTime``): the same models
run on the default SQLite file and on a shared PostgreSQL database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    cast,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from etiket_sync_agent.dbtypes import UTCDateTime, utcnow

# Explicit constraint names: Alembic's batch mode on SQLite and schema comparison need them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[str]: JSON}


class Scope(Base):
    __tablename__ = "scopes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(default=utcnow)


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (
        UniqueConstraint("scope_id", "alt_uid"),
        Index(None, "collected"),
        Index(None, "source"),
    )

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    alt_uid: Mapped[str | None] = mapped_column(String(255))
    scope_id: Mapped[int] = mapped_column(ForeignKey("scopes.id"))
    name: Mapped[str] = mapped_column(String(1024))
    description: Mapped[str] = mapped_column(Text, default="")
    collected: Mapped[datetime | None]
    tags: Mapped[list[str]] = mapped_column(default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ranking: Mapped[int] = mapped_column(Integer, default=0)
    creator: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str | None] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    modified: Mapped[datetime] = mapped_column(default=utcnow)

    scope: Mapped[Scope] = relationship(lazy="joined", innerjoin=True)
    files: Mapped[list[File]] = relationship(
        back_populates="dataset", order_by="File.name", cascade="all, delete-orphan"
    )


class File(Base):
    __tablename__ = "files"
    __table_args__ = (UniqueConstraint("dataset_uuid", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_uuid: Mapped[str] = mapped_column(ForeignKey("datasets.uuid", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(1024))
    filename: Mapped[str] = mapped_column(String(255))
    file_type: Mapped[str] = mapped_column(String(64))
    generator: Mapped[str | None] = mapped_column(String(255))

    dataset: Mapped[Dataset] = relationship(back_populates="files")
    versions: Mapped[list[FileVersion]] = relationship(
        back_populates="file", order_by="FileVersion.version", cascade="all, delete-orphan"
    )


class FileVersion(Base):
    __tablename__ = "file_versions"
    __table_args__ = (UniqueConstraint("file_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    # indexed: "is this blob still referenced?" runs on every live replace and in gc
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    modified: Mapped[datetime] = mapped_column(default=utcnow)

    file: Mapped[File] = relationship(back_populates="versions")


class Agent(Base):
    """The last heartbeat of each agent writing into this catalog (a lab's shared store
    shows its agents from here; see ``DatasetStore.report_agent``)."""

    __tablename__ = "agents"

    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    home: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    started: Mapped[datetime | None]
    heartbeat: Mapped[datetime]
    sources: Mapped[dict[str, Any]] = mapped_column(default=dict)


#: the listing order of datasets (``lookups.NEWEST_FIRST``) read straight off an index;
#: SQLite puts NULLs last in a DESC order by itself and refuses the NULLS LAST words
Index(
    "ix_datasets_newest_sqlite", Dataset.collected.desc(), Dataset.created.desc(), Dataset.uuid
).ddl_if(dialect="sqlite")
Index(
    "ix_datasets_newest_pg",
    Dataset.collected.desc().nulls_last(),
    Dataset.created.desc(),
    Dataset.uuid,
).ddl_if(dialect="postgresql")
# tag and attribute search on PostgreSQL (``tags @> [tag]``, ``attributes @> {name:
# value}`` in lookups) without reading every row: GIN indexes of the columns as jsonb
for _column in (Dataset.tags, Dataset.attributes):
    _label = f"{_column.key}_jsonb"
    Index(
        f"ix_datasets_{_column.key}_pg",
        cast(_column, JSONB).label(_label),
        postgresql_using="gin",
        postgresql_ops={_label: "jsonb_path_ops"},
    ).ddl_if(dialect="postgresql")
