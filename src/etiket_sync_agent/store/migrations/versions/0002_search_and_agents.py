"""Dataset search and lab agents: the listing-order index, the agents' heartbeats.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # newest collected first, undated last, then newest created: a page of the listing
    # (and of a search) is read off this index instead of sorting every dataset
    # (SQLite orders NULLs last in DESC by itself and refuses the words NULLS LAST)
    nulls = "" if op.get_bind().dialect.name == "sqlite" else " NULLS LAST"
    op.create_index(
        newest_index(),
        "datasets",
        [sa.text(f"collected DESC{nulls}"), sa.text("created DESC"), "uuid"],
    )
    if op.get_bind().dialect.name == "postgresql":
        # tag and attribute search (``tags @> [tag]``, ``attributes @> {name: value}``):
        # what few rows match is found without reading every row
        for column in ("tags", "attributes"):
            op.execute(
                f"CREATE INDEX ix_datasets_{column}_pg ON datasets "
                f"USING gin ((CAST({column} AS jsonb)) jsonb_path_ops)"
            )
    op.create_table(
        "agents",
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("home", sa.Text(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", name="pk_agents"),
    )


def downgrade() -> None:
    op.drop_table("agents")
    if op.get_bind().dialect.name == "postgresql":
        for column in ("tags", "attributes"):
            op.drop_index(f"ix_datasets_{column}_pg", table_name="datasets")
    op.drop_index(newest_index(), table_name="datasets")


def newest_index() -> str:
    return "ix_datasets_newest_" + ("sqlite" if op.get_bind().dialect.name == "sqlite" else "pg")
