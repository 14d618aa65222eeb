"""items.label and items.name: what people call a dataset

``label`` is the short id people use (a QCoDeS run id "12", a core-tools id); ``name``
is the dataset's human name (e.g. the run name). Both are filled by a backend's
``NewItem`` at discovery and let the CLI find an item by what users type.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("label", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("name", sa.String(length=500), nullable=True))
    op.create_index("ix_items_source_label", "items", ["source_id", "label"])


def downgrade() -> None:
    op.drop_index("ix_items_source_label", table_name="items")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("name")
        batch.drop_column("label")
