"""The event outbox: every committed change, recorded in the transaction that made it."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from ..db import Base

# Partial-index conditions; the relay, /readyz and /metrics only ever read through these.
PENDING_SQL = "published_at IS NULL AND failed_at IS NULL"
DEFERRED_SQL = f"next_attempt_at IS NOT NULL AND {PENDING_SQL}"


class Xid8(UserDefinedType):
    """PostgreSQL's 64-bit transaction id: the feed's order up to migration 0006 (kept for it)."""

    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "xid8"


# Let reflection (alembic check) recognise the column type between 0002 and 0006.
ischema_names["xid8"] = Xid8


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), nullable=False, unique=True, server_default=text("gen_random_uuid()")
    )
    # The feed's order: given after commit, in commit order, by the one relay holding the
    # sequencer lock (realtime/sequencer.py). NULL until then.
    position: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(40), nullable=False)
    resource_type: Mapped[str] = mapped_column(String(20), nullable=False)
    resource_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    payload: Mapped[dict] = mapped_column(JSONB, nullable=False)
    # Who made the change, as Actor.as_event() describes it; null for events before 0003.
    actor: Mapped[dict | None] = mapped_column(JSONB)
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()
    )
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when Ably refused the event for good, or retries ran out; `flask realtime retry`.
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Ably's error code of the last failure (40160: capability, ...), for config-error reports.
    last_error_code: Mapped[int | None] = mapped_column(Integer)
    # Set after a retryable failure: the event, and its resource's later events, wait till then.
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_events_pending", "id", postgresql_where=text(PENDING_SQL)),
        Index("ix_events_deferred", "resource_type", "resource_id", "id",
              postgresql_where=text(DEFERRED_SQL)),
        Index("ix_events_unpositioned", "id", postgresql_where=text("position IS NULL")),
        Index("ix_events_position", "position", unique=True,
              postgresql_where=text("position IS NOT NULL")),
        Index("ix_events_failed", "id", postgresql_where=text("failed_at IS NOT NULL")),
        Index("ix_events_resource", "resource_type", "resource_id", "version"),
    )
