"""When a subscriber can see an event twice, and a worker that exits mid-round.

Ably de-duplicates a message id for about two minutes only. The relay marks events published in
the transaction of the round that sent them; if Ably took a message and the mark was lost (the
worker was killed, the database connection dropped), the next round sends it again under the
same id. Within the window Ably drops the repeat; after it, subscribers get the message twice
(same `event_id` and `version`, which is how they recognise it).
"""

import os
import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import create_engine, text

from .conftest import ably_settings
from .test_realtime_delivery import ROOT, flask_env, start_relay_process, write_burst

TICKETS = "tickets-updates"


def pending(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.scalar(text(
                "SELECT count(*) FROM events WHERE published_at IS NULL AND failed_at IS NULL"))
    finally:
        engine.dispose()


def wait_until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.mark.parametrize("resent", ["within the window", "after the window"])
def test_relay_killed_after_ably_accepted_and_before_the_mark(
        committing_app, fake_ably, database_url, resent):
    fake_ably.dedup_window = 60.0 if resent == "within the window" else 1.0
    client = committing_app(**ably_settings(fake_ably, REALTIME_RELAY="off")).test_client()
    expected = write_burst(client, tickets=3, updates=1)

    fake_ably.hold_acks(30)  # Ably takes the messages; the relay never hears back...
    env = flask_env(database_url, fake_ably, ABLY_TIMEOUT="20")
    first = start_relay_process(env)
    wait_until(lambda: len(fake_ably.published(TICKETS)) == expected, 15)
    first.kill()  # ...and dies before marking them published
    first.wait(10)
    fake_ably.recover()
    assert pending(database_url) == expected

    if resent == "after the window":
        time.sleep(fake_ably.dedup_window + 0.1)
    second = start_relay_process(env)
    try:
        wait_until(lambda: pending(database_url) == 0, 15)
    finally:
        second.terminate()
        second.communicate(timeout=10)
    messages = fake_ably.published(TICKETS)
    if resent == "within the window":
        assert len(messages) == expected and fake_ably.duplicates == expected
    else:  # the only way a subscriber sees an event twice: same event_id, same version
        assert len(messages) == 2 * expected and fake_ably.duplicates == 0
        first_time, second_time = messages[:expected], messages[expected:]
        assert sorted((m["id"], m["data"]["event_id"], m["data"]["version"])
                      for m in first_time) == sorted(
            (m["id"], m["data"]["event_id"], m["data"]["version"]) for m in second_time)


WORKER = textwrap.dedent("""
    import sys, time
    from ticketing import create_app
    from ticketing.auth import SYSTEM
    from ticketing.services.tickets import create_ticket
    app = create_app()
    with app.app_context():
        for n in range(5):  # what five POSTs do: one commit each, which wakes the relay
            session = app.extensions["db"].new_session()
            create_ticket(session, {"title": f"t{n}", "description": "d"}, SYSTEM)
            session.commit()
            session.close()
    time.sleep(0.2)  # the relay has sent its round; Ably answers after 0.7 s
    sys.exit(0)      # what a recycled gunicorn worker does
""")


def test_an_exiting_worker_lets_its_relay_finish_the_round(committing_app, fake_ably,
                                                           database_url):
    committing_app()  # empties the tables afterwards
    fake_ably.delay(0.7)
    env = flask_env(database_url, fake_ably, REALTIME_RELAY="thread")  # ABLY_TIMEOUT=1
    started = time.monotonic()
    worker = subprocess.run([sys.executable, "-c", WORKER], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert worker.returncode == 0, worker.stderr
    assert time.monotonic() - started >= 0.9  # it waited for Ably's answer
    # What Ably took was recorded as published; the rest is left pending for another relay.
    taken = len(fake_ably.published(TICKETS))
    assert taken >= 1
    assert pending(database_url) == 5 - taken, worker.stderr[-3000:]


BUSY_WORKER = textwrap.dedent("""
    import threading, time
    from ticketing import create_app
    from ticketing.auth import SYSTEM
    from ticketing.services.tickets import create_ticket
    app = create_app()

    def keep_writing():  # a request thread still at work while the worker exits
        with app.app_context():
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                session = app.extensions["db"].new_session()
                for n in range(3):  # three tickets per commit: rounds of several resources
                    create_ticket(session, {"title": f"t{n}", "description": "d"}, SYSTEM)
                session.commit()
                session.close()
                time.sleep(0.005)

    threading.Thread(target=keep_writing).start()  # not a daemon: the exit waits for it
""")  # the main thread ends at once: the interpreter starts exiting, the writes go on


def test_a_worker_exiting_while_commits_go_on_ends_its_relay_quietly(committing_app,
                                                                     database_url):
    """Rounds that start during the interpreter's exit used to fail (an executor refuses new
    work once the exit began) and log a warning with a traceback."""
    committing_app()  # empties the tables afterwards
    env = {**os.environ, "DATABASE_URL": database_url, "REALTIME_RELAY": "thread",
           "LOG_FORMAT": "text", "LOG_LEVEL": "warning"}
    worker = subprocess.run([sys.executable, "-c", BUSY_WORKER], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert worker.returncode == 0, worker.stderr[-3000:]
    assert worker.stderr == ""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            written, published, failed = connection.execute(text(
                "SELECT count(*), count(published_at), count(failed_at) FROM events")).one()
    finally:
        engine.dispose()
    assert written >= 30 and published >= 1 and failed == 0
