"""Delivery guarantees: Ably outages, relays that die, several relays at once."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from ticketing.realtime import batching
from ticketing.realtime.publisher import make_publisher
from ticketing.realtime.relay import Relay, RelaySettings

from .conftest import ably_settings

TICKETS = "tickets-updates"
ROOT = Path(__file__).resolve().parent.parent


def write_burst(client, tickets: int, updates: int) -> int:
    """Create `tickets` tickets and update each `updates` times; return the events made."""
    ids = [client.post("/api/tickets", json={"title": f"t{n}", "description": "d"}).json[
        "data"]["id"] for n in range(tickets)]
    for round_number in range(updates):
        for ticket_id in ids:
            response = client.patch(f"/api/tickets/{ticket_id}",
                                    json={"title": f"round {round_number}"})
            assert response.status_code == 200
    return tickets * (updates + 1)


def assert_exactly_once_in_order(messages: list[dict], expected: int) -> None:
    assert len(messages) == expected
    assert len({m["id"] for m in messages}) == expected
    versions = defaultdict(list)
    for message in messages:
        versions[message["data"]["ticketId"]].append(message["data"]["version"])
    for seen in versions.values():
        assert seen == list(range(1, len(seen) + 1))


def break_ably(server, how: str) -> None:
    if how == "5xx":
        server.fail_with(503)
    elif how == "hang":
        server.hang(30)
    else:
        server.refuse()


def mend_ably(server, how: str) -> None:
    if how == "refuse":
        server.start()
    else:
        server.recover()


@pytest.mark.parametrize("how", ["5xx", "hang", "refuse"])
def test_outage_during_burst_then_backlog_drains(committing_app, fake_ably, how):
    app = committing_app(**ably_settings(fake_ably, REALTIME_RELAY="thread", ABLY_TIMEOUT=0.3))
    client = app.test_client()
    break_ably(fake_ably, how)
    expected = write_burst(client, tickets=4, updates=5)  # every write answered 200/201
    time.sleep(0.5)
    assert fake_ably.published(TICKETS) == []
    status = client.application.extensions["realtime"].relay.stats
    assert status.failures >= 1 and status.last_error
    mend_ably(fake_ably, how)
    messages = fake_ably.wait_for(TICKETS, expected, timeout=15)
    assert_exactly_once_in_order(messages, expected)
    assert fake_ably.duplicates == 0


def flask_env(database_url: str, server, **extra) -> dict:
    settings = ably_settings(server)
    env = {**os.environ, "FLASK_APP": "ticketing:create_app", "DATABASE_URL": database_url,
           "REALTIME_RELAY": "off", "LOG_FORMAT": "text", **extra}
    env.update({key: str(value) for key, value in settings.items()})
    env["ABLY_TLS"] = "false"
    return env


def start_relay_process(env: dict) -> subprocess.Popen:
    flask = str(Path(sys.executable).with_name("flask"))
    return subprocess.Popen([flask, "realtime", "relay"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_relay_killed_between_commit_and_publish_delivers_later(
        committing_app, fake_ably, database_url):
    client = committing_app(**ably_settings(fake_ably, REALTIME_RELAY="off")).test_client()
    expected = write_burst(client, tickets=3, updates=2)
    assert fake_ably.published(TICKETS) == []  # committed, nobody has published yet

    fake_ably.hang(30)  # the first relay gets stuck inside its publish request...
    env = flask_env(database_url, fake_ably, ABLY_TIMEOUT="20")
    first = start_relay_process(env)
    deadline = time.monotonic() + 10
    while fake_ably.publish_requests == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.kill()  # ...and dies there, without marking anything
    first.wait(10)
    fake_ably.recover()

    second = start_relay_process(env)
    try:
        messages = fake_ably.wait_for(TICKETS, expected, timeout=15)
    finally:
        second.send_signal(signal.SIGTERM)
        output = second.communicate(timeout=10)[0]
    assert second.returncode == 0, output
    assert_exactly_once_in_order(messages, expected)


def test_commits_close_together_share_a_round(committing_app, fake_ably):
    """An idle relay publishes a commit at once; the commits that follow within the coalesce
    window go out together, in one round (one batch request)."""
    app = committing_app(**ably_settings(fake_ably, REALTIME_RELAY="thread",
                                         REALTIME_COALESCE_WINDOW=1.0,
                                         REALTIME_POLL_INTERVAL=30))
    client = app.test_client()
    began = time.monotonic()
    client.post("/api/tickets", json={"title": "first", "description": "d"})
    fake_ably.wait_for(TICKETS, 1, timeout=5)
    assert time.monotonic() - began < 0.9  # not held back by the window
    written = write_burst(client, tickets=3, updates=1)  # six commits, well within a second
    messages = fake_ably.wait_for(TICKETS, written + 1, timeout=10)
    assert time.monotonic() - began >= 1.0  # they waited for the window...
    assert fake_ably.batch_requests == 2  # ...and went out as one request
    assert_exactly_once_in_order(messages[1:], written)


class TimedPublisher:
    """Wraps a publisher and notes when each of its publish requests ran."""

    def __init__(self, inner, name: str, intervals: list) -> None:
        self.inner, self.name, self.intervals = inner, name, intervals

    def publish(self, messages):
        started = time.monotonic()
        try:
            return self.inner.publish(messages)
        finally:
            self.intervals.append((started, time.monotonic(), self.name))


def test_two_relays_at_once_publish_nothing_twice(committing_app, fake_ably):
    app = committing_app(**ably_settings(fake_ably, REALTIME_RELAY="off",
                                         REALTIME_BATCH_SIZE=10))
    expected = write_burst(app.test_client(), tickets=10, updates=9)
    fake_ably.delay(0.02)
    engine = app.extensions["db"].engine
    stop = threading.Event()
    intervals: list[tuple[float, float, str]] = []
    settings = RelaySettings(batch_size=10, poll_interval=0.01)
    relays = [Relay(engine, TimedPublisher(make_publisher(app.config), name, intervals),
                    app.extensions["realtime"].channels, settings)
              for name in ("first", "second")]
    threads = [threading.Thread(target=relay.run, args=(stop, threading.Event()))
               for relay in relays]
    for thread in threads:
        thread.start()
    try:
        messages = fake_ably.wait_for(TICKETS, expected, timeout=30)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert_exactly_once_in_order(messages, expected)
    assert fake_ably.duplicates == 0
    assert sum(relay.stats.published for relay in relays) == expected
    # Never a request of one relay while the other has one in flight.
    for start, end, name in intervals:
        for other_start, other_end, other_name in intervals:
            if other_name != name:
                assert other_end <= start or other_start >= end


class FailOnce:
    """Fails the `fail_at`-th publish request with `error`."""

    def __init__(self, inner, fail_at: int, error) -> None:
        self.inner, self.fail_at, self.error, self.calls = inner, fail_at, error, 0

    def publish(self, messages):
        self.calls += 1
        if self.calls == self.fail_at:
            raise self.error
        return self.inner.publish(messages)


def one_ticket_with_events(app, updates: int) -> None:
    client = app.test_client()
    ticket = client.post("/api/tickets", json={"title": "t", "description": "d"}).json["data"]
    for number in range(updates):
        client.patch(f"/api/tickets/{ticket['id']}", json={"title": f"v{number}"})


def test_a_failed_request_is_retried_in_order(committing_app, fake_ably):
    from ticketing.realtime.publisher import PublishError

    app = committing_app(**ably_settings(fake_ably, REALTIME_RELAY="off"))
    one_ticket_with_events(app, updates=3)
    state = app.extensions["realtime"]
    relay = Relay(app.extensions["db"].engine,
                  FailOnce(state.publisher, 1, PublishError("Ably 503", retryable=True)),
                  state.channels, RelaySettings(max_backoff=0.05))
    assert relay.publish_pending() == 0  # nothing settled: all four wait for a retry
    assert fake_ably.published(TICKETS) == []
    time.sleep(0.1)
    relay.drain()
    assert_exactly_once_in_order(fake_ably.published(TICKETS), 4)


def test_a_message_ably_refuses_for_good_is_set_aside(committing_app, fake_ably):
    app = committing_app(**ably_settings(fake_ably, REALTIME_RELAY="off"))
    one_ticket_with_events(app, updates=2)
    fake_ably.fail_with(400, times=1)  # e.g. a request Ably finds malformed
    app.extensions["realtime"].relay.drain()
    assert fake_ably.published(TICKETS) == []
    from ticketing.realtime.status import backlog

    with app.app_context():
        session = app.extensions["db"].new_session()
        report = backlog(session)
        session.close()
    assert report["pending"] == 0 and report["failed"] == 3


def relay_failing_once(committing_app, fake_ably) -> Relay:
    """Three tickets with two events each, and a relay whose first request raises KeyError."""
    app = committing_app(**ably_settings(fake_ably, REALTIME_RELAY="off"))
    for _ in range(3):
        one_ticket_with_events(app, updates=1)
    state = app.extensions["realtime"]
    return Relay(app.extensions["db"].engine, FailOnce(state.publisher, 1, KeyError("h2")),
                 state.channels, RelaySettings(concurrency=3, max_backoff=0.05))


def test_an_unexpected_publisher_error_is_retried(committing_app, fake_ably):
    relay = relay_failing_once(committing_app, fake_ably)
    # Six events fit in one request: it failed as a whole, and every ticket waits.
    assert relay.publish_pending() == 0
    assert fake_ably.published(TICKETS) == [] and "KeyError" in relay.stats.last_error
    time.sleep(0.1)
    relay.drain()
    assert_exactly_once_in_order(fake_ably.published(TICKETS), 6)
    assert fake_ably.duplicates == 0


def test_a_failed_lane_holds_back_only_its_own_resources(committing_app, fake_ably,
                                                         monkeypatch):
    monkeypatch.setattr(batching, "MAX_REQUEST_MESSAGES", 2)  # a round of 3 requests
    relay = relay_failing_once(committing_app, fake_ably)
    relay.publish_pending()
    # One lane failed; the other two tickets' events went out and were marked.
    assert len(fake_ably.published(TICKETS)) == 4
    assert "KeyError" in relay.stats.last_error
    time.sleep(0.1)
    relay.drain()
    assert_exactly_once_in_order(fake_ably.published(TICKETS), 6)
    assert fake_ably.duplicates == 0


def test_the_ably_client_is_switched_to_http1(committing_app, fake_ably):
    """One SDK client serves many sending threads, which HTTP/2 in httpcore cannot do."""
    publisher = committing_app(**ably_settings(fake_ably)).extensions["realtime"].publisher
    http = publisher.client.http
    httpx_client = next(value for name, value in vars(http).items() if name.endswith("__client"))
    assert httpx_client._transport._pool._http2 is False
    assert httpx_client._transport._pool._http1 is True
    message = {"id": "x:0", "name": "ticket_created", "data": {"a": 1}}
    assert publisher.publish([{"channel": TICKETS, "messages": [message]}]) == [None]
    assert fake_ably.published(TICKETS)[0]["data"] == {"a": 1}
