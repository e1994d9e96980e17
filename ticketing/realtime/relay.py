"""Publish committed events from the outbox to Ably, in order per resource.

Every relay (a thread in each web worker, or `flask realtime relay`) competes for one
transaction-scoped advisory lock; the holder gives new events their feed positions, publishes
the oldest due events in batch requests side by side, and records each event's outcome in the
same transaction. A relay that dies mid-round releases the lock with its transaction, so its
events stay pending and the next holder sends them again under the same message ids.

A failure delays only what it concerns: the event gets its own backoff (`next_attempt_at`), and
later events of its resource wait behind it, until it is published or, after
REALTIME_MAX_ATTEMPTS attempts or REALTIME_MAX_EVENT_AGE seconds, marked failed.
"""

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased

from ..models import Event
from .batching import plan_lanes, send_lanes
from .outbox import message_data
from .publisher import PublishError, fit_message
from .retention import prune_batch
from .sequencer import assign_positions

log = logging.getLogger(__name__)

# Key of the advisory lock that admits one publisher at a time, across all processes.
RELAY_LOCK_KEY = 0x7469636B6574  # "ticket"
# How soon a relay that was woken by a commit tries again when another relay is publishing.
BUSY_RETRY = 0.05
FIRST_RETRY = 0.5  # seconds before an event's first retry; doubles up to max_backoff
PRUNE_EVERY = 60.0

PENDING = (Event.published_at.is_(None), Event.failed_at.is_(None))


@dataclass
class RelaySettings:
    batch_size: int = 500
    poll_interval: float = 1.0
    max_backoff: float = 30.0
    concurrency: int = 8
    max_attempts: int = 50
    max_event_age: float = 3600.0
    retention_days: int = 90

    @classmethod
    def from_config(cls, config) -> "RelaySettings":
        return cls(batch_size=config["REALTIME_BATCH_SIZE"],
                   poll_interval=config["REALTIME_POLL_INTERVAL"],
                   max_backoff=config["REALTIME_MAX_BACKOFF"],
                   concurrency=config["REALTIME_PUBLISH_CONCURRENCY"],
                   max_attempts=config["REALTIME_MAX_ATTEMPTS"],
                   max_event_age=config["REALTIME_MAX_EVENT_AGE"],
                   retention_days=config["EVENTS_RETENTION_DAYS"])


@dataclass
class RelayStats:
    published: int = 0
    failures: int = 0  # failed publish attempts (per event)
    last_error: str | None = None
    config_error: str | None = None


@dataclass
class Round:
    """What one round sent: event id -> None (taken by Ably) or the PublishError."""

    events: list[Event]
    outcomes: dict[int, PublishError | None] = field(default_factory=dict)


def due_events(limit: int):
    """The oldest pending events that are due, skipping resources waiting on an earlier one."""
    waiting = aliased(Event)
    blocked = exists().where(
        waiting.next_attempt_at.is_not(None), waiting.published_at.is_(None),
        waiting.failed_at.is_(None), waiting.resource_type == Event.resource_type,
        waiting.resource_id == Event.resource_id, waiting.id < Event.id,
        waiting.next_attempt_at > func.now())
    return (select(Event).where(*PENDING, or_(Event.next_attempt_at.is_(None),
                                              Event.next_attempt_at <= func.now()), ~blocked)
            .order_by(Event.id).limit(limit))


