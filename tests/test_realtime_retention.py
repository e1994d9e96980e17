"""Old events are pruned in small batches; no relay, health or metrics query scans the table."""

import json

import pytest
from alembic import command
from sqlalchemy import event as sa_event
from sqlalchemy import text

from ticketing import create_app
from ticketing.cli import alembic_config
from ticketing.realtime.feed import read_feed
from ticketing.realtime.retention import prune_batch
from ticketing.realtime.status import backlog

from .conftest import TestConfig
from .dbutil import create_scratch_database, drop_database


def execute(app, sql: str, **params):
    with app.extensions["db"].engine.begin() as connection:
        connection.execute(text("SET LOCAL statement_timeout = 0"))  # loading a million rows
        return connection.execute(text(sql), params)


def age_events(app, days: int, *, where: str = "true") -> None:
    execute(app, f"UPDATE events SET occurred_at = now() - make_interval(days => :days) "
                 f"WHERE {where}", days=days)


def test_prune_deletes_old_settled_events_from_the_start_of_the_feed(committing_app):
    app = committing_app()
    client = app.test_client()
    ids = [client.post("/api/tickets", json={"title": f"t{n}", "description": "d"})
           .json["data"]["id"] for n in range(5)]
    app.extensions["realtime"].relay.drain()  # positioned and published (logged)
    first_page = client.get("/api/events?limit=1").json["data"]["pagination"]["next_cursor"]
    age_events(app, 100)
    execute(app, "UPDATE events SET published_at = NULL WHERE position = 4")  # still pending
    result = app.test_cli_runner().invoke(args=["realtime", "prune"])
    assert result.exit_code == 0 and "deleted 3 event(s) older than 90 days" in result.output
    left = execute(app, "SELECT position FROM events ORDER BY position").scalars().all()
    assert left == [4, 5]  # stops at the pending one; never deletes the newest

    gone = client.get(f"/api/events?after={first_page}")
    assert gone.status_code == 410 and "retention" in gone.json["message"]
    assert [e["ticketId"] for e in client.get("/api/events").json["data"]["records"]] == ids[3:]


def test_a_cursor_just_before_the_oldest_kept_event_is_fine(committing_app):
    app = committing_app()
    client = app.test_client()
    for n in range(3):
        client.post("/api/tickets", json={"title": f"t{n}", "description": "d"})
    app.extensions["realtime"].relay.drain()
    cursor = client.get("/api/events?limit=1").json["data"]["pagination"]["next_cursor"]
    age_events(app, 100, where="position = 1")
    app.test_cli_runner().invoke(args=["realtime", "prune"])
    response = client.get(f"/api/events?after={cursor}")
    assert response.status_code == 200 and len(response.json["data"]["records"]) == 2


def test_the_relay_prunes_when_idle(committing_app):
    app = committing_app(EVENTS_RETENTION_DAYS=7)
    client = app.test_client()
    for n in range(3):
        client.post("/api/tickets", json={"title": f"t{n}", "description": "d"})
    relay = app.extensions["realtime"].relay
    relay.drain()
    age_events(app, 8)
    relay._last_prune = 0.0
    assert relay.publish_pending() == 0
    assert execute(app, "SELECT count(*) FROM events").scalar() == 1


# -- query plans at a million events ---------------------------------------------------------


@pytest.fixture(scope="module")
def million(request):
    url = create_scratch_database("ticketing_million")
    app = create_app(TestConfig(url))
    with app.app_context():
        command.upgrade(alembic_config(app), "head")
    execute(app, """
        INSERT INTO events (name, resource_type, resource_id, version, payload, position,
                            occurred_at, published_at)
        SELECT 'ticket_updated', 'ticket', gen_random_uuid(), 1, '{}'::jsonb, g,
               now() - make_interval(secs => 1000000 - g), now()
        FROM generate_series(1, 1000000) AS g""")
    execute(app, """
        UPDATE events SET published_at = NULL,
               next_attempt_at = CASE WHEN id % 2 = 0 THEN now() + interval '1 hour' END,
               failed_at = CASE WHEN id % 3 = 0 THEN now() END
        WHERE id > 999000""")
    execute(app, """
        INSERT INTO events (name, resource_type, resource_id, version, payload)
        SELECT 'ticket_created', 'ticket', gen_random_uuid(), 1, '{}'::jsonb
        FROM generate_series(1, 100)""")
    execute(app, "ANALYZE events")
    yield app
    app.extensions["db"].dispose()
    drop_database(url)


def captured_statements(app, work) -> list[tuple[str, object]]:
    engine, statements = app.extensions["db"].engine, []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    sa_event.listen(engine, "before_cursor_execute", capture)
    try:
        work()
    finally:
        sa_event.remove(engine, "before_cursor_execute", capture)
    return [(s, p) for s, p in statements if "events" in s]


def plans(app, statements) -> list[str]:
    found = []
    connection = app.extensions["db"].engine.raw_connection()
    try:
        cursor = connection.cursor()
        for statement, parameters in statements:
            cursor.execute("EXPLAIN " + statement, parameters)
            found.append("\n".join(row[0] for row in cursor.fetchall()))
        connection.rollback()
    finally:
        connection.close()
    return found


@pytest.mark.slow
def test_no_relay_health_metrics_or_feed_query_scans_the_table(million):
    app = million
    relay = app.extensions["realtime"].relay
    client = app.test_client()

    def work():
        relay._last_prune = 0.0
        with app.app_context():
            session = app.extensions["db"].new_session()
            backlog(session)
            read_feed(session, None, 10)
            prune_batch(session, 90)
            session.rollback()
            session.close()
        assert client.get("/readyz").status_code == 200
        client.get("/metrics")
        json.loads(app.test_cli_runner().invoke(args=["realtime", "status"]).output)
        relay.due_count()

    statements = captured_statements(app, work)
    assert len(statements) >= 15
    for (statement, _), plan in zip(statements, plans(app, statements), strict=True):
        assert "Seq Scan on events" not in plan, f"{statement}\n{plan}"
