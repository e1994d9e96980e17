"""Read committed events in a gap-free order, for clients that were away longer than Ably keeps.

Events are ordered by (transaction id, id). A page only includes events whose transaction id is
below the oldest transaction still running, so an event can never appear later *behind* a
cursor already handed out: reading with the returned cursor again and again yields every
committed event exactly once, however transactions interleave their commits.
"""

from sqlalchemy import cast, func, literal, select, tuple_
from sqlalchemy.orm import Session

from ..errors import NotFound, Unprocessable
from ..models import Event, Ticket
from ..models.event import Xid8
from ..pagination import decode_token, encode_token
from ..services.common import parse_id
from .outbox import message_data

START = (0, 0)


def encode_position(txid: int, event_id: int) -> str:
    return encode_token(f"{txid}.{event_id}")


def _invalid() -> Unprocessable:
    return Unprocessable("Invalid cursor", {"after": ["Not a cursor returned by this API."]})


def decode_position(cursor: str | None) -> tuple[int, int]:
    if not cursor:
        return START
    try:
        txid, event_id = (int(part) for part in decode_token(cursor).split("."))
    except ValueError as error:
        raise _invalid() from error
    # xid8 and bigint ranges: anything else never came from us.
    if not (0 <= txid < 2**64 and 0 <= event_id < 2**63):
        raise _invalid()
    return txid, event_id


def read_feed(session: Session, after: str | None, limit: int) -> tuple[list[dict], str]:
    """Return up to `limit` events after the cursor `after`, and the cursor to continue from."""
    txid, event_id = decode_position(after)
    horizon = func.pg_snapshot_xmin(func.pg_current_snapshot())
    position = tuple_(cast(literal(str(txid)), Xid8()), literal(event_id))
    events = session.scalars(
        select(Event).where(tuple_(Event.txid, Event.id) > position, Event.txid < horizon)
        .order_by(Event.txid, Event.id).limit(limit)
    ).all()
    if events:
        txid, event_id = int(events[-1].txid), events[-1].id
    return [message_data(event) for event in events], encode_position(txid, event_id)


def resource_history(session: Session, resource_type: str, resource_id, after_version: int,
                     limit: int) -> list[dict]:
    events = session.scalars(
        select(Event).where(Event.resource_type == resource_type,
                            Event.resource_id == resource_id, Event.version > after_version)
        .order_by(Event.version, Event.id).limit(limit)
    ).all()
    return [message_data(event) for event in events]


def ticket_history(session: Session, raw_id: str, after: int, limit: int) -> list[dict]:
    """One ticket's events after version `after`; 404 when the ticket never existed."""
    ticket_id = parse_id(raw_id)
    events = resource_history(session, "ticket", ticket_id, after, limit) if ticket_id else []
    if not events and not _ticket_known(session, ticket_id):
        raise NotFound("Ticket not found")
    return events


def _ticket_known(session: Session, ticket_id) -> bool:
    if ticket_id is None:
        return False
    if session.get(Ticket, ticket_id) is not None:
        return True
    return resource_history(session, "ticket", ticket_id, 0, 1) != []
