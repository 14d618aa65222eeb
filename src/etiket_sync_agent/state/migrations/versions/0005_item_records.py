"""sync records in their own table, bounded; items.synced_fingerprint dropped

``items.records`` held every attempt's full record (a line per file of a big folder) and
was read by every listing and by ``due_items``. The last records move to
``item_records`` (cut to the bounds of ``state/records.py`` as it stood at this
revision: 50 log lines per task), ``items.last_warnings`` keeps what listings show, and
the never-read ``synced_fingerprint`` goes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_KEEP = 5
_LINES = 50


def _bounded(record: dict[str, Any]) -> dict[str, Any]:
    # frozen here on purpose: a migration must not change when the app code does
    tasks = []
    for task in record.get("tasks") or []:
        logs = list(task.get("logs") or [])
        if len(logs) > _LINES:
            logs = logs[: _LINES - 1] + [f"... and {len(logs) - _LINES + 1} more lines"]
        tasks.append({**task, "logs": logs})
    return {**record, "tasks": tasks}


def upgrade() -> None:
    op.create_table(
        "item_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_item_records_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_records")),
    )
    op.create_index("ix_item_records_item", "item_records", ["item_id", "id"])
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("last_warnings", sa.JSON(), nullable=True))

    conn = op.get_bind()
    items = sa.table(
        "items",
        sa.column("id", sa.Integer()),
        sa.column("records", sa.JSON()),
        sa.column("last_warnings", sa.JSON()),
    )
    records = sa.table(
        "item_records",
        sa.column("item_id", sa.Integer()),
        sa.column("created", sa.DateTime()),
        sa.column("record", sa.JSON()),
    )
    now = datetime.now(UTC).replace(tzinfo=None)  # stored as naive UTC, as UTCDateTime does
    rows = conn.execute(sa.select(items.c.id, items.c.records).where(items.c.records.is_not(None)))
    for item_id, kept in rows.all():
        kept = [r for r in (kept or []) if isinstance(r, dict)][-_KEEP:]
        if not kept:
            continue
        conn.execute(
            records.insert(),
            [{"item_id": item_id, "created": now, "record": _bounded(r)} for r in kept],
        )
        warnings = list(kept[-1].get("warnings") or [])
        conn.execute(
            items.update().where(items.c.id == item_id).values(last_warnings=warnings or None)
        )

    with op.batch_alter_table("items") as batch:
        batch.drop_column("records")
        batch.drop_column("synced_fingerprint")


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("synced_fingerprint", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("records", sa.JSON(), nullable=False, server_default="[]"))
        batch.drop_column("last_warnings")
    op.drop_index("ix_item_records_item", table_name="item_records")
    op.drop_table("item_records")
