"""Delete events older than EVENTS_RETENTION_DAYS once settled (published or failed).

Deletes only a prefix of the feed, in position order, and always keeps the newest positioned
event: positions stay gap-free, so a cursor pointing before the oldest kept event is known to
have missed deleted events (the feed answers it with 410).
"""

from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..models import Event

BATCH = 1000


def prune_batch(session: Connection | Session, days: int, batch: int = BATCH) -> int:
    """Delete up to `batch` old settled events from the start of the feed; return how many."""
    cutoff = func.now() - timedelta(days=days)
    newest = session.scalar(select(func.max(Event.position)))
    rows = session.execute(
        select(Event.id, Event.position, Event.occurred_at < cutoff,
               Event.published_at.is_not(None) | Event.failed_at.is_not(None))
        .where(Event.position.is_not(None)).order_by(Event.position).limit(batch)).all()
    doomed = []
    for event_id, position, old, settled in rows:
        if not (old and settled) or position == newest:
            break
        doomed.append(event_id)
    if doomed:
        session.execute(delete(Event).where(Event.id.in_(doomed)))
    return len(doomed)


def prune(engine, days: int, batch: int = BATCH) -> int:
    """Prune in small transactions until nothing old is left; return the number deleted."""
    total = 0
    while True:
        with Session(engine) as session, session.begin():
            deleted = prune_batch(session, days, batch)
        total += deleted
        if deleted < batch:
            return total
