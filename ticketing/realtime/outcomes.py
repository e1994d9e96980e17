"""Record what a round's requests did to its events: one statement per kind of outcome.

Published events are marked together. The first failure of a resource gets its own backoff
(`next_attempt_at`), and the relay's due query holds that resource's later events back behind
it; the event is marked failed instead when Ably refused it for good, or once it has had
REALTIME_MAX_ATTEMPTS attempts or is REALTIME_MAX_EVENT_AGE seconds old. Events the round did
not attempt (the relay was stopping) stay as they are.
"""

import random
import time
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import Connection, Row

from .batching import Outcomes
from .publisher import PublishError
from .settings import RelaySettings

FIRST_RETRY = 0.5  # seconds before an event's first retry; doubles up to max_backoff
ERROR_CHARS = 2000  # of last_error kept

_PUBLISHED = text("""
    UPDATE events SET published_at = clock_timestamp(), attempts = attempts + 1,
                      next_attempt_at = NULL
    WHERE id = ANY(:ids)""")
_DEFERRED = text("""
    UPDATE events SET attempts = attempts + 1, last_error = retry.error,
                      last_error_code = retry.code,
                      next_attempt_at = clock_timestamp() + make_interval(secs => retry.pause)
    FROM unnest(CAST(:ids AS bigint[]), CAST(:errors AS text[]), CAST(:codes AS integer[]),
                CAST(:pauses AS double precision[])) AS retry(id, error, code, pause)
    WHERE events.id = retry.id""")
_FAILED = text("""
    UPDATE events SET failed_at = clock_timestamp(), attempts = attempts + 1,
                      last_error = failure.error, last_error_code = failure.code,
                      next_attempt_at = NULL
    FROM unnest(CAST(:ids AS bigint[]), CAST(:errors AS text[]), CAST(:codes AS integer[]))
         AS failure(id, error, code)
    WHERE events.id = failure.id""")


@dataclass
class Failure:
    event: Row
    error: PublishError
    pause: float | None  # seconds until the next attempt; None: the event is marked failed


@dataclass
class Marks:
    """What to write for a round: the published events, and each failure to record."""

    published: list[int] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def settled(self) -> int:
        """Events done with: published, or marked failed."""
        return len(self.published) + sum(1 for f in self.failures if f.pause is None)


def marks_for(events: list[Row], results: Outcomes, settings: RelaySettings) -> Marks:
    """Decide what each attempted event of the round (`events`, oldest first) becomes."""
    marks = Marks([event_id for event_id, error in results.items() if error is None])
    waiting: set[tuple] = set()  # resources whose first failure was deferred
    for event in events:
        error, resource = results.get(event.id), (event.resource_type, event.resource_id)
        if error is None or resource in waiting:
            continue
        if error.retryable and not gives_up(event, settings):
            waiting.add(resource)
            marks.failures.append(Failure(event, error, backoff(event, error, settings)))
        else:
            marks.failures.append(Failure(event, error, None))
    return marks


def gives_up(event: Row, settings: RelaySettings) -> bool:
    age = time.time() - event.occurred_at.timestamp()
    return event.attempts + 1 >= settings.max_attempts or age >= settings.max_event_age


def backoff(event: Row, error: PublishError, settings: RelaySettings) -> float:
    pause = min(settings.max_backoff, FIRST_RETRY * 2 ** event.attempts)
    return max(pause * random.uniform(0.8, 1.2), error.retry_after or 0.0)


def record(connection: Connection, marks: Marks) -> None:
    if marks.published:
        connection.execute(_PUBLISHED, {"ids": marks.published})
    deferred = [f for f in marks.failures if f.pause is not None]
    if deferred:
        connection.execute(_DEFERRED, {**_columns(deferred),
                                       "pauses": [f.pause for f in deferred]})
    failed = [f for f in marks.failures if f.pause is None]
    if failed:
        connection.execute(_FAILED, _columns(failed))


def _columns(failures: list[Failure]) -> dict[str, list]:
    return {"ids": [f.event.id for f in failures],
            "errors": [str(f.error)[:ERROR_CHARS] for f in failures],
            "codes": [f.error.code or f.error.status for f in failures]}
