"""The outbox backlog, for `flask realtime status`, /readyz and /metrics."""

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Event
from .relay import PENDING


def backlog(session: Session) -> dict:
    pending, oldest = session.execute(
        select(func.count(), func.min(Event.occurred_at)).where(*PENDING)).one()
    failed = session.scalar(select(func.count()).where(Event.failed_at.is_not(None)))
    last_error = session.scalar(
        select(Event.last_error).where(*PENDING, Event.last_error.is_not(None))
        .order_by(Event.id.desc()).limit(1))
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
    return {"pending": pending, "oldest_pending_age_seconds": round(age, 3),
            "failed": failed, "last_error": last_error}
