"""agents and tickets

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ticket_status = postgresql.ENUM(
    "open", "in_progress", "resolved", "closed", name="ticket_status", create_type=False
)
ticket_priority = postgresql.ENUM(
    "low", "medium", "high", "urgent", name="ticket_priority", create_type=False
)
SEARCH_DOCUMENT = (
    "setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B')"
)


def timestamps_and_version() -> list[sa.Column]:
    return [
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
    ]


def upgrade() -> None:
    # Trigram indexes make `q` substring search over agents' names and emails indexable.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "agents",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        *timestamps_and_version(),
        sa.CheckConstraint("position('@' in email) > 1", name=op.f("ck_agents_email_format")),
        sa.CheckConstraint("char_length(btrim(name)) BETWEEN 1 AND 200",
                           name=op.f("ck_agents_name_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
    )
    op.create_index("ix_agents_created_at_id", "agents", ["created_at", "id"])
    op.create_index("ix_agents_email_trgm", "agents", ["email"], postgresql_using="gin",
                    postgresql_ops={"email": "gin_trgm_ops"})
    op.create_index("ix_agents_name_trgm", "agents", ["name"], postgresql_using="gin",
                    postgresql_ops={"name": "gin_trgm_ops"})
    op.create_index("uq_agents_email_lower", "agents", [sa.literal_column("lower(email)")],
                    unique=True)

    ticket_status.create(op.get_bind())
    ticket_priority.create(op.get_bind())
    op.create_table(
        "tickets",
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", ticket_status, server_default="open", nullable=False),
        sa.Column("priority", ticket_priority, server_default="low", nullable=False),
        sa.Column("assigned_to", sa.UUID(), nullable=True),
        sa.Column("search_vector", postgresql.TSVECTOR(),
                  sa.Computed(SEARCH_DOCUMENT, persisted=True), nullable=False),
        *timestamps_and_version(),
        sa.CheckConstraint("char_length(btrim(title)) BETWEEN 1 AND 200",
                           name=op.f("ck_tickets_title_length")),
        sa.CheckConstraint("char_length(description) <= 20000",
                           name=op.f("ck_tickets_description_length")),
        sa.ForeignKeyConstraint(["assigned_to"], ["agents.id"],
                                name=op.f("fk_tickets_assigned_to_agents"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
    )
    op.create_index("ix_tickets_assigned_to_created_at_id", "tickets",
                    ["assigned_to", "created_at", "id"])
    op.create_index("ix_tickets_created_at_id", "tickets", ["created_at", "id"])
    op.create_index("ix_tickets_updated_at_id", "tickets", ["updated_at", "id"])
    op.create_index("ix_tickets_priority_id", "tickets", ["priority", "id"])
    op.create_index("ix_tickets_status_id", "tickets", ["status", "id"])
    op.create_index("ix_tickets_title_id", "tickets", ["title", "id"])
    op.create_index("ix_tickets_search_vector", "tickets", ["search_vector"],
                    postgresql_using="gin")


def downgrade() -> None:
    op.drop_table("tickets")
    ticket_priority.drop(op.get_bind())
    ticket_status.drop(op.get_bind())
    op.drop_table("agents")
