"""Real gunicorn: metrics across workers, and a database that goes away and comes back."""

import re
import time

import httpx
import pytest
from alembic import command

from ticketing import create_app
from ticketing.auth import Role
from ticketing.cli import alembic_config
from ticketing.devdb import EmbeddedPostgres

from .conftest import KEYS, TestConfig, empty_tables, issue_keys
from .serving import Gunicorn, free_port, wait_until

pytestmark = pytest.mark.slow


def admin_headers() -> dict:
    return {"Authorization": f"Bearer {KEYS[Role.ADMIN]}"}


def metric_total(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_add_up_across_workers(app, database_url):
    with Gunicorn(database_url, workers=3) as server, httpx.Client(base_url=server.url) as http:
        for _ in range(60):
            # New connections spread requests over the workers.
            response = httpx.get(f"{server.url}/api/tickets?per_page=1", headers=admin_headers())
            assert response.status_code == 200
        text = http.get("/metrics").text
    assert metric_total(text, "http_requests_total", endpoint="/api/tickets", status="200") == 60
    count = metric_total(text, "http_request_duration_seconds_count", endpoint="/api/tickets")
    assert count == 60
    assert re.search(r'^db_pool_connections\{state="idle"\} [1-9]', text, re.M)
    empty_tables(database_url)


@pytest.fixture
def own_postgres(tmp_path):
    """A PostgreSQL server of this test's own, so it can be stopped and started."""
    server = EmbeddedPostgres(tmp_path / "pgdata", free_port())
    server.start()
    url = server.ensure_database("ticketing")
    app = create_app(TestConfig(url))
    command.upgrade(alembic_config(app), "head")
    key = issue_keys(app)[Role.ADMIN]
    app.extensions["db"].dispose()
    yield server, url, {"Authorization": f"Bearer {key}"}
    server.stop()


def timed_get(url: str, headers: dict) -> tuple[int, float, dict]:
    started = time.monotonic()
    response = httpx.get(url, timeout=15, headers=headers)
    return response.status_code, time.monotonic() - started, response.json()


def test_database_outage_fails_fast_and_recovers_without_restart(own_postgres):
    postgres, url, auth = own_postgres
    with Gunicorn(url, workers=2, DB_CONNECT_TIMEOUT="2") as server:
        created = httpx.post(f"{server.url}/api/tickets", headers=auth,
                             json={"title": "before", "description": "outage"})
        assert created.status_code == 201
        ticket_id = created.json()["data"]["id"]

        postgres.stop()
        for _ in range(6):
            status, elapsed, body = timed_get(f"{server.url}/api/tickets/{ticket_id}", auth)
            assert status == 503 and elapsed < 5
            assert body == {"status": False, "message": "Database unavailable, try again shortly",
                            "errors": {}}
        assert httpx.get(f"{server.url}/readyz").status_code == 503
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        down = httpx.post(f"{server.url}/api/tickets", headers=auth,
                          json={"title": "t", "description": "d"})
        assert down.status_code == 503

        postgres.start()
        wait_until(lambda: httpx.get(f"{server.url}/readyz").status_code == 200, timeout=30)
        for _ in range(6):  # every worker's pool has recovered
            response = httpx.get(f"{server.url}/api/tickets/{ticket_id}", headers=auth)
            assert response.status_code == 200
        after = httpx.post(f"{server.url}/api/tickets", headers=auth,
                           json={"title": "after", "description": "d"})
        assert after.status_code == 201
        listed = httpx.get(f"{server.url}/api/tickets", headers=auth).json()
        titles = [t["title"] for t in listed["data"]["records"]]
        assert sorted(titles) == ["after", "before"]  # nothing lost, nothing half-written


def test_the_access_log_is_written_only_when_asked_for(database_url):
    # Under LOG_FORMAT=json (the default) the access lines go to stderr with the others.
    with Gunicorn(database_url, workers=1, GUNICORN_ACCESS_LOG="-") as server:
        response = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "req-42"})
        assert response.status_code == 200
        wait_until(lambda: "request_id=req-42" in server.output(), timeout=5)
        assert 'GET /healthz HTTP/1.1' in server.output()
    with Gunicorn(database_url, workers=1) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        time.sleep(0.5)
        assert "GET /healthz" not in server.output()
