"""Initial store catalog: scopes, datasets, files, file versions.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "scopes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        _ts("created"),
        sa.PrimaryKeyConstraint("id", name="pk_scopes"),
        sa.UniqueConstraint("name", name="uq_scopes_name"),
    )
    op.create_table(
        "datasets",
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("alt_uid", sa.String(255), nullable=True),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        _ts("collected", nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("ranking", sa.Integer(), nullable=False),
        sa.Column("creator", sa.String(255), nullable=True),
        sa.Column("source", sa.String(255), nullable=True),
        _ts("created"),
        _ts("modified"),
        sa.PrimaryKeyConstraint("uuid", name="pk_datasets"),
        sa.ForeignKeyConstraint(["scope_id"], ["scopes.id"], name="fk_datasets_scope_id_scopes"),
        sa.UniqueConstraint("scope_id", "alt_uid", name="uq_datasets_scope_id_alt_uid"),
    )
    op.create_index("ix_datasets_collected", "datasets", ["collected"])
    op.create_index("ix_datasets_source", "datasets", ["source"])
    op.create_table(
        "files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("file_type", sa.String(64), nullable=False),
        sa.Column("generator", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_files"),
        sa.ForeignKeyConstraint(
            ["dataset_uuid"],
            ["datasets.uuid"],
            name="fk_files_dataset_uuid_datasets",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("dataset_uuid", "name", name="uq_files_dataset_uuid_name"),
    )
    op.create_table(
        "file_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created"),
        _ts("modified"),
        sa.PrimaryKeyConstraint("id", name="pk_file_versions"),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name="fk_file_versions_file_id_files", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("file_id", "version", name="uq_file_versions_file_id_version"),
    )
    op.create_index("ix_file_versions_sha256", "file_versions", ["sha256"])


def downgrade() -> None:
    op.drop_table("file_versions")
    op.drop_table("files")
    op.drop_index("ix_datasets_source", table_name="datasets")
    op.drop_index("ix_datasets_collected", table_name="datasets")
    op.drop_table("datasets")
    op.drop_table("scopes")
