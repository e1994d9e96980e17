"""One refused channel or resource delays only itself; retries are per event and bounded."""

import json
import time

import pytest
from sqlalchemy import func, select

from ticketing.models import Event
from ticketing.realtime.relay import Relay, RelaySettings

from .conftest import ably_settings

TICKETS, AGENTS = "tickets-updates", "agents-updates"


def make_agents(client, count: int) -> list[dict]:
    return [client.post("/api/agents", json={"name": f"A{n}", "email": f"a{n}@example.com"})
            .json["data"] for n in range(count)]


def make_tickets(client, count: int) -> list[dict]:
    return [client.post("/api/tickets", json={"title": f"t{n}", "description": "d"})
            .json["data"] for n in range(count)]


def events(app) -> list[Event]:
    with app.app_context():
        session = app.extensions["db"].new_session()
        try:
            return session.scalars(select(Event).order_by(Event.id)).all()
        finally:
            session.close()


def relay_for(app, **settings) -> Relay:
    state = app.extensions["realtime"]
    return Relay(app.extensions["db"].engine, state.publisher, state.channels,
                 RelaySettings(**settings))


def test_a_refused_channel_does_not_stop_the_others(committing_app, fake_ably):
    """The probe: three agent events refused with 401, a batch of 3; tickets still go out."""
    app = committing_app(**ably_settings(fake_ably))
    client = app.test_client()
    make_agents(client, 3)
    tickets = make_tickets(client, 5)
    fake_ably.fail_channel(AGENTS, 401, 40160)
    relay = relay_for(app, batch_size=3, max_backoff=60)
    for _ in range(5):
        relay.publish_pending()
    assert sorted(m["data"]["ticketId"] for m in fake_ably.published(TICKETS)) == sorted(
        t["id"] for t in tickets)
    agents = [event for event in events(app) if event.resource_type == "agent"]
    assert all(e.published_at is None and e.failed_at is None and e.attempts == 1
               and e.next_attempt_at is not None and e.last_error_code == 40160 for e in agents)
    assert relay.stats.config_error and "40160" in relay.stats.config_error


def test_a_key_that_may_not_publish_is_a_configuration_error(committing_app, fake_ably):
    app = committing_app(**ably_settings(fake_ably))
    client = app.test_client()
    make_agents(client, 1)
    fake_ably.fail_channel(AGENTS, 401, 40160)
    relay_for(app).publish_pending()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    realtime = ready.json["checks"]["realtime"]
    assert realtime["ok"] is False and "40160" in realtime["config_error"]
    assert "realtime_config_error 1.0" in client.get("/metrics").get_data(as_text=True)
    fake_ably.recover()
    with app.app_context():
        session = app.extensions["db"].new_session()
        session.execute(Event.__table__.update().values(next_attempt_at=None))
        session.commit()
        session.close()
    relay_for(app).publish_pending()
    assert client.get("/readyz").status_code == 200
    assert "realtime_config_error 0.0" in client.get("/metrics").get_data(as_text=True)


def test_one_resource_waits_behind_its_failed_event_in_order(committing_app, fake_ably):
    app = committing_app(**ably_settings(fake_ably))
    client = app.test_client()
    [ticket] = make_tickets(client, 1)
    for number in range(3):
        client.patch(f"/api/tickets/{ticket['id']}", json={"title": f"v{number}"})
    fake_ably.fail_channel(TICKETS, 503, 50000, times=2)
    relay = relay_for(app, max_backoff=0.05)
    deadline = time.monotonic() + 10
    while len(fake_ably.published(TICKETS)) < 4 and time.monotonic() < deadline:
        relay.publish_pending()
        time.sleep(0.02)
    assert [m["data"]["version"] for m in fake_ably.published(TICKETS)] == [1, 2, 3, 4]
    assert fake_ably.duplicates == 0


def test_retries_are_bounded_then_failed_counted_and_requeued(committing_app, fake_ably):
    app = committing_app(**ably_settings(fake_ably))
    client = app.test_client()
    agent = make_agents(client, 1)[0]
    client.patch(f"/api/agents/{agent['id']}", json={"name": "B"})
    fake_ably.fail_channel(AGENTS, 503, 50000)
    relay = relay_for(app, max_attempts=3, max_backoff=0.01)
    for _ in range(20):
        relay.publish_pending()
        time.sleep(0.02)
    stored = events(app)
    assert [e.attempts for e in stored] == [3, 3]  # the first gave up, then the second
    assert all(e.failed_at is not None and "503" in e.last_error for e in stored)
    runner = app.test_cli_runner()
    report = json.loads(runner.invoke(args=["realtime", "status"]).output)
    assert report["failed"] == 2 and report["pending"] == 0
    assert [e["event"] for e in report["recent_failed"]] == ["agent_updated", "agent_created"]
    assert "realtime_events_failed 2.0" in client.get("/metrics").get_data(as_text=True)

    fake_ably.recover()
    result = runner.invoke(args=["realtime", "retry", "--event", str(stored[0].event_id)])
    assert result.exit_code == 0 and "re-queued 1" in result.output
    relay.drain()
    assert [m["name"] for m in fake_ably.published(AGENTS)] == ["agent_created"]
    result = runner.invoke(args=["realtime", "retry", "--resource", f"agent:{agent['id']}"])
    assert "re-queued 1" in result.output
    relay.drain()
    assert [m["data"]["version"] for m in fake_ably.published(AGENTS)] == [1, 2]


