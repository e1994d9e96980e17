"""access control: roles, Supabase user ids, API keys, attribution, Data API lockdown

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from ticketing.db_security import lock_down

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = postgresql.ENUM("admin", "agent", "viewer", name="access_role", create_type=False)
EXISTING_TABLES = ("agents", "tickets", "events", "alembic_version")


def upgrade() -> None:
    ROLE.create(op.get_bind(), checkfirst=False)
    op.add_column("agents", sa.Column("role", ROLE, server_default="agent", nullable=False))
    op.add_column("agents", sa.Column("user_id", sa.UUID(), nullable=True))
    op.create_unique_constraint(op.f("uq_agents_user_id"), "agents", ["user_id"])
    op.add_column("tickets", sa.Column("created_by", postgresql.JSONB(), nullable=True))
    op.add_column("events", sa.Column("actor", postgresql.JSONB(), nullable=True))
    op.create_table(
        "api_keys",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", ROLE, nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_by", postgresql.JSONB(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_api_keys_secret_hash")),
    )
    for table in (*EXISTING_TABLES, "api_keys"):
        lock_down(op, table)


def downgrade() -> None:
    for table in EXISTING_TABLES:
        op.execute(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY')
    op.drop_table("api_keys")
    op.drop_column("events", "actor")
    op.drop_column("tickets", "created_by")
    op.drop_constraint(op.f("uq_agents_user_id"), "agents", type_="unique")
    op.drop_column("agents", "user_id")
    op.drop_column("agents", "role")
    ROLE.drop(op.get_bind(), checkfirst=False)
