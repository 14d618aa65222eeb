"""items.backend_state: what a backend keeps about an item between syncs

A backend saves it with ``SyncContext.save_state`` (e.g. folderbase: size and mtime of
each uploaded file, to skip unchanged files when the dataset is synchronized again).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("backend_state", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("backend_state")
