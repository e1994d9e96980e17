"""An ordered text index: each ticket's words, in the order the default list shows tickets.

PostgreSQL's GIN index finds a word's tickets but not in date order, so a page of matches for a
rare word walked the date index until it had 20 (about 4,000 rows at a million tickets). Here
each (word, ticket) is one row keyed (term, created_at, ticket_id): a one-word search is a walk
of one key range, newest first, that stops after the page, and its count reads at most 1,001
entries, whatever the table's size.

Maintained by triggers (migration 0008) from the tickets' and comments' `search_vector`s, never
by the app: `sources` counts the texts holding the word (the ticket's own, each comment's), and
the row goes when the last one stops holding it.
"""

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Integer, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base


class TicketSearchTerm(Base):
    __tablename__ = "ticket_search_terms"

    # A lexeme as to_tsvector('english', ...) makes it ("printers" -> "printer").
    term: Mapped[str] = mapped_column(Text, primary_key=True)
    # The ticket's, copied: the key's order is the default list's order.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    # No foreign key: its check or cascade would need a second index, on this column alone;
    # the triggers remove a deleted ticket's rows by their key.
    ticket_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    sources: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
