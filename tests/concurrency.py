"""Helpers for tests whose requests really run at once, in transactions of their own."""

import threading
import time
from collections.abc import Callable

from sqlalchemy import create_engine, text


def wait_for_lock_waiters(connection, count: int, timeout: float = 20) -> None:
    """Return once `count` sessions of this database wait for a lock (e.g. a held row lock)."""
    deadline = time.monotonic() + timeout
    query = text("SELECT count(*) FROM pg_stat_activity "
                 "WHERE wait_event_type = 'Lock' AND datname = current_database()")
    while time.monotonic() < deadline:
        connection.execute(text("SELECT pg_stat_clear_snapshot()"))
        if connection.execute(query).scalar() >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} requests never waited for the ticket's lock")


def run_behind_ticket_lock(database_url: str, ticket_id: str,
                           requests: list[Callable[[], None]]) -> None:
    """Hold the ticket's row lock until every request waits for it, then let them all go."""
    engine = create_engine(database_url)
    with engine.connect() as blocker:
        blocker.execute(text("SELECT 1 FROM tickets WHERE id = :id FOR UPDATE"),
                        {"id": ticket_id})
        threads = [threading.Thread(target=request) for request in requests]
        for thread in threads:
            thread.start()
        wait_for_lock_waiters(blocker, len(threads))
        blocker.rollback()
    for thread in threads:
        thread.join(timeout=30)
    engine.dispose()
