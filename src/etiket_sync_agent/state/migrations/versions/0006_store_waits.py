"""items.waiting_for and the loop's view of the store (offline-first)

``items.waiting_for`` says what a ``waiting`` item waits for: ``scope_mapping`` (its scope
identifier has no mapping) or ``store`` (the dataset store was unreachable; the item
resumes by itself when the store answers again). ``loop_status.store_unreachable_since``
and ``loop_status.store_error`` are what ``status`` shows while the store is down.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("waiting_for", sa.String(length=20), nullable=True))
    with op.batch_alter_table("loop_status") as batch:
        batch.add_column(
            sa.Column("store_unreachable_since", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("store_error", sa.Text(), nullable=True))
    # every item waiting so far waited for a scope mapping
    items = sa.table(
        "items", sa.column("status", sa.String()), sa.column("waiting_for", sa.String())
    )
    op.get_bind().execute(
        items.update().where(items.c.status == "waiting").values(waiting_for="scope_mapping")
    )


def downgrade() -> None:
    with op.batch_alter_table("loop_status") as batch:
        batch.drop_column("store_error")
        batch.drop_column("store_unreachable_since")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("waiting_for")
