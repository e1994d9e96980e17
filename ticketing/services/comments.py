"""Comment operations: a ticket's thread of public replies and internal notes.

Every write takes the ticket's row lock first, so the ticket's counters and version move in
the same order as its events, and two writers of one thread never deadlock.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..auth import Actor, Permission
from ..errors import Conflict, Forbidden, NotFound
from ..models import Comment, Ticket
from ..pagination import make_sort, paginate
from ..realtime.outbox import jsonable, record
from ..schemas.comment import CommentSchema
from .common import flush, parse_id
from .tickets import get_ticket

NOT_FOUND = "Comment not found"
SNAPSHOT = CommentSchema()


def get_comment(session: Session, ticket_id, comment_id, *, lock: bool = False) -> Comment:
    """A comment of this ticket: 404 for an unknown ticket, comment, or another ticket's."""
    ticket = get_ticket(session, ticket_id, lock=lock)
    comment_uuid = parse_id(comment_id)
    comment = None
    if comment_uuid is not None:
        comment = session.get(Comment, comment_uuid, with_for_update=lock or None)
    if comment is None or comment.ticket_id != ticket.id:
        raise NotFound(NOT_FOUND)
    return comment


def list_comments(session: Session, ticket_id, args: dict) -> tuple[list[Comment], dict]:
    """The thread, oldest first; `public` keeps only replies (true) or notes (false)."""
    ticket = get_ticket(session, ticket_id)
    stmt = select(Comment).where(Comment.ticket_id == ticket.id)
    if "public" in args:
        stmt = stmt.where(Comment.public == args["public"])
    return paginate(session, stmt, make_sort(Comment, "created_at"), args)


def create_comment(session: Session, ticket_id, data: dict, actor: Actor) -> Comment:
    ticket = get_ticket(session, ticket_id, lock=True)
    now = _now(session)
    comment = Comment(ticket_id=ticket.id, author=actor.as_event(), created_at=now,
                      updated_at=now, **data)
    session.add(comment)
    ticket.comments_count += 1
    ticket.touch_conversation(now)
    if comment.public and ticket.first_response_at is None:
        ticket.first_response_at = now
    _record(session, "created", ticket, comment, {}, actor)
    return comment


def update_comment(session: Session, ticket_id, comment_id, body: str,
                   actor: Actor) -> Comment:
    """Replace the body: its author or a moderator; the comment records who and when."""
    comment = get_comment(session, ticket_id, comment_id, lock=True)
    if not (actor.can(Permission.MODERATE_COMMENTS) or is_author(comment, actor)):
        raise Forbidden("Only its author or an admin may edit a comment")
    _ensure_not_deleted(comment)
    if comment.body == body:
        return comment
    changes = {"body": {"from": comment.body, "to": body}}
    ticket, now = comment_ticket(session, comment), _now(session)
    comment.body, comment.edited_at, comment.edited_by = body, now, actor.as_event()
    _mark_changed(ticket, comment, now)
    _record(session, "updated", ticket, comment, changes, actor)
    return comment


def delete_comment(session: Session, ticket_id, comment_id, actor: Actor) -> Comment:
    """Remove the text, keep a marker (author, times, deleted) so the thread keeps its shape."""
    comment = get_comment(session, ticket_id, comment_id, lock=True)
    _ensure_not_deleted(comment)
    ticket, now = comment_ticket(session, comment), _now(session)
    comment.body, comment.deleted_at, comment.deleted_by = None, now, actor.as_event()
    _mark_changed(ticket, comment, now)
    ticket.comments_count -= 1
    _record(session, "deleted", ticket, comment, {}, actor)
    return comment


def is_author(comment: Comment, actor: Actor) -> bool:
    author = comment.author or {}
    return actor.id is not None and (author.get("type"), author.get("id")) == (
        actor.type, str(actor.id))


def comment_ticket(session: Session, comment: Comment) -> Ticket:
    """The comment's ticket, already locked and loaded by get_comment."""
    return session.get(Ticket, comment.ticket_id)


def _ensure_not_deleted(comment: Comment) -> None:
    if comment.deleted:
        raise Conflict("The comment has been deleted")


def _mark_changed(ticket: Ticket, comment: Comment, now) -> None:
    """A new version of the comment and of its ticket, both stamped with the same instant."""
    comment.version += 1
    comment.updated_at = now
    ticket.touch_conversation(now)


def _now(session: Session):
    """The time of a change, read once the row locks are held (see ResourceMixin.touch)."""
    return session.scalar(select(func.clock_timestamp()))


def _record(session: Session, action: str, ticket: Ticket, comment: Comment, changes: dict,
            actor: Actor) -> None:
    flush(session)
    record_ticket_event(session, f"comment_{action}", ticket, changes, actor,
                        comment=SNAPSHOT.dump(comment))


def record_ticket_event(session: Session, name: str, ticket: Ticket, changes: dict,
                        actor: Actor, **extra) -> None:
    """Record `name` in the ticket's own stream (channel, history, version order).

    A conversation change is a change of the ticket: the event is the ticket_updated event
    record() makes, under its own name and with the extra fields (the comment) added.
    """
    event = record(session, "updated", "ticket", ticket, changes, actor=actor)
    event.name = name
    event.payload = {**event.payload, **jsonable(extra)}
