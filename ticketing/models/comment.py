"""Comments: public replies to the requester and internal notes, in a ticket's thread."""

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from .mixins import ResourceMixin

SEARCH_DOCUMENT = "to_tsvector('english'::regconfig, coalesce(body, ''))"


class Comment(ResourceMixin, Base):
    __tablename__ = "comments"

    # clock_timestamp(): several comments in one transaction still come out in posting order.
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()
    )
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False
    )
    # The caller as events carry it (Actor.as_event()); no foreign key, so that the thread
    # keeps its authors after an agent or an API key is deleted.
    author: Mapped[dict] = mapped_column(JSONB, nullable=False)
    # Null once deleted: only the marker (author, times, who deleted it) stays.
    body: Mapped[str | None] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    edited_by: Mapped[dict | None] = mapped_column(JSONB)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[dict | None] = mapped_column(JSONB)
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR, Computed(SEARCH_DOCUMENT, persisted=True), deferred=True
    )

    __table_args__ = (
        CheckConstraint("body IS NULL OR char_length(body) BETWEEN 1 AND 50000",
                        name="body_length"),
        CheckConstraint("(body IS NULL) = (deleted_at IS NOT NULL)", name="deleted_has_no_body"),
        # A thread, oldest first, by cursor; and the same for public replies or notes only.
        Index("ix_comments_ticket_id_created_at_id", "ticket_id", "created_at", "id"),
        Index("ix_comments_ticket_id_public_created_at_id",
              "ticket_id", "public", "created_at", "id"),
        Index("ix_comments_search_vector", "search_vector", postgresql_using="gin"),
    )

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None
