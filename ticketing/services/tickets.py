"""Ticket operations."""

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..auth import Actor
from ..errors import NotFound
from ..models import Ticket
from ..realtime.outbox import record
from . import ticket_queries as queries
from .common import apply_changes, flush, get_or_404, parse_id
from .ticket_queries import TicketRow

NOT_FOUND = "Ticket not found"


def get_ticket(session: Session, ticket_id, *, lock: bool = False) -> Ticket:
    """The ticket to change (or to lock before a change)."""
    return get_or_404(session, Ticket, ticket_id, NOT_FOUND, lock=lock)


def read_ticket(reader: Session | Connection, ticket_id) -> TicketRow:
    """The ticket, for a read that changes nothing; NotFound if there is none."""
    parsed = parse_id(ticket_id)
    row = queries.ticket_by_id(reader, parsed) if parsed is not None else None
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


def list_tickets(reader: Session | Connection, args: dict) -> tuple[list[TicketRow], dict]:
    return queries.list_page(reader, args)


def create_ticket(session: Session, data: dict, actor: Actor) -> Ticket:
    ticket = Ticket(**data, created_by=actor.as_event())
    session.add(ticket)
    flush(session)
    record(session, "created", "ticket", ticket, actor=actor)
    return ticket


def update_ticket(session: Session, ticket_id, values: dict,
                  actor: Actor) -> tuple[Ticket, dict]:
    """Apply `values`; the row lock orders concurrent updates of one ticket."""
    ticket = get_ticket(session, ticket_id, lock=True)
    changes = apply_changes(ticket, values)
    if changes:
        flush(session)
        record(session, "updated", "ticket", ticket, changes, actor=actor)
    return ticket, changes


def delete_ticket(session: Session, ticket_id, actor: Actor) -> Ticket:
    ticket = get_ticket(session, ticket_id, lock=True)
    session.delete(ticket)
    flush(session)
    record(session, "deleted", "ticket", ticket, actor=actor)
    return ticket
