"""Tickets: the support requests agents work on."""

import enum
import uuid

from sqlalchemy import CheckConstraint, Computed, ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from .enums import pg_enum
from .mixins import ResourceMixin


class TicketStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class TicketPriority(enum.StrEnum):
    """Declared from least to most urgent: PostgreSQL sorts enum values in this order."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


SEARCH_DOCUMENT = (
    "setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B')"
)


class Ticket(ResourceMixin, Base):
    __tablename__ = "tickets"

    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[TicketStatus] = mapped_column(
        pg_enum(TicketStatus, "ticket_status"), nullable=False, server_default="open"
    )
    priority: Mapped[TicketPriority] = mapped_column(
        pg_enum(TicketPriority, "ticket_priority"), nullable=False, server_default="low"
    )
    assigned_to: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("agents.id", ondelete="SET NULL"), nullable=True
    )
    # Who created it, as events name actors ({"type": "agent"|"api_key", "id": ...}).
    created_by: Mapped[dict | None] = mapped_column(JSONB)
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR, Computed(SEARCH_DOCUMENT, persisted=True), deferred=True
    )

    __table_args__ = (
        CheckConstraint("char_length(btrim(title)) BETWEEN 1 AND 200", name="title_length"),
        CheckConstraint("char_length(description) <= 20000", name="description_length"),
        # Keyset pagination walks (sort column, id); one index per sortable column.
        Index("ix_tickets_created_at_id", "created_at", "id"),
        Index("ix_tickets_updated_at_id", "updated_at", "id"),
        Index("ix_tickets_title_id", "title", "id"),
        Index("ix_tickets_priority_id", "priority", "id"),
        Index("ix_tickets_status_id", "status", "id"),
        Index("ix_tickets_assigned_to_created_at_id", "assigned_to", "created_at", "id"),
        Index("ix_tickets_search_vector", "search_vector", postgresql_using="gin"),
    )
