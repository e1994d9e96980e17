"""Tickets: the support requests agents work on."""

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID
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
    # Who asked: stored as given, matched without regard to case (see the index below).
    requester_name: Mapped[str | None] = mapped_column(String(200))
    requester_email: Mapped[str | None] = mapped_column(String(320))
    # A sorted set of normalised tags (schemas/tag.py); filtered through a GIN index.
    tags: Mapped[list[str]] = mapped_column(
        ARRAY(String(50)), nullable=False, server_default=text("'{}'")
    )
    # Live (not deleted) comments; kept by services/comments.py under the ticket's row lock.
    comments_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    # The last change of the ticket or of its conversation.
    last_activity_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    # When the first public reply was posted; null while the requester is still waiting.
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def requester(self) -> dict | None:
        if self.requester_email is None:
            return None
        return {"name": self.requester_name, "email": self.requester_email}

    @requester.setter
    def requester(self, value: dict | None) -> None:
        self.requester_name = value.get("name") if value else None
        self.requester_email = value["email"] if value else None

    def touch(self) -> None:
        """A change of the ticket is also activity on it."""
        super().touch()
        self.last_activity_at = func.clock_timestamp()

    def touch_conversation(self, at: datetime) -> None:
        """A comment changed at `at`: a new version and activity; the ticket's fields did not."""
        self.version = self.version + 1
        self.last_activity_at = at

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
        # Filters by status and priority, in the default order (migration 0007).
        Index("ix_tickets_status_priority_created_at_id", "status", "priority", "created_at",
              "id"),
        Index("ix_tickets_search_vector", "search_vector", postgresql_using="gin"),
        Index("ix_tickets_last_activity_at_id", "last_activity_at", "id"),
        Index("ix_tickets_tags", "tags", postgresql_using="gin"),
        CheckConstraint("cardinality(tags) <= 20", name="tags_count"),
        CheckConstraint("requester_email IS NULL OR position('@' in requester_email) > 1",
                        name="requester_email_format"),
    )


# "Tickets from this person", whatever case their mail client used.
Index("ix_tickets_requester_email_lower", func.lower(Ticket.requester_email))
