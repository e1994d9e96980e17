"""Tag operations: add or remove tags without replacing the rest, and tags in use.

Adding and removing read the ticket's tags under its row lock, so two agents tagging one
ticket at once both see their tags kept.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..auth import Actor
from ..errors import NotFound, Unprocessable
from ..models import Ticket
from ..realtime.outbox import record
from ..schemas.tag import MAX_TAGS, normalize_tag
from .common import apply_changes, flush
from .tickets import get_ticket


def add_tags(session: Session, ticket_id, tags: list[str], actor: Actor) -> Ticket:
    ticket = get_ticket(session, ticket_id, lock=True)
    combined = sorted(set(ticket.tags) | set(tags))
    if len(combined) > MAX_TAGS:
        raise Unprocessable("Too many tags", {"tags": [
            f"A ticket carries at most {MAX_TAGS} tags; this one has {len(ticket.tags)}."]})
    return set_tags(session, ticket, combined, actor)


def remove_tag(session: Session, ticket_id, raw_tag: str, actor: Actor) -> Ticket:
    ticket = get_ticket(session, ticket_id, lock=True)
    tag = normalize_tag(raw_tag)
    if tag not in ticket.tags:
        raise NotFound("The ticket has no such tag")
    return set_tags(session, ticket, [t for t in ticket.tags if t != tag], actor)


def set_tags(session: Session, ticket: Ticket, tags: list[str], actor: Actor) -> Ticket:
    changes = apply_changes(ticket, {"tags": tags})
    if changes:
        flush(session)
        record(session, "updated", "ticket", ticket, changes, actor=actor)
    return ticket


def tags_in_use(session: Session, prefix: str | None, limit: int) -> list[dict]:
    """Tags with the number of tickets carrying them, most used first, then by name."""
    tag = func.unnest(Ticket.tags).label("tag")
    tagged = select(tag).subquery()
    stmt = select(tagged.c.tag, func.count().label("count")).group_by(tagged.c.tag)
    if prefix:
        stmt = stmt.where(tagged.c.tag.startswith(prefix.lower(), autoescape=True))
    stmt = stmt.order_by(func.count().desc(), tagged.c.tag).limit(limit)
    return [{"tag": row.tag, "count": row.count} for row in session.execute(stmt)]
