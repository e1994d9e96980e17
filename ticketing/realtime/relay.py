"""Publish committed events from the outbox to Ably, in order, one publisher at a time.

Every relay (a thread in each web worker, or `flask realtime relay`) competes for one
transaction-scoped advisory lock; the holder publishes the oldest pending events and marks them
in the same transaction. A relay that dies mid-publish releases the lock with its transaction,
so the events stay pending and the next holder sends them again under the same message ids,
which Ably de-duplicates.
"""

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..models import Event
from .outbox import message_data
from .publisher import PublishError, fit_message

log = logging.getLogger(__name__)

# Key of the advisory lock that admits one publisher at a time, across all processes.
RELAY_LOCK_KEY = 0x7469636B6574  # "ticket"
# How soon a relay that was woken by a commit tries again when another relay is publishing.
BUSY_RETRY = 0.05

PENDING = (Event.published_at.is_(None), Event.failed_at.is_(None))


@dataclass
class BatchResult:
    published: list[int] = field(default_factory=list)
    rejected: dict[int, str] = field(default_factory=dict)  # event id -> Ably's reason
    error: PublishError | None = None
    pending: list[int] = field(default_factory=list)  # not attempted because of `error`

    def merge(self, other: "BatchResult") -> None:
        self.published += other.published
        self.rejected.update(other.rejected)
        self.pending += other.pending
        self.error = self.error or other.error


@dataclass
class RelayStats:
    published: int = 0
    failures: int = 0
    last_error: str | None = None


class Relay:
    def __init__(self, engine: Engine, publisher, channels: dict[str, str], *,
                 batch_size: int = 100, poll_interval: float = 1.0, max_backoff: float = 30.0,
                 concurrency: int = 16,
                 on_publish: Callable[[int], None] | None = None,
                 on_failure: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.publisher = publisher
        self.channels = channels
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.concurrency = concurrency  # publish requests in flight, each for another resource
        self.stats = RelayStats()
        self.on_publish = on_publish or (lambda count: None)
        self.on_failure = on_failure or (lambda: None)

    # -- one round ---------------------------------------------------------------------------

    def publish_pending(self) -> int | None:
        """Publish one batch if no other relay is publishing; return how many events it settled
        (published, or set aside as refused for good).

        Returns None when another relay holds the lock. Raises PublishError when Ably failed
        (after recording the failure on the events).
        """
        with Session(self.engine) as session, session.begin():
            if not session.scalar(select(func.pg_try_advisory_xact_lock(RELAY_LOCK_KEY))):
                return None
            events = session.scalars(
                select(Event).where(*PENDING).order_by(Event.id).limit(self.batch_size)).all()
            if not events:
                return 0
            result = self._send(events)
            self._record(session, result)
        self.stats.published += len(result.published)
        self.on_publish(len(result.published))
        if result.error is not None:
            raise result.error
        return len(result.published) + len(result.rejected)

    def _send(self, events: list[Event]) -> BatchResult:
        """Send each resource's events in order; different resources side by side.

        One message per request: Ably requires the ids of messages published together to
        share one base id, and ours must stay stable per event so retries are de-duplicated.
        """
        sequences: dict[tuple, list[dict]] = {}
        for event in events:
            sequences.setdefault((event.resource_type, event.resource_id), []).append(
                self._message(event))
        if len(sequences) == 1:  # the common case under light load: no threads to start
            return self._send_sequence(next(iter(sequences.values())))
        result = BatchResult()
        with ThreadPoolExecutor(min(self.concurrency, len(sequences))) as pool:
            for partial in pool.map(self._send_sequence, sequences.values()):
                result.merge(partial)
        return result

    def _message(self, event: Event) -> dict:
        return {"event": event.id, "channel": self.channels[event.resource_type],
                "id": str(event.event_id), "name": event.name,
                "data": fit_message(message_data(event))}

    def _send_sequence(self, messages: list[dict]) -> BatchResult:
        """Publish one resource's events in order, stopping at the first retryable failure."""
        result = BatchResult()
        for message in messages:
            if result.error is not None:
                result.pending.append(message["event"])
                continue
            try:
                self.publisher.publish(message["channel"], [message])
                result.published.append(message["event"])
            # Anything else the SDK lets escape (e.g. on an odd 2xx body) is retryable too, and
            # one resource's trouble stalls only that resource.
            except Exception as error:
                if not isinstance(error, PublishError):
                    error = PublishError(f"{error.__class__.__name__}: {error}")
                if error.retryable:
                    result.error = error
                    result.pending.append(message["event"])
                else:
                    log.error("Ably rejected event %s for good: %s", message["id"], error)
                    result.rejected[message["event"]] = str(error)
        return result

    def _record(self, session: Session, result: BatchResult) -> None:
        if result.published:
            session.execute(update(Event).where(Event.id.in_(result.published)).values(
                published_at=func.clock_timestamp(), attempts=Event.attempts + 1))
        for event_id, reason in result.rejected.items():
            session.execute(update(Event).where(Event.id == event_id).values(
                failed_at=func.now(), attempts=Event.attempts + 1, last_error=reason))
        if result.error is not None and result.pending:
            session.execute(update(Event).where(Event.id.in_(result.pending)).values(
                attempts=Event.attempts + 1, last_error=str(result.error)))

    # -- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event, wake: threading.Event) -> None:
        """Publish until `stop` is set: at once when woken, else every poll interval."""
        backoff, unserved_wake = 0.0, False
        while not stop.is_set():
            unserved_wake = unserved_wake or wake.is_set()
            wake.clear()
            try:
                settled = self.publish_pending()
                backoff = 0.0
            except Exception as error:  # the relay must outlive any failure
                backoff = self._failed(error, backoff)
                stop.wait(backoff)
                continue
            if settled is None and unserved_wake:
                # Another relay holds the lock; our commit's events may be after its batch.
                wake.wait(BUSY_RETRY)
                continue
            unserved_wake = False
            if not settled:
                wake.wait(self.poll_interval)
            # else: events went out, more may have been committed meanwhile: go again.

    def _failed(self, error: Exception, backoff: float) -> float:
        """Record a failed round and return the next pause: doubling, jittered, capped."""
        self.stats.failures += 1
        self.stats.last_error = str(error)
        self.on_failure()
        if isinstance(error, PublishError | SQLAlchemyError):
            log.warning("realtime publish failed, retrying: %s", error)
        else:
            log.exception("realtime relay error, retrying", exc_info=error)
        backoff = min(self.max_backoff, max(0.25, backoff * 2))
        return backoff * random.uniform(0.8, 1.2)

    def drain(self, timeout: float = 10.0) -> None:
        """Publish until nothing is pending (for tests); raise on Ably failure."""
        deadline = time.monotonic() + timeout
        while self.publish_pending() or self.pending_count():
            if time.monotonic() > deadline:
                raise TimeoutError("events still pending")
            time.sleep(0.01)

    def pending_count(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(Event).where(*PENDING))
