"""Feed positions: given to committed events, in commit order, by one session at a time.

A transaction can only position events that are already committed (it cannot see others), and
the advisory lock makes the holders take turns; each holder commits before the next starts, so
readers see positions appear as a growing, gap-free prefix. Nothing waits for unrelated
transactions, in this database or any other on the server.

The lock is taken in a statement of its own: under READ COMMITTED the positioning statement's
snapshot is then taken after the lock was granted, so it sees what the previous holder committed.
"""

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..models import Event

SEQUENCER_LOCK_KEY = 0x7365717565  # "seque"
MAX_PER_CALL = 5000

_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_ASSIGN = text("""
    WITH top AS (SELECT coalesce(max(position), 0) AS position FROM events),
         fresh AS (SELECT id, row_number() OVER (ORDER BY id) AS n
                   FROM (SELECT id FROM events WHERE position IS NULL ORDER BY id LIMIT :limit)
                   AS unpositioned)
    UPDATE events SET position = top.position + fresh.n
    FROM top, fresh WHERE events.id = fresh.id""")


def assign_positions(connection: Connection | Session, limit: int = MAX_PER_CALL) -> int:
    """Position up to `limit` committed events; the caller commits (releasing the lock)."""
    connection.execute(_LOCK, {"key": SEQUENCER_LOCK_KEY})
    return connection.execute(_ASSIGN, {"limit": limit}).rowcount


def unpositioned_age(session: Session) -> float:
    """Seconds since the oldest committed event still without a position (the feed's lag)."""
    oldest = session.scalar(select(Event.occurred_at).where(Event.position.is_(None))
                            .order_by(Event.id).limit(1))
    if oldest is None:
        return 0.0
    return max(0.0, session.scalar(select(func.extract(
        "epoch", func.clock_timestamp() - oldest))) or 0.0)
