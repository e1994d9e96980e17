"""The event outbox: every committed change, recorded in the transaction that made it."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from ..db import Base


class Xid8(UserDefinedType):
    """PostgreSQL's 64-bit transaction id; orders the feed without gaps (see realtime/feed.py)."""

    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "xid8"


# Let reflection (alembic check) recognise the column type.
ischema_names["xid8"] = Xid8


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), nullable=False, unique=True, server_default=text("gen_random_uuid()")
    )
    txid: Mapped[str] = mapped_column(
        Xid8, nullable=False, server_default=text("pg_current_xact_id()")
    )
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
    # Set when Ably rejected the event for good (e.g. too large); it is not retried.
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)

    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_events_pending", "id",
              postgresql_where=text("published_at IS NULL AND failed_at IS NULL")),
        Index("ix_events_txid_id", "txid", "id"),
        Index("ix_events_resource", "resource_type", "resource_id", "version"),
    )
