"""The outbox backlog, for `flask realtime status`, /readyz and /metrics.

Every query here reads through a partial index (pending, deferred, failed, unpositioned) and
counts at most COUNT_CAP rows, so its cost follows the backlog, never the size of the table.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Event
from .publisher import CONFIG_CODES, CONFIG_STATUSES, TOKEN_ERRORS
from .relay import PENDING
from .sequencer import unpositioned_age

COUNT_CAP = 100_000


def capped_count(session: Session, *conditions) -> int:
    limited = select(Event.id).where(*conditions).limit(COUNT_CAP).subquery()
    return session.scalar(select(func.count()).select_from(limited))


def config_error(session: Session) -> str | None:
    """The newest error of a waiting event saying the Ably key may not publish, if any.

    The SQL form of publisher.is_config_error (last_error_code is Ably's code, else the status).
    """
    code = Event.last_error_code
    in_range = code.between(CONFIG_CODES.start, CONFIG_CODES.stop - 1) & ~code.between(
        TOKEN_ERRORS.start, TOKEN_ERRORS.stop - 1)
    return session.scalar(
        select(Event.last_error).where(
            *PENDING, Event.next_attempt_at.is_not(None), code.in_(CONFIG_STATUSES) | in_range)
        .order_by(Event.id.desc()).limit(1))


def backlog(session: Session) -> dict:
    oldest = session.scalar(select(Event.occurred_at).where(*PENDING).order_by(Event.id).limit(1))
    age = session.scalar(select(func.extract("epoch", func.clock_timestamp() - oldest))) \
        if oldest else 0.0
    last_error = session.scalar(
        select(Event.last_error).where(*PENDING, Event.next_attempt_at.is_not(None))
        .order_by(Event.id.desc()).limit(1))
    return {"pending": capped_count(session, *PENDING),
            "oldest_pending_age_seconds": round(float(age), 3),
            "waiting_retry": capped_count(session, *PENDING, Event.next_attempt_at.is_not(None)),
            "failed": capped_count(session, Event.failed_at.is_not(None)),
            "feed_lag_seconds": round(float(unpositioned_age(session)), 3),
            "last_error": last_error, "config_error": config_error(session)}
