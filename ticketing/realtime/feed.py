"""Read committed events in a gap-free order, for clients that were away longer than Ably keeps.

Events are read by `position`, which the sequencer gives to committed events in commit order
(realtime/sequencer.py), so reading with the returned cursor again and again yields every
committed event exactly once, and rolled-back writes never appear. Pages stop at `limit`
events or at MAX_PAGE_BYTES of event data, whichever comes first; events are fetched a few at
a time so that memory stays bounded too.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import DomainError, NotFound, Unprocessable
from ..models import Event, Ticket
from ..pagination import decode_token, encode_token
from ..services.common import parse_id
from .outbox import message_data
from .publisher import encoded_size
from .sequencer import assign_positions

# A page holds at most this much event data, or a single event when one alone is larger.
MAX_PAGE_BYTES = 2 * 1024 * 1024
FETCH = 20  # events loaded from the database at a time
CURSOR_PREFIX = "p"


class Gone(DomainError):
    status = 410


def encode_position(position: int) -> str:
    return encode_token(f"{CURSOR_PREFIX}{position}")


def _invalid() -> Unprocessable:
    return Unprocessable("Invalid cursor", {"after": ["Not a cursor returned by this API."]})


def _is_number(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²", which int() refuses."""
    return text.isascii() and text.isdigit()


def _legacy(text: str) -> bool:
    """A `<txid>.<id>` cursor of the feed before migration 0006 (transaction-id order)."""
    txid, dot, event_id = text.partition(".")
    return (dot == "." and _is_number(txid) and _is_number(event_id)
            and int(txid) < 2**64 and int(event_id) < 2**63)


def decode_position(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = decode_token(cursor)
    except ValueError as error:
        raise _invalid() from error
    if _legacy(text):
        raise Gone("This cursor is from before the feed was reordered: read again from the "
                   "start (without `after`) or from a recent cursor",
                   {"after": ["Cursor no longer valid."]})
    digits = text.removeprefix(CURSOR_PREFIX)
    if not text.startswith(CURSOR_PREFIX) or not _is_number(digits) or int(digits) >= 2**63:
        raise _invalid()
    return int(digits)


def _check_retained(session: Session, position: int) -> None:
    """410 when events after `position` were already deleted by retention."""
    oldest = session.scalar(select(func.min(Event.position)))
    if position and oldest is not None and position < oldest - 1:
        raise Gone("Events after this cursor are past retention and were deleted: read again "
                   "from the start (without `after`)", {"after": ["Cursor too old."]})


def bounded_page(session: Session, stmt, key, start, limit: int, max_bytes: int):
    """Up to `limit` events of `stmt` after `start` in `key` order, within `max_bytes`.

    Returns (records, last key value, more): `more` says that more events follow.
    """
    records, size, last = [], 0, start
    while len(records) < limit:
        wanted = min(FETCH, limit - len(records))
        chunk = session.scalars(stmt.where(key > last).order_by(key).limit(wanted)).all()
        for event in chunk:
            data = message_data(event)
            session.expunge(event)  # keep at most one chunk of events in memory
            event_size = encoded_size(data)
            if records and size + event_size > max_bytes:
                return records, last, True
            records.append(data)
            size += event_size
            last = getattr(event, key.key)
        if len(chunk) < wanted:
            return records, last, False
    # In key order, so that the next row is found through the index, not by a scan.
    following = stmt.with_only_columns(key).where(key > last).order_by(key).limit(1)
    return records, last, session.scalar(following) is not None


def read_feed(session: Session, after: str | None, limit: int,
              max_bytes: int = MAX_PAGE_BYTES) -> tuple[list[dict], str, bool]:
    """Events after the cursor `after`; returns (records, cursor to continue from, more)."""
    position = decode_position(after)
    # Position what has been committed, in a short transaction of its own, then read.
    assign_positions(session)
    session.commit()
    _check_retained(session, position)
    records, last, more = bounded_page(session, select(Event), Event.position, position, limit,
                                       max_bytes)
    return records, encode_position(last), more


def resource_history(session: Session, resource_type: str, resource_id, after_version: int,
                     limit: int, max_bytes: int = MAX_PAGE_BYTES) -> tuple[list[dict], bool]:
    stmt = select(Event).where(Event.resource_type == resource_type,
                               Event.resource_id == resource_id)
    records, _, more = bounded_page(session, stmt, Event.version, after_version, limit,
                                    max_bytes)
    return records, more


def ticket_history(session: Session, raw_id: str, after: int, limit: int,
                   max_bytes: int = MAX_PAGE_BYTES) -> tuple[list[dict], bool]:
    """One ticket's events after version `after`; 404 when the ticket never existed."""
    ticket_id = parse_id(raw_id)
    events, more = ([], False)
    if ticket_id:
        events, more = resource_history(session, "ticket", ticket_id, after, limit, max_bytes)
    if not events and not _ticket_known(session, ticket_id):
        raise NotFound("Ticket not found")
    return events, more


def _ticket_known(session: Session, ticket_id) -> bool:
    if ticket_id is None:
        return False
    if session.get(Ticket, ticket_id) is not None:
        return True
    return session.scalar(select(select(Event.id).where(
        Event.resource_type == "ticket", Event.resource_id == ticket_id).exists()))
