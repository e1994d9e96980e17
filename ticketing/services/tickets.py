"""Ticket operations."""

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    any_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..auth import Actor
from ..errors import NotFound
from ..models import Comment, Ticket
from ..pagination import make_sort, paginate
from ..realtime.outbox import record
from .common import differences, execute, get_or_404, lock_row, parse_id, refresh_loaded

NOT_FOUND = "Ticket not found"
# Reads select these columns with Core, not Ticket entities: no identity map, no unit of work,
# no instance state (a third of a GET by id's time). ticketing.serialize renders both kinds.
tickets = Ticket.__table__.c
TICKET_COLUMNS = tuple(column for column in tickets if column.key != "search_vector")


def get_ticket(session: Session, ticket_id, *, lock: bool = False) -> Ticket:
    """The ticket to change (or to lock before a change)."""
    return get_or_404(session, Ticket, ticket_id, NOT_FOUND, lock=lock)


def read_ticket(session: Session | Connection, ticket_id) -> Row:
    """The ticket's columns, for a read that changes nothing; NotFound if there is none."""
    parsed = parse_id(ticket_id)
    row = None
    if parsed is not None:
        stmt = select(*TICKET_COLUMNS).where(tickets.id == parsed)
        row = session.execute(stmt).one_or_none()
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


def filtered_tickets(args: dict) -> Select:
    """The tickets `args` asks for, as a Core select of TICKET_COLUMNS.

    Table columns, not ORM attributes, so the statement runs as plain Core: ORM
    attributes would route it through the ORM's compile and loading steps for nothing.
    """
    stmt = select(*TICKET_COLUMNS)
    if args.get("status"):
        stmt = stmt.where(tickets.status.in_(args["status"]))
    if args.get("priority"):
        stmt = stmt.where(tickets.priority.in_(args["priority"]))
    if "assigned_to" in args:
        # `= id` / `IS NULL` rather than IS NOT DISTINCT FROM, which no index serves.
        assignee = args["assigned_to"]
        stmt = stmt.where(tickets.assigned_to.is_(None) if assignee is None
                          else tickets.assigned_to == assignee)
    if args.get("q"):
        stmt = stmt.where(text_matches(args["q"]))
    stmt = conversation_filters(stmt, args)
    if args.get("created_after"):
        stmt = stmt.where(tickets.created_at >= args["created_after"])
    if args.get("created_before"):
        stmt = stmt.where(tickets.created_at < args["created_before"])
    return stmt


def text_matches(text: str) -> ColumnElement[bool]:
    """Tickets whose own text or comments match; each side is served by its GIN index.

    `own match OR id = ANY(ids from matching comments)`, not `id IN (... UNION ...)`: a union
    collects every match before the first row comes out (1.2 s for a common word among a
    million tickets), while this lets PostgreSQL walk the date index and stop after a page, or
    OR the two index bitmaps for a rare word (a few ms either way).
    """
    query = func.websearch_to_tsquery("english", text)
    comments = Comment.__table__.c
    from_comments = select(comments.ticket_id).where(comments.search_vector.bool_op("@@")(query))
    # ARRAY(SELECT ...) runs once, and `= ANY(array)` can use the primary key index.
    in_comments = tickets.id == any_(func.array(from_comments.scalar_subquery()))
    return or_(tickets.search_vector.bool_op("@@")(query), in_comments)


def conversation_filters(stmt: Select, args: dict) -> Select:
    """Requester, tags and first-reply filters."""
    if args.get("requester_email"):
        stmt = stmt.where(func.lower(tickets.requester_email) == args["requester_email"].lower())
    if args.get("tags"):
        stmt = stmt.where(tickets.tags.contains(args["tags"]))
    if args.get("tags_any"):
        stmt = stmt.where(tickets.tags.overlap(args["tags_any"]))
    if "has_public_reply" in args:
        column = tickets.first_response_at
        stmt = stmt.where(column.is_not(None) if args["has_public_reply"] else column.is_(None))
    return stmt


def list_tickets(session: Session | Connection, args: dict) -> tuple[list[Row], dict]:
    return paginate(session, filtered_tickets(args), make_sort(tickets, args["sort"]), args)


# Writes run Core statements on the session's connection, in its transaction: a POST is one
# INSERT ... RETURNING plus the event's INSERT; a PATCH or DELETE locks and reads the row,
# then UPDATE ... RETURNING (or DELETE) plus the event's. The ORM's unit of work was half of a
# POST's time. Comments and tags still change tickets as entities (see refresh_loaded).
INSERT_TICKET = insert(Ticket.__table__).returning(*TICKET_COLUMNS)
LOCK_TICKET = select(*TICKET_COLUMNS).where(tickets.id == bindparam("id")).with_for_update()
# Sets the columns given with it, and what Ticket.touch() sets.
UPDATE_TICKET = (update(Ticket.__table__).where(tickets.id == bindparam("ticket_id"))
                 .values(version=tickets.version + 1, updated_at=func.clock_timestamp(),
                         last_activity_at=func.clock_timestamp())
                 .returning(*TICKET_COLUMNS))
DELETE_TICKET = delete(Ticket.__table__).where(tickets.id == bindparam("id"))


def create_ticket(session: Session, data: dict, actor: Actor) -> Row:
    """Insert the ticket and its `ticket_created` event; the ticket's columns as stored."""
    values = {**_columns(data), "created_by": actor.as_event()}
    ticket = execute(session, INSERT_TICKET, values).one()
    record(session, "created", "ticket", ticket, actor=actor)
    return ticket


def lock_ticket(session: Session, ticket_id) -> Row:
    """The ticket's columns under its row lock, for a change (If-Match is checked on it)."""
    return lock_row(session, Ticket, ticket_id, NOT_FOUND, LOCK_TICKET)


def update_ticket(session: Session, ticket: Row, values: dict,
                  actor: Actor) -> tuple[Row, dict]:
    """Apply the `values` that differ to the ticket `lock_ticket` returned; the row lock
    orders concurrent updates of one ticket."""
    changes = differences(values, lambda field: _field(ticket, field))
    if not changes:
        return ticket, changes
    new_values = _columns({field: change["to"] for field, change in changes.items()})
    ticket = execute(session, UPDATE_TICKET, {"ticket_id": ticket.id, **new_values}).one()
    refresh_loaded(session, Ticket, ticket.id)
    record(session, "updated", "ticket", ticket, changes, actor=actor)
    return ticket, changes


def delete_ticket(session: Session, ticket: Row, actor: Actor) -> Row:
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


def _field(ticket: Row, field: str) -> Any:
    """An API field's value in a row of the ticket's columns (as Ticket's attribute gives it)."""
    if field != "requester":
        return getattr(ticket, field)
    if ticket.requester_email is None:
        return None
    return {"name": ticket.requester_name, "email": ticket.requester_email}