class Relay:
    def __init__(self, engine: Engine, publisher, channels: dict[str, str],
                 settings: RelaySettings | None = None, *,
                 on_publish: Callable[[int], None] | None = None,
                 on_failure: Callable[[int], None] | None = None) -> None:
        self.engine = engine
        self.publisher = publisher
        self.channels = channels
        self.settings = settings or RelaySettings()
        self.stats = RelayStats()
        self.on_publish = on_publish or (lambda count: None)
        self.on_failure = on_failure or (lambda count: None)
        self.stopping = threading.Event()  # set by run()'s stop: abandon the rest of a round
        self._last_prune = 0.0

    # -- one round ---------------------------------------------------------------------------

    def publish_pending(self) -> int | None:
        """Publish one batch if no other relay is publishing; return how many events it settled
        (published, or marked failed).

        Returns None when another relay holds the lock.
        """
        with Session(self.engine) as session, session.begin():
            assign_positions(session)
        with Session(self.engine) as session, session.begin():
            if not session.scalar(select(func.pg_try_advisory_xact_lock(RELAY_LOCK_KEY))):
                return None
            events = session.scalars(due_events(self.settings.batch_size)).all()
            if not events:
                self._maybe_prune(session)
                return 0
            sent = Round(events, self._send(events))
            settled = self._record(session, sent)
        published = sum(1 for outcome in sent.outcomes.values() if outcome is None)
        self.stats.published += published
        self.on_publish(published)
        return settled

    def _send(self, events: list[Event]) -> dict[int, PublishError | None]:
        messages = [self._message(event) for event in events]
        lanes = plan_lanes(messages, self.settings.concurrency)
        return send_lanes(self.publisher, lanes, self.stopping)

    def _message(self, event: Event) -> dict:
        return {"event": event.id, "resource": (event.resource_type, event.resource_id),
                "channel": self.channels[event.resource_type],
                "id": str(event.event_id), "name": event.name,
                "data": fit_message(message_data(event))}

    def _record(self, session: Session, sent: Round) -> int:
        """Write each event's outcome; return how many were settled (published or failed)."""
        published = [event_id for event_id, outcome in sent.outcomes.items() if outcome is None]
        if published:
            session.execute(update(Event).where(Event.id.in_(published)).values(
                published_at=func.clock_timestamp(), attempts=Event.attempts + 1,
                next_attempt_at=None))
        settled, waiting = len(published), set()
        for event in sent.events:  # oldest first: the first failure of a resource counts
            error = sent.outcomes.get(event.id)
            if error is None or (event.resource_type, event.resource_id) in waiting:
                continue
            if error.retryable and not self._give_up(event):
                waiting.add((event.resource_type, event.resource_id))
                self._defer(session, event, error)
            else:
                settled += 1
                self._fail(session, event, error)
            self._note_failure(error)
        return settled

    def _give_up(self, event: Event) -> bool:
        age = (time.time() - event.occurred_at.timestamp())
        return (event.attempts + 1 >= self.settings.max_attempts
                or age >= self.settings.max_event_age)

    def _defer(self, session: Session, event: Event, error: PublishError) -> None:
        pause = min(self.settings.max_backoff, FIRST_RETRY * 2 ** event.attempts)
        pause = max(pause * random.uniform(0.8, 1.2), error.retry_after or 0.0)
        session.execute(update(Event).where(Event.id == event.id).values(
            attempts=Event.attempts + 1, last_error=str(error)[:2000],
            last_error_code=error.code or error.status,
            next_attempt_at=func.clock_timestamp() + timedelta(seconds=pause)))

    def _fail(self, session: Session, event: Event, error: PublishError) -> None:
        log.error("realtime event %s (%s) marked failed after %d attempts: %s", event.event_id,
                  event.name, event.attempts + 1, error)
        session.execute(update(Event).where(Event.id == event.id).values(
            failed_at=func.clock_timestamp(), attempts=Event.attempts + 1,
            last_error=str(error)[:2000], last_error_code=error.code or error.status,
            next_attempt_at=None))

    def _note_failure(self, error: PublishError) -> None:
        self.stats.failures += 1
        self.stats.last_error = str(error)
        self.on_failure(1)
        if error.config_error:
            self.stats.config_error = str(error)
            log.error("realtime configuration error: the Ably key may not publish: %s", error)
        else:
            log.warning("realtime publish failed, will retry: %s", error)

    def _maybe_prune(self, session: Session) -> None:
        if time.monotonic() - self._last_prune < PRUNE_EVERY:
            return
        self._last_prune = time.monotonic()
        deleted = prune_batch(session, self.settings.retention_days)
        if deleted:
            log.info("realtime: pruned %d events older than %d days", deleted,
                     self.settings.retention_days)

    # -- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event, wake: threading.Event) -> None:
        """Publish until `stop` is set: at once when woken, else every poll interval."""
        self.stopping = stop
        pause, unserved_wake = 0.0, False
        while not stop.is_set():
            unserved_wake = unserved_wake or wake.is_set()
            wake.clear()
            try:
                settled = self.publish_pending()
                pause = 0.0
            except Exception as error:  # the relay must outlive any failure (database down...)
                pause = min(self.settings.max_backoff, max(0.25, pause * 2))
                log.warning("realtime relay round failed, retrying in %.1fs: %s", pause, error,
                            exc_info=not isinstance(error, PublishError))
                wake.wait(pause)  # a commit still wakes it
                continue
            if settled is None and unserved_wake:
                # Another relay holds the lock; our commit's events may be after its batch.
                wake.wait(BUSY_RETRY)
                continue
            unserved_wake = False
            if not settled:
                wake.wait(self.settings.poll_interval)
            # else: events went out, more may have been committed meanwhile: go again.

    def drain(self, timeout: float = 10.0) -> None:
        """Publish until nothing is due (for tests and the CLI)."""
        deadline = time.monotonic() + timeout
        while self.publish_pending() or self.due_count():
            if time.monotonic() > deadline:
                raise TimeoutError("events still pending")
            time.sleep(0.01)

    def due_count(self) -> int:
        with Session(self.engine) as session:
            return len(session.scalars(due_events(1).with_only_columns(Event.id)).all())


def requeue(session: Session, *, numbers=(), uuids=(), resource=None) -> int:
    """Make failed events pending again: all, or only those with these ids or of `resource`
    (a (type, uuid) pair). Returns how many."""
    conditions = [Event.failed_at.is_not(None)]
    if numbers or uuids:
        conditions.append(or_(Event.id.in_(list(numbers)), Event.event_id.in_(list(uuids))))
    if resource:
        conditions.append(and_(Event.resource_type == resource[0],
                               Event.resource_id == resource[1]))
    return session.execute(update(Event).where(*conditions).values(
        failed_at=None, attempts=0, next_attempt_at=None)).rowcount
