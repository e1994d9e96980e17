"""Publish committed events from the outbox to Ably, in order per resource.

Every relay (a thread in each web worker, or `flask realtime relay`) competes for one
transaction-scoped advisory lock. The holder's round is one transaction: it reads the oldest due
events, publishes them in batch requests side by side, then gives every committed event its feed
position and records each event's outcome (realtime/outcomes.py) before it commits. A relay
that dies mid-round releases the lock with its transaction, so its events stay pending and the
next holder sends them again under the same message ids.

A relay starts at most one round per REALTIME_COALESCE_WINDOW: a commit that wakes an idle relay
goes out at once, and under load one round serves all the commits of a window instead of each
commit costing a round.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, or_, text, update
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.orm import Session

from ..models import Event
from . import outcomes
from .batching import Outcomes, plan_lanes, send_lanes
from .outbox import message_data
from .publisher import MAX_MESSAGE_BYTES, PublishError, encoded_size, fit_message
from .retention import prune_batch
from .sequencer import assign_positions
from .settings import RelaySettings

__all__ = ["PENDING", "Relay", "RelaySettings", "requeue"]

log = logging.getLogger(__name__)

# Key of the advisory lock that admits one publisher at a time, across all processes.
RELAY_LOCK_KEY = 0x7469636B6574  # "ticket"
# How soon a relay that was woken by a commit tries again when another relay is publishing.
BUSY_RETRY = 0.05
PRUNE_EVERY = 60.0

PENDING = (Event.published_at.is_(None), Event.failed_at.is_(None))

_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")
ROUND_COLUMNS = ("id", "event_id", "name", "resource_type", "resource_id", "version", "payload",
                 "actor", "occurred_at", "attempts")
# Resources held back by an event waiting for its retry time: their later events wait too, so
# that each resource's events go out in order. Each with the id of its first waiting event.
HELD_BACK = text("""
    SELECT resource_type, CAST(resource_id AS text), min(id)
    FROM events
    WHERE next_attempt_at IS NOT NULL AND published_at IS NULL AND failed_at IS NULL
      AND next_attempt_at > now()
    GROUP BY resource_type, resource_id""")
# The oldest pending events that are due, but for those of held-back resources after their
# first waiting event. Plain SQL and Core rows: built once, no ORM objects (the round runs after
# every burst of commits).
#
# Held-back resources come in as a list of values rather than as a NOT EXISTS over the table:
# PostgreSQL's plan for that anti-join rests on its statistics of pending and waiting events,
# which go stale exactly when a backlog builds (an Ably outage; a bulk load) and then probed
# every pending event for each one taken: 314 ms a round for a backlog of 5,000, against
# 0.3 ms with the list, whatever the statistics say.
_DUE = """
    SELECT {columns}
    FROM events AS event
    WHERE published_at IS NULL AND failed_at IS NULL
      AND (next_attempt_at IS NULL OR next_attempt_at <= now()){held_back}
    ORDER BY id LIMIT :limit"""
_NOT_HELD_BACK = """
      AND NOT EXISTS (
          SELECT FROM unnest(CAST(:held_types AS text[]), CAST(:held_ids AS uuid[]),
                             CAST(:held_from AS bigint[])) AS held (type, id, first_waiting)
          WHERE held.type = event.resource_type AND held.id = event.resource_id
            AND held.first_waiting < event.id)"""


def _due_events(held_back: str):
    return text(_DUE.format(columns=", ".join(ROUND_COLUMNS), held_back=held_back)).columns(
        *(Event.__table__.c[name] for name in ROUND_COLUMNS))


DUE_EVENTS = _due_events("")
DUE_EVENTS_HELD_BACK = _due_events(_NOT_HELD_BACK)


def due_events(connection: Connection, limit: int) -> list[Row]:
    """The oldest `limit` pending events that may go out now, in id order."""
    held = connection.execute(HELD_BACK).all()
    if not held:
        return connection.execute(DUE_EVENTS, {"limit": limit}).all()
    types, ids, first_waiting = (list(column) for column in zip(*held, strict=True))
    return connection.execute(DUE_EVENTS_HELD_BACK, {
        "limit": limit, "held_types": types, "held_ids": ids, "held_from": first_waiting}).all()


@dataclass
class RelayStats:
    published: int = 0
    failures: int = 0  # failed publish attempts (per event)
    last_error: str | None = None
    config_error: str | None = None


@dataclass
class RoundSummary:
    """What one round did (publish_pending returns only `settled`)."""

    fetched: int  # due events the round took
    settled: int  # of which published, or marked failed


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
        summary = self.publish_round()
        return None if summary is None else summary.settled

    def publish_round(self) -> RoundSummary | None:
        """One round in one transaction; None when another relay holds the lock."""
        with self.engine.begin() as connection:
            if not connection.scalar(_TRY_LOCK, {"key": RELAY_LOCK_KEY}):
                return None
            events = due_events(connection, self.settings.batch_size)
            results = self._send(events) if events else {}
            # Positions first: a feed reader holding the sequencer lock may be waiting for
            # rows that this transaction would otherwise have locked by marking them.
            assign_positions(connection)
            settled = self._record(connection, events, results)
            if not events:
                self._maybe_prune(connection)
        return RoundSummary(len(events), settled)

    def _send(self, events: list[Row]) -> Outcomes:
        messages = [self._message(event) for event in events]
        lanes = plan_lanes(messages, self.settings.concurrency)
        return send_lanes(self.publisher, lanes, self.stopping)

    def _message(self, event: Row) -> dict:
        data = message_data(event)
        size = encoded_size(data)
        if size > MAX_MESSAGE_BYTES:
            data = fit_message(data)
            size = encoded_size(data)
        return {"event": event.id, "resource": (event.resource_type, event.resource_id),
                "channel": self.channels[event.resource_type],
                "id": str(event.event_id), "name": event.name, "data": data, "size": size}

    def _record(self, connection: Connection, events: list[Row], results: Outcomes) -> int:
        """Write each event's outcome; return how many were settled (published or failed)."""
        marks = outcomes.marks_for(events, results, self.settings)
        outcomes.record(connection, marks)
        for failure in marks.failures:
            if failure.pause is None:
                event = failure.event
                log.error("realtime event %s (%s) marked failed after %d attempts: %s",
                          event.event_id, event.name, event.attempts + 1, failure.error)
            self._note_failure(failure.error)
        if marks.published:
            self.stats.published += len(marks.published)
            self.on_publish(len(marks.published))
        return marks.settled

    def _note_failure(self, error: PublishError) -> None:
        self.stats.failures += 1
        self.stats.last_error = str(error)
        self.on_failure(1)
        if error.config_error:
            self.stats.config_error = str(error)
            log.error("realtime configuration error: the Ably key may not publish: %s", error)
        else:
            log.warning("realtime publish failed, will retry: %s", error)

    def _maybe_prune(self, connection: Connection) -> None:
        if time.monotonic() - self._last_prune < PRUNE_EVERY:
            return
        self._last_prune = time.monotonic()
        deleted = prune_batch(connection, self.settings.retention_days)
        if deleted:
            log.info("realtime: pruned %d events older than %d days", deleted,
                     self.settings.retention_days)

    # -- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event, wake: threading.Event) -> None:
        """Publish until `stop` is set: soon after a commit wakes it, else every poll interval.

        Rounds start at most once per coalesce window: a commit that wakes an idle relay goes
        out at once, and under load one round serves all the commits of a window.
        """
        self.stopping = stop
        pause, unserved_wake, again, not_before = 0.0, False, False, 0.0
        while not stop.is_set():
            if (wake.is_set() or again) and stop.wait(max(0.0, not_before - time.monotonic())):
                break  # stopping: no new round
            unserved_wake = unserved_wake or wake.is_set()
            wake.clear()
            not_before = time.monotonic() + self.settings.coalesce_window
            try:
                summary = self.publish_round()
                pause = 0.0
            except Exception as error:  # the relay must outlive any failure (database down...)
                pause = min(self.settings.max_backoff, max(0.25, pause * 2))
                log.warning("realtime relay round failed, retrying in %.1fs: %s", pause, error,
                            exc_info=not isinstance(error, PublishError))
                again = False
                wake.wait(pause)  # a commit still wakes it
                continue
            if summary is None and unserved_wake:
                # Another relay holds the lock; our commit's events may be after its batch.
                wake.wait(BUSY_RETRY)
                continue
            unserved_wake = False
            # Events went out: more may have been committed meanwhile, by any process.
            again = summary is not None and summary.settled > 0
            if again and summary.fetched >= self.settings.batch_size:
                not_before = 0.0  # a full batch: the next one is waiting already
            elif not again:
                wake.wait(self.settings.poll_interval)

    def drain(self, timeout: float = 10.0) -> None:
        """Publish until nothing is due (for tests and the CLI)."""
        deadline = time.monotonic() + timeout
        while self.publish_pending() or self.due_count():
            if time.monotonic() > deadline:
                raise TimeoutError("events still pending")
            time.sleep(0.01)

    def due_count(self) -> int:
        with self.engine.connect() as connection:
            return len(due_events(connection, 1))


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