def test_retry_command_needs_a_selection_and_checks_it(committing_app):
    runner = committing_app().test_cli_runner()
    assert runner.invoke(args=["realtime", "retry"]).exit_code != 0
    bad = runner.invoke(args=["realtime", "retry", "--resource", "ticket:nope"])
    assert bad.exit_code != 0 and "TYPE:UUID" in bad.output
    assert "re-queued 0" in runner.invoke(args=["realtime", "retry", "--all"]).output


def test_an_old_event_gives_up_by_age(committing_app, fake_ably):
    app = committing_app(**ably_settings(fake_ably))
    make_tickets(app.test_client(), 1)
    fake_ably.fail_with(503)
    time.sleep(1.1)
    relay_for(app, max_event_age=1).publish_pending()
    [event] = events(app)
    assert event.failed_at is not None and event.attempts == 1


def test_429_waits_as_long_as_ably_asks(committing_app, fake_ably):
    app = committing_app(**ably_settings(fake_ably))
    make_tickets(app.test_client(), 1)
    fake_ably.fail_with(429, 42910, times=1, retry_after=2)
    relay = relay_for(app, max_backoff=0.01)
    relay.publish_pending()
    [event] = events(app)
    wait = (event.next_attempt_at - time_of_db(app)).total_seconds()
    assert 1.5 < wait <= 2.1
    relay.publish_pending()
    assert fake_ably.published(TICKETS) == []  # not due yet


def time_of_db(app):
    with app.app_context():
        session = app.extensions["db"].new_session()
        try:
            return session.scalar(select(func.clock_timestamp()))
        finally:
            session.close()


def test_partial_batch_failure_refuses_one_message_for_good(committing_app, fake_ably):
    app = committing_app(**ably_settings(fake_ably))
    client = app.test_client()
    make_tickets(client, 2)
    make_agents(client, 1)
    fake_ably.fail_channel(AGENTS, 400, 40013, times=1)  # e.g. a message Ably finds invalid
    relay = relay_for(app)
    assert relay.publish_pending() == 3  # two published, one failed for good
    assert len(fake_ably.published(TICKETS)) == 2 and fake_ably.published(AGENTS) == []
    assert [e.failed_at is not None for e in events(app)] == [False, False, True]


def test_a_failed_round_does_not_delay_new_commits(committing_app, fake_ably):
    """The thread relay used to back off for up to 30 s, ignoring commit wake-ups."""
    app = committing_app(**ably_settings(fake_ably, REALTIME_RELAY="thread",
                                         REALTIME_POLL_INTERVAL=30, REALTIME_MAX_BACKOFF=30))
    client = app.test_client()
    fake_ably.fail_channel(AGENTS, 401, 40160)
    make_agents(client, 2)
    time.sleep(0.3)  # the relay has failed on them by now
    began = time.monotonic()
    make_tickets(client, 1)
    fake_ably.wait_for(TICKETS, 1, timeout=3)
    assert time.monotonic() - began < 3


def test_an_expired_token_is_renewed_and_the_publish_retried(committing_app, fake_ably):
    """The batch request goes through rest.request, which does not renew tokens by itself."""
    app = committing_app(**ably_settings(fake_ably))
    client = app.test_client()
    make_tickets(client, 1)
    relay = relay_for(app)
    relay.publish_pending()
    fake_ably.expire_tokens()
    make_tickets(client, 1)
    assert relay.publish_pending() == 1
    assert len(fake_ably.published(TICKETS)) == 2
    assert sum(1 for entry in fake_ably.token_requests if entry["accepted"]) == 2


@pytest.mark.parametrize("code, expected", [(40160, True), (40100, True), (40300, True),
                                            (401, True), (403, True), (40142, False),
                                            (40140, False), (50000, False), (429, False),
                                            (None, False)])
def test_one_rule_tells_configuration_errors(code, expected):
    from ticketing.realtime.publisher import PublishError, is_config_error

    assert is_config_error(code) is expected
    assert PublishError("x", status=401, code=40142).config_error is False  # expired token
