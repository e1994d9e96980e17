"""realtime delivery: feed positions, per-event retries, bounded queries

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21

The feed used to order events by the writing transaction's id and stop below the oldest
running transaction anywhere on the server, so one idle transaction froze it. It now reads a
`position` that the relay assigns after commit. Existing events get positions in their old
feed order; the transaction id column and its index go.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "published_at IS NULL AND failed_at IS NULL"


def upgrade() -> None:
    op.add_column("events", sa.Column("position", sa.BigInteger(), nullable=True))
    op.add_column("events", sa.Column("last_error_code", sa.Integer(), nullable=True))
    op.add_column("events", sa.Column("next_attempt_at", sa.DateTime(timezone=True),
                                      nullable=True))
    op.execute("""
        UPDATE events SET position = ordered.position
        FROM (SELECT id, row_number() OVER (ORDER BY txid, id) AS position FROM events) AS ordered
        WHERE events.id = ordered.id""")
    op.drop_index("ix_events_txid_id", table_name="events")
    op.drop_column("events", "txid")
    op.create_index("ix_events_position", "events", ["position"], unique=True,
                    postgresql_where=sa.text("position IS NOT NULL"))
    op.create_index("ix_events_unpositioned", "events", ["id"],
                    postgresql_where=sa.text("position IS NULL"))
    op.create_index("ix_events_deferred", "events", ["resource_type", "resource_id", "id"],
                    postgresql_where=sa.text(f"next_attempt_at IS NOT NULL AND {PENDING}"))
    op.create_index("ix_events_failed", "events", ["id"],
                    postgresql_where=sa.text("failed_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_events_failed", table_name="events")
    op.drop_index("ix_events_deferred", table_name="events")
    op.drop_index("ix_events_unpositioned", table_name="events")
    op.drop_index("ix_events_position", table_name="events")
    # Events keep their feed order: transaction ids are stand-ins that follow the positions.
    # Events without a position take this migration's own transaction id: below every later
    # snapshot's xmin, so the old feed shows them, after the positioned ones in id order.
    op.execute("ALTER TABLE events ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id()")
    op.execute("""
        UPDATE events SET txid = coalesce(position::text::xid8, pg_current_xact_id())""")
    op.create_index("ix_events_txid_id", "events", ["txid", "id"])
    op.drop_column("events", "next_attempt_at")
    op.drop_column("events", "last_error_code")
    op.drop_column("events", "position")
