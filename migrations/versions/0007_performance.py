"""performance: an index for lists filtered by status and priority

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21

Built CONCURRENTLY, outside the migration's transaction, so that a large live table keeps
taking writes meanwhile. Should a build fail half-way, PostgreSQL leaves an INVALID index:
drop it (`DROP INDEX CONCURRENTLY ix_tickets_status_priority_created_at_id`) and migrate again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_tickets_status_priority_created_at_id"


def upgrade() -> None:
    # `status=...&priority=...` in the default order walks this index from its newest entry,
    # and its capped count reads the first 1,001 entries, whatever the table's size.
    with op.get_context().autocommit_block():
        op.create_index(INDEX, "tickets", ["status", "priority", "created_at", "id"],
                        postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(INDEX, table_name="tickets", postgresql_concurrently=True)
