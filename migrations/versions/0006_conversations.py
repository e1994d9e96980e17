"""conversations: requesters, comments and tags

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-21

Only adds: new nullable or defaulted columns on tickets, a new comments table, new indexes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from ticketing.db_security import lock_down

revision: str = "0006"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMMENT_SEARCH_DOCUMENT = "to_tsvector('english'::regconfig, coalesce(body, ''))"


def add_ticket_columns() -> None:
    op.add_column("tickets", sa.Column("requester_name", sa.String(length=200), nullable=True))
    op.add_column("tickets", sa.Column("requester_email", sa.String(length=320), nullable=True))
    op.add_column("tickets", sa.Column("tags", postgresql.ARRAY(sa.String(length=50)),
                                       server_default=sa.text("'{}'"), nullable=False))
    op.add_column("tickets", sa.Column("comments_count", sa.Integer(),
                                       server_default=sa.text("0"), nullable=False))
    op.add_column("tickets", sa.Column("last_activity_at", sa.DateTime(timezone=True),
                                       server_default=sa.text("now()"), nullable=False))
    op.add_column("tickets", sa.Column("first_response_at", sa.DateTime(timezone=True),
                                       nullable=True))
    # Existing tickets were last active when they last changed, not when this ran.
    op.execute("UPDATE tickets SET last_activity_at = updated_at")
    op.create_check_constraint(op.f("ck_tickets_tags_count"), "tickets", "cardinality(tags) <= 20")
    op.create_check_constraint(
        op.f("ck_tickets_requester_email_format"), "tickets",
        "requester_email IS NULL OR position('@' in requester_email) > 1")
    op.create_index("ix_tickets_last_activity_at_id", "tickets", ["last_activity_at", "id"])
    op.create_index("ix_tickets_tags", "tickets", ["tags"], postgresql_using="gin")
    op.create_index("ix_tickets_requester_email_lower", "tickets",
                    [sa.literal_column("lower(requester_email)")])


def create_comments() -> None:
    op.create_table(
        "comments",
        sa.Column("created_at", sa.DateTime(timezone=True),
                  server_default=sa.text("clock_timestamp()"), nullable=False),
        sa.Column("ticket_id", sa.UUID(), nullable=False),
        sa.Column("author", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("public", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("edited_by", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("search_vector", postgresql.TSVECTOR(),
                  sa.Computed(COMMENT_SEARCH_DOCUMENT, persisted=True), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True),
                  server_default=sa.text("clock_timestamp()"), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint("body IS NULL OR char_length(body) BETWEEN 1 AND 50000",
                           name=op.f("ck_comments_body_length")),
        sa.CheckConstraint("(body IS NULL) = (deleted_at IS NOT NULL)",
                           name=op.f("ck_comments_deleted_has_no_body")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"],
                                name=op.f("fk_comments_ticket_id_tickets"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    op.create_index("ix_comments_ticket_id_created_at_id", "comments",
                    ["ticket_id", "created_at", "id"])
    op.create_index("ix_comments_ticket_id_public_created_at_id", "comments",
                    ["ticket_id", "public", "created_at", "id"])
    op.create_index("ix_comments_search_vector", "comments", ["search_vector"],
                    postgresql_using="gin")
    # Keep the table out of Supabase's Data API, like every other table (see 0003).
    lock_down(op, "comments")


def upgrade() -> None:
    add_ticket_columns()
    create_comments()


def downgrade() -> None:
    op.drop_table("comments")
    op.drop_index("ix_tickets_requester_email_lower", table_name="tickets")
    op.drop_index("ix_tickets_tags", table_name="tickets")
    op.drop_index("ix_tickets_last_activity_at_id", table_name="tickets")
    op.drop_constraint(op.f("ck_tickets_requester_email_format"), "tickets", type_="check")
    op.drop_constraint(op.f("ck_tickets_tags_count"), "tickets", type_="check")
    for column in ("first_response_at", "last_activity_at", "comments_count", "tags",
                   "requester_email", "requester_name"):
        op.drop_column("tickets", column)
