"""Helpers for tests whose requests really run at once, in transactions of their own."""

import time

from sqlalchemy import text


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
