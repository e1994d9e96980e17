"""The ticket as the API and its events show it, from an ORM Ticket or a Core row alike.

What `TicketSchema().dump(ticket)` returns, field for field and in the same order, at a tenth
of its cost: the ticket is rendered on every read and every write (response and event
snapshot), and marshmallow's per-field machinery was most of a ticket's serialization time.
"""

import uuid
from datetime import datetime
from typing import Any, Protocol

from ..models import TicketPriority, TicketStatus

# ActorSchema's fields: a stored actor is shown with these keys only, those it has.
ACTOR_KEYS = ("type", "id", "name")


class TicketFields(Protocol):
    """What the serializer reads: a Ticket, or a row of the ticket table's columns (which
    reads select with their ids as text: services/ticket_queries.py)."""

    id: uuid.UUID | str
    title: str
    description: str
    status: TicketStatus
    priority: TicketPriority
    assigned_to: uuid.UUID | str | None
    created_by: dict | None
    requester_name: str | None
    requester_email: str | None
    tags: list[str]
    comments_count: int
    version: int
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    first_response_at: datetime | None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _actor(actor: dict | None) -> dict | None:
    if actor is None:
        return None
    return {key: _text(actor[key]) for key in ACTOR_KEYS if key in actor}


def _requester(ticket: TicketFields) -> dict | None:
    if ticket.requester_email is None:
        return None
    return {"name": _text(ticket.requester_name), "email": str(ticket.requester_email)}


def _moment(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def ticket_data(ticket: TicketFields) -> dict[str, Any]:
    """The ticket as JSON-ready data (TicketSchema's shape)."""
    return {
        "id": str(ticket.id),
        "title": ticket.title,
        "description": ticket.description,
        "status": ticket.status.value,
        "priority": ticket.priority.value,
        "assigned_to": _text(ticket.assigned_to),
        "created_by": _actor(ticket.created_by),
        "requester": _requester(ticket),
        "tags": [str(tag) for tag in ticket.tags],
        "comments_count": ticket.comments_count,
        "version": ticket.version,
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
        "last_activity_at": ticket.last_activity_at.isoformat(),
        "first_response_at": _moment(ticket.first_response_at),
    }
