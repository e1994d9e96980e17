"""Ticket operations."""

import enum
import functools
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..auth import Actor
from ..driver_sql import DriverStatement, json_value
from ..errors import NotFound
from ..models import Ticket
from ..realtime.outbox import record
from . import ticket_queries as queries
from .common import differences, execute, get_or_404, lock_row, parse_id, refresh_loaded
from .ticket_queries import TICKET_COLUMNS, TicketRow, ticket_row, tickets

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


# Writes are Core statements on the session's connection, in its transaction: a POST is one
# INSERT ... RETURNING plus the event's INSERT; a PATCH or DELETE locks and reads the row,
# then UPDATE ... RETURNING (or DELETE) plus the event's. The ORM's unit of work was half of a
# POST's time. Each statement is compiled once (per set of columns it writes) and run on the
# driver's cursor (driver_sql.py), at half the CPU of SQLAlchemy's execute; its row comes back
# as the driver's tuple, made a TicketRow by ticket_row (the same columns as a read's, ids as
# UUIDs). Comments and tags still change tickets as entities (see refresh_loaded).
LOCK_TICKET = DriverStatement.of(
    select(*TICKET_COLUMNS).where(tickets.id == bindparam("id")).with_for_update())
DELETE_TICKET = DriverStatement.of(delete(Ticket.__table__).where(tickets.id == bindparam("id")))


def _bound(columns: tuple[str, ...]) -> dict:
    """Each column set from the parameter of its own name."""
    return {column: bindparam(column) for column in columns}


@functools.cache
def _insert_statement(columns: tuple[str, ...]) -> DriverStatement:
    """INSERT of these columns (the others take their defaults), RETURNING the row."""
    return DriverStatement.of(
        insert(Ticket.__table__).values(_bound(columns)).returning(*TICKET_COLUMNS))


@functools.cache
def _update_statement(columns: tuple[str, ...]) -> DriverStatement:
    """UPDATE of these columns and of what Ticket.touch() sets, RETURNING the row."""
    return DriverStatement.of(
        update(Ticket.__table__).where(tickets.id == bindparam("ticket_id"))
        .values(version=tickets.version + 1, updated_at=func.clock_timestamp(),
                last_activity_at=func.clock_timestamp(), **_bound(columns))
        .returning(*TICKET_COLUMNS))


def create_ticket(session: Session, data: dict, actor: Actor) -> TicketRow:
    """Insert the ticket and its `ticket_created` event; the ticket's columns as stored."""
    values = _driver_values({**_columns(data), "created_by": actor.as_event()})
    ticket = ticket_row(execute(session, _insert_statement(tuple(sorted(values))), values)[0])
    record(session, "created", "ticket", ticket, actor=actor)
    return ticket


def lock_ticket(session: Session, ticket_id) -> TicketRow:
    """The ticket's columns under its row lock, for a change (If-Match is checked on it)."""
    return ticket_row(lock_row(session, Ticket, ticket_id, NOT_FOUND, LOCK_TICKET))


def update_ticket(session: Session, ticket: TicketRow, values: dict,
                  actor: Actor) -> tuple[TicketRow, dict]:
    """Apply the `values` that differ to the ticket `lock_ticket` returned; the row lock
    orders concurrent updates of one ticket."""
    changes = differences(values, lambda field: _field(ticket, field))
    if not changes:
        return ticket, changes
    new_values = _driver_values(
        _columns({field: change["to"] for field, change in changes.items()}))
    statement = _update_statement(tuple(sorted(new_values)))
    ticket = ticket_row(execute(session, statement, {"ticket_id": ticket.id, **new_values})[0])
    refresh_loaded(session, Ticket, ticket.id)
    record(session, "updated", "ticket", ticket, changes, actor=actor)
    return ticket, changes


def delete_ticket(session: Session, ticket: TicketRow, actor: Actor) -> TicketRow:
    """Delete the ticket `lock_ticket` returned (its comments go with it)."""
    execute(session, DELETE_TICKET, {"id": ticket.id})
    refresh_loaded(session, Ticket, ticket.id, deleted=True)
    record(session, "deleted", "ticket", ticket, actor=actor)
    return ticket


def _columns(values: dict) -> dict:
    """API fields as table columns: `requester` is stored as its name and email."""
    if "requester" not in values:
        return values
    columns = {field: value for field, value in values.items() if field != "requester"}
    requester = values["requester"]
    columns["requester_name"] = requester.get("name") if requester else None
    columns["requester_email"] = requester["email"] if requester else None
    return columns


def _driver_values(columns: dict) -> dict:
    """Column values as the driver takes them: enum members as their text, the creator as a
    JSON document (what SQLAlchemy's Enum and JSONB types did to them)."""
    values = {column: value.value if isinstance(value, enum.Enum) else value
              for column, value in columns.items()}
    if "created_by" in values:
        values["created_by"] = json_value(values["created_by"])
    return values


def _field(ticket: TicketRow, field: str) -> Any:
    """An API field's value in a row of the ticket's columns (as Ticket's attribute gives it)."""
    if field != "requester":
        return getattr(ticket, field)
    if ticket.requester_email is None:
        return None
    return {"name": ticket.requester_name, "email": ticket.requester_email}
