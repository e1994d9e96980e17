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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..models import Event
from .outbox import message_data
from .publisher import MAX_PUBLISH_BYTES, PublishError, encoded_size, fit_message

log = logging.getLogger(__name__)

# Key of the advisory lock that admits one publisher at a time, across all processes.
RELAY_LOCK_KEY = 0x7469636B6574  # "ticket"

PENDING = (Event.published_at.is_(None), Event.failed_at.is_(None))


@dataclass
class BatchResult:
    published: list[int] = field(default_factory=list)
    rejected: dict[int, str] = field(default_factory=dict)  # event id -> Ably's reason
    error: PublishError | None = None
    pending: list[int] = field(default_factory=list)  # not attempted because of `error`


@dataclass
class RelayStats:
    published: int = 0
    failures: int = 0
    last_error: str | None = None


class Relay:
    def __init__(self, engine: Engine, publisher, channels: dict[str, str], *,
                 batch_size: int = 100, poll_interval: float = 1.0, max_backoff: float = 30.0,
                 on_publish: Callable[[int], None] | None = None,
                 on_failure: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.publisher = publisher
        self.channels = channels
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.stats = RelayStats()
        self.on_publish = on_publish or (lambda count: None)
        self.on_failure = on_failure or (lambda: None)

    # -- one round ---------------------------------------------------------------------------

    def publish_pending(self) -> int:
        """Publish one batch if no other relay is publishing; return how many went out.

        Raises PublishError when Ably failed (after recording it on the events).
        """
        with Session(self.engine) as session, session.begin():
            if not session.scalar(select(func.pg_try_advisory_xact_lock(RELAY_LOCK_KEY))):
                return 0
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
        return len(result.published)

    def _send(self, events: list[Event]) -> BatchResult:
        result = BatchResult()
        for channel, chunk in self._chunks(events):
            if result.error is not None:
                result.pending += [message["event"] for message in chunk]
                continue
            self._send_chunk(channel, chunk, result)
        return result

    def _send_chunk(self, channel: str, chunk: list[dict], result: BatchResult) -> None:
        try:
            self.publisher.publish(channel, chunk)
            result.published += [message["event"] for message in chunk]
        except PublishError as error:
            if error.retryable:
                result.error = error
                result.pending += [message["event"] for message in chunk]
            elif len(chunk) > 1:
                # Find the message Ably refuses by sending the chunk one message at a time.
                for message in chunk:
                    self._send_chunk(channel, [message], result)
            else:
                log.error("Ably rejected event %s for good: %s", chunk[0]["id"], error)
                result.rejected[chunk[0]["event"]] = str(error)

    def _chunks(self, events: list[Event]) -> Iterator[tuple[str, list[dict]]]:
        """Group by channel (order only matters within one resource) and cap request size."""
        by_channel: dict[str, list[dict]] = {}
        for event in events:
            channel = self.channels[event.resource_type]
            data = fit_message(message_data(event))
            by_channel.setdefault(channel, []).append(
                {"event": event.id, "id": str(event.event_id), "name": event.name, "data": data})
        for channel, messages in by_channel.items():
            chunk, size = [], 0
            for message in messages:
                message_size = encoded_size(message["data"]) + 200
                if chunk and size + message_size > MAX_PUBLISH_BYTES:
                    yield channel, chunk
                    chunk, size = [], 0
                chunk.append(message)
                size += message_size
            if chunk:
                yield channel, chunk

    def _record(self, session: Session, result: BatchResult) -> None:
        if result.published:
            session.execute(update(Event).where(Event.id.in_(result.published)).values(
                published_at=func.now(), attempts=Event.attempts + 1))
        for event_id, reason in result.rejected.items():
            session.execute(update(Event).where(Event.id == event_id).values(
                failed_at=func.now(), attempts=Event.attempts + 1, last_error=reason))
        if result.error is not None and result.pending:
            session.execute(update(Event).where(Event.id.in_(result.pending)).values(
                attempts=Event.attempts + 1, last_error=str(result.error)))

    # -- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event, wake: threading.Event) -> None:
        """Publish until `stop` is set: at once when woken, else every poll interval."""
        backoff = 0.0
        while not stop.is_set():
            wake.clear()
            try:
                published = self.publish_pending()
                backoff = 0.0
            except (PublishError, SQLAlchemyError) as error:
                backoff = self._failed(error, backoff)
                stop.wait(backoff)
                continue
            if published < self.batch_size:
                wake.wait(self.poll_interval)

    def _failed(self, error: Exception, backoff: float) -> float:
        """Record a failed round and return the next pause: doubling, jittered, capped."""
        self.stats.failures += 1
        self.stats.last_error = str(error)
        self.on_failure()
        log.warning("realtime publish failed, retrying: %s", error)
        backoff = min(self.max_backoff, max(0.25, backoff * 2))
        return backoff * random.uniform(0.8, 1.2)

    def drain(self, timeout: float = 10.0) -> None:
        """Publish until nothing is pending (tests and the CLI); raise on Ably failure."""
        deadline = time.monotonic() + timeout
        while self.publish_pending() or self.pending_count():
            if time.monotonic() > deadline:
                raise TimeoutError("events still pending")
            time.sleep(0.01)

    def pending_count(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(Event).where(*PENDING))
