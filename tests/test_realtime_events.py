"""Events recorded with each change and published to Ably after commit."""

import uuid

from sqlalchemy import func, select

from ticketing.auth import SYSTEM
from ticketing.models import Event
from ticketing.services import tickets as ticket_service

from .conftest import ably_settings

TICKETS, AGENTS = "tickets-updates", "agents-updates"


def test_ticket_lifecycle_events_and_payload(live, fake_ably):
    agent = live.post("/api/agents", json={"name": "Ada", "email": "ada@example.com"}).json["data"]
    ticket = live.post("/api/tickets", json={"title": "Printer", "description": "On fire",
                                             "priority": "high"}).json["data"]
    path = f"/api/tickets/{ticket['id']}"
    live.patch(path, json={"status": "in_progress", "assigned_to": agent["id"]})
    live.patch(path, json={"status": "in_progress"})  # changes nothing: no event
    updated = live.patch(path, json={"priority": "urgent"}).json["data"]
    live.delete(path)

    messages = fake_ably.wait_for(TICKETS, 4)
    assert [m["name"] for m in messages] == ["ticket_created", "ticket_updated",
                                             "ticket_updated", "ticket_deleted"]
    created, assigned, reprioritised, deleted = (m["data"] for m in messages)
    assert created["ticketId"] == ticket["id"] and created["status"] == "open"
    assert created["ticket"] == ticket
    assert created["changes"] == {} and created["status_changed"] is False
    assert assigned["changes"] == {"status": {"from": "open", "to": "in_progress"},
                                   "assigned_to": {"from": None, "to": agent["id"]}}
    assert assigned["status_changed"] is True and assigned["previous_status"] == "open"
    assert reprioritised["status_changed"] is False
    assert reprioritised["previous_status"] is None
    assert reprioritised["ticket"] == updated
    assert deleted["ticket"] == updated  # the ticket as it was before the delete
    assert [d["version"] for d in (created, assigned, reprioritised, deleted)] == [1, 2, 3, 4]
    event_ids = [message["data"]["event_id"] for message in messages]
    for message in messages:
        # Ably's id for a message of a multi-message publish: <first event's id>:<index>.
        base, _, index = message["id"].rpartition(":")
        assert event_ids[event_ids.index(base) + int(index)] == message["data"]["event_id"]
        uuid.UUID(message["data"]["event_id"])
        assert message["data"]["event"] == message["name"]
        assert message["data"]["occurred_at"].endswith("+00:00")
        assert message["data"]["actor"] == ticket["created_by"]  # the suite's admin API key
    assert ticket["created_by"]["type"] == "api_key"
    assert fake_ably.published(AGENTS)[0]["name"] == "agent_created"


def test_agent_events_and_unassigned_tickets(live, fake_ably):
    agent = live.post("/api/agents", json={"name": "Ada", "email": "ada@example.com"}).json["data"]
    owned = [live.post("/api/tickets", json={"title": f"t{i}", "description": "d",
                                             "assigned_to": agent["id"]}).json["data"]
             for i in range(2)]
    live.patch(f"/api/agents/{agent['id']}", json={"name": "Ada L."})
    live.delete(f"/api/agents/{agent['id']}")

    agent_messages = fake_ably.wait_for(AGENTS, 3)
    assert [m["name"] for m in agent_messages] == ["agent_created", "agent_updated",
                                                   "agent_deleted"]
    assert agent_messages[1]["data"]["changes"] == {"name": {"from": "Ada", "to": "Ada L."}}
    assert agent_messages[2]["data"]["agentId"] == agent["id"]
    assert agent_messages[2]["data"]["version"] == 3
    # Order is kept per ticket only: the two tickets' events may interleave.
    ticket_messages = [m for m in fake_ably.wait_for(TICKETS, 4) if m["name"] == "ticket_updated"]
    assert sorted(m["data"]["ticketId"] for m in ticket_messages) == sorted(t["id"] for t in owned)
    for message in ticket_messages:
        assert message["data"]["changes"] == {"assigned_to": {"from": agent["id"], "to": None}}
        assert message["data"]["version"] == 2


def test_failed_write_records_and_publishes_nothing(live, fake_ably, committing_app):
    live.post("/api/agents", json={"name": "Ada", "email": "ada@example.com"})
    response = live.post("/api/agents", json={"name": "Other", "email": "ADA@example.com"})
    assert response.status_code == 409
    fake_ably.wait_for(AGENTS, 1)
    app = committing_app()
    with app.app_context():
        session = app.extensions["db"].new_session()
        assert session.scalar(select(func.count()).select_from(Event)) == 1
        session.close()


def test_rolled_back_transaction_publishes_nothing(committing_app, fake_ably):
    app = committing_app(**ably_settings(fake_ably, REALTIME_RELAY="thread"))
    state = app.extensions["realtime"]
    with app.app_context():
        session = app.extensions["db"].new_session()
        ticket_service.create_ticket(session, {"title": "t", "description": "d"}, SYSTEM)
        assert session.scalar(select(func.count()).select_from(Event)) == 1
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Event)) == 0
        session.close()
    state.relay.drain()
    assert fake_ably.published(TICKETS) == []
    assert fake_ably.publish_requests == 0


