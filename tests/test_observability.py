"""Request ids, request logs, health checks and metrics (in-process)."""

import io
import json
import logging

import pytest

from ticketing import create_app
from ticketing.logformat import JsonFormatter
from ticketing.observability.logs import RequestIdFilter

from .conftest import TestConfig
from .dbutil import create_scratch_database, drop_database


def test_request_id_is_passed_through_or_generated(client):
    given = client.get("/api/tickets", headers={"X-Request-ID": "edge-42.a"})
    assert given.headers["X-Request-ID"] == "edge-42.a"
    made = client.get("/api/tickets")
    assert len(made.headers["X-Request-ID"]) == 32
    unsafe = client.get("/api/tickets", headers={"X-Request-ID": "bad id <script>"})
    assert len(unsafe.headers["X-Request-ID"]) == 32
    too_long = client.get("/api/tickets", headers={"X-Request-ID": "a" * 200})
    assert len(too_long.headers["X-Request-ID"]) == 32
    assert client.get("/nowhere").headers["X-Request-ID"]  # errors carry it too


def test_one_structured_log_line_per_request(client, caplog):
    with caplog.at_level(logging.INFO, logger="ticketing.request"):
        client.post("/api/tickets", json={"title": "t", "description": "d"},
                    headers={"X-Request-ID": "rid-1"}, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    records = [r for r in caplog.records if r.name == "ticketing.request"]
    assert len(records) == 1
    record = records[0]
    assert (record.method, record.path, record.status) == ("POST", "/api/tickets", 201)
    assert record.remote_addr == "10.1.2.3"
    assert record.duration_ms >= 0

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    handler.handle(record)
    line = json.loads(stream.getvalue())
    assert line["request_id"] == "rid-1"
    assert {"ts", "level", "logger", "message", "method", "path", "status", "duration_ms",
            "remote_addr"} <= set(line)


def test_healthz_needs_no_database(database_url):
    app = create_app(TestConfig(database_url, DATABASE_URL="postgresql://x@127.0.0.1:9/none"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_reports_each_check(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "migrations", "realtime"}
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]
    assert body["checks"]["realtime"]["pending"] == 0


def test_readyz_fails_when_database_is_down(database_url):
    app = create_app(TestConfig(database_url, DATABASE_URL="postgresql://x@127.0.0.1:9/none"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"] == {"database": {"ok": False, "error": "OperationalError"}}


def test_readyz_fails_when_backlog_is_too_long(committing_app):
    app = committing_app(READY_MAX_PENDING_EVENTS=2)
    client = app.test_client()
    for number in range(2):
        client.post("/api/tickets", json={"title": f"t{number}", "description": "d"})
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["realtime"]["pending"] == 2
    assert response.json["checks"]["realtime"]["ok"] is False


@pytest.fixture
def behind_database_url():
    url = create_scratch_database("ticketing_behind")
    yield url
    drop_database(url)


def test_readyz_fails_when_migrations_are_behind(behind_database_url):
    from alembic import command

    from ticketing.cli import alembic_config

    app = create_app(TestConfig(behind_database_url))
    command.upgrade(alembic_config(app), "0001")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    migrations = response.json["checks"]["migrations"]
    assert migrations["ok"] is False and migrations["current"] == "0001"
    app.extensions["db"].dispose()


def test_metrics_count_requests_by_route_and_status(client):
    client.get("/api/tickets")
    client.get("/api/tickets/nope")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'http_requests_total{endpoint="/api/tickets",method="GET",status="200"}' in text
    assert ('http_requests_total{endpoint="/api/tickets/<ticket_id>",method="GET",'
            'status="404"}') in text
    assert "http_request_duration_seconds_bucket" in text
    assert 'db_pool_connections{state="checked_out"}' in text
    assert "realtime_events_pending 0.0" in text
    assert "realtime_publish_failures_total" in text


def test_readyz_with_a_credential_from_afar_while_the_database_is_down(database_url):
    app = create_app(TestConfig(database_url, DATABASE_URL="postgresql://x@127.0.0.1:9/none"))
    response = app.test_client().get("/readyz", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 503
    assert response.json == {"status": "unavailable"}  # the key cannot be checked: no details