def test_without_ably_key_events_are_recorded_and_logged(committing_app, caplog):
    app = committing_app(REALTIME_RELAY="off")
    client = app.test_client()
    ticket = client.post("/api/tickets", json={"title": "t", "description": "d"}).json["data"]
    # At debug level: at info, a line per event would double a write's log volume.
    with caplog.at_level("DEBUG", logger="ticketing.realtime.publisher"):
        app.extensions["realtime"].relay.drain()
    assert "ticket_created" in caplog.text and "no ABLY_API_KEY" in caplog.text
    assert all(record.levelname == "DEBUG" for record in caplog.records
               if record.name == "ticketing.realtime.publisher")
    feed = client.get("/api/events").json["data"]["records"]
    assert [event["ticketId"] for event in feed] == [ticket["id"]]


def test_ticket_history_oldest_first_and_after_delete(committing_app):
    client = committing_app().test_client()
    ticket = client.post("/api/tickets", json={"title": "t", "description": "d"}).json["data"]
    path = f"/api/tickets/{ticket['id']}"
    for status in ("in_progress", "resolved", "closed"):
        client.patch(path, json={"status": status})
    client.delete(path)
    response = client.get(f"{path}/events")
    assert response.status_code == 200
    events = response.json["data"]["records"]
    assert [e["event"] for e in events] == ["ticket_created"] + ["ticket_updated"] * 3 + [
        "ticket_deleted"]
    assert [e["version"] for e in events] == [1, 2, 3, 4, 5]
    page = client.get(f"{path}/events?after=2&limit=2").json["data"]
    assert [e["version"] for e in page["records"]] == [3, 4]
    assert page["pagination"]["next_cursor"] == "4"
    rest = client.get(f"{path}/events?after=4&limit=2").json["data"]
    assert [e["version"] for e in rest["records"]] == [5]
    assert rest["pagination"]["next_cursor"] is None
    exactly = client.get(f"{path}/events?after=3&limit=2").json["data"]  # 2 left, limit 2
    assert [e["version"] for e in exactly["records"]] == [4, 5]
    assert exactly["pagination"]["next_cursor"] is None
    assert client.get(f"{path}/events?after=9").json["data"]["records"] == []
    assert client.get("/api/tickets/nope/events").status_code == 404
    for query in ("", "?after=5"):
        missing = client.get(f"/api/tickets/{uuid.uuid4()}/events{query}")
        assert missing.status_code == 404 and missing.json["message"] == "Ticket not found"


def test_realtime_status_command_reports_the_backlog(committing_app, fake_ably):
    import json

    app = committing_app(**ably_settings(fake_ably, REALTIME_RELAY="off"))
    client = app.test_client()
    for number in range(3):
        client.post("/api/tickets", json={"title": f"t{number}", "description": "d"})
    fake_ably.fail_with(503)
    assert app.extensions["realtime"].relay.publish_pending() == 0
    result = app.test_cli_runner().invoke(args=["realtime", "status"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["pending"] == 3 and report["failed"] == 0 and report["waiting_retry"] == 3
    assert report["oldest_pending_age_seconds"] >= 0
    assert "503" in report["last_error"]
    assert report["publisher"] == "AblyPublisher"


def test_ticket_history_pages_stop_at_the_size_bound(committing_app):
    from ticketing.realtime.feed import MAX_PAGE_BYTES

    client = committing_app().test_client()
    emoji = "\U0001F600" * 20_000
    ticket = client.post("/api/tickets", json={"title": "t", "description": emoji}).json["data"]
    path = f"/api/tickets/{ticket['id']}"
    for number in range(6):
        client.patch(path, json={"description": emoji[:-1] + str(number)})
    versions, after = [], 0
    while after is not None:
        response = client.get(f"{path}/events?limit=1000&after={after}")
        assert len(response.get_data()) <= MAX_PAGE_BYTES + 720_000
        page = response.json["data"]
        versions += [e["version"] for e in page["records"]]
        after = page["pagination"]["next_cursor"]
    assert versions == list(range(1, 8))


def test_a_backlog_of_large_events_is_split_within_ablys_publish_limit(committing_app,
                                                                      fake_ably):
    """One resource's events go as one publish only while they fit 64 KiB together."""
    writer = committing_app(**ably_settings(fake_ably, REALTIME_RELAY="off")).test_client()
    ticket = writer.post("/api/tickets", json={"title": "Long", "description": "x" * 15_000})
    path = f"/api/tickets/{ticket.json['data']['id']}"
    for number in range(6):  # each event carries the 15 KB description in its snapshot
        assert writer.patch(path, json={"title": f"Long {number}"}).status_code == 200
    relay_app = committing_app(**ably_settings(fake_ably, REALTIME_RELAY="thread"))
    relay_app.extensions["realtime"].wake()
    messages = fake_ably.wait_for(TICKETS, 7, timeout=10)
    assert [m["data"]["version"] for m in messages] == list(range(1, 8))
    with relay_app.extensions["db"].engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Event)
                                 .where(Event.failed_at.is_not(None))) == 0
