"""Fixtures: one migrated scratch database per run, one rolled-back transaction per test."""

import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from ticketing import create_app
from ticketing.auth import SYSTEM, Role
from ticketing.cli import alembic_config
from ticketing.config import Config
from ticketing.services.api_keys import create_key

from .dbutil import create_scratch_database, drop_database

# One committed API key per role in the suite's database: role -> secret.
KEYS: dict[Role, str] = {}


class ApiClient(FlaskClient):
    """A test client that sends a credential: the admin key unless told otherwise."""

    def __init__(self, *args, credential: str | Role | None = Role.ADMIN, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(credential, Role):
            credential = KEYS.get(credential)
        if credential:
            self.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {credential}"


# Every app the tests make (including committing ones) calls the API as an admin by default.
Flask.test_client_class = ApiClient


def issue_keys(app) -> dict[Role, str]:
    with Session(app.extensions["db"].engine) as session:
        made = {role: create_key(session, {"name": f"test {role}", "role": role}, SYSTEM)[1]
                for role in Role}
        session.commit()
    return made


class TestConfig(Config):
    __test__ = False  # a settings class, not a test case

    TESTING = True

    def __init__(self, database_url: str, **overrides) -> None:
        super().__init__()
        self.DATABASE_URL = database_url
        self.MIGRATIONS_DATABASE_URL = None
        self.ABLY_API_KEY = None
        self.REALTIME_RELAY = "off"
        self.LOG_FORMAT = "text"
        # One app serves the whole suite; tests/test_rate_limits.py builds limited apps.
        self.RATE_LIMITS_ENABLED = False
        for key, value in overrides.items():
            setattr(self, key, value)


@pytest.fixture(scope="session")
def database_url():
    url = create_scratch_database()
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def app(database_url):
    app = create_app(TestConfig(database_url))
    with app.app_context():
        # Every run builds the schema through the real migrations and checks they match models.
        command.upgrade(alembic_config(app), "head")
        command.check(alembic_config(app))
    KEYS.update(issue_keys(app))
    yield app
    app.extensions["db"].dispose()


@contextlib.contextmanager
def rolled_back(app):
    """Run the app's sessions in one connection whose transaction is rolled back at the end."""
    state = app.extensions["db"]
    with state.engine.connect() as connection:
        transaction = connection.begin()
        state.bind(connection)
        yield connection
        transaction.rollback()
        state.unbind()


@pytest.fixture
def connection(app):
    """A connection whose outer transaction is rolled back after the test."""
    with rolled_back(app) as connection:
        yield connection


@pytest.fixture
def client(app, connection):
    return app.test_client()


@pytest.fixture
def client_as(app, connection):
    """`client_as(Role.VIEWER)`; `client_as(None)` sends no credential."""

    def make(role: Role | None) -> ApiClient:
        return app.test_client(credential=role)

    return make


@pytest.fixture
def make_agent(client):
    counter = iter(range(1, 1_000_000))

    def make(**overrides):
        number = next(counter)
        body = {"name": f"Agent {number}", "email": f"agent{number}@example.com", **overrides}
        response = client.post("/api/agents", json=body)
        assert response.status_code == 201, response.json
        return response.json["data"]

    return make


@pytest.fixture
def make_ticket(client):
    def make(**overrides):
        body = {"title": "Printer on fire", "description": "Smoke everywhere", **overrides}
        response = client.post("/api/tickets", json=body)
        assert response.status_code == 201, response.json
        return response.json["data"]

    return make


@pytest.fixture
def post_comment(client):
    def post(ticket_id, body="Have you tried turning it off and on?", **fields):
        response = client.post(f"/api/tickets/{ticket_id}/comments", json={"body": body, **fields})
        assert response.status_code == 201, response.json
        return response.json["data"]

    return post


# Where dated_ticket's times start.
DATED_BASE = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def dated_ticket(make_ticket, connection):
    """A ticket created `days` after DATED_BASE (the test transaction would give all one time)."""

    def make(days: float, **fields):
        ticket = make_ticket(**fields)
        moment = DATED_BASE + timedelta(days=days)
        connection.execute(text("UPDATE tickets SET created_at = :t, updated_at = :t "
                                "WHERE id = :id"), {"t": moment, "id": ticket["id"]})
        return ticket["id"]

    return make


@pytest.fixture
def fake_ably():
    from .fakeably import FakeAbly

    with FakeAbly() as server:
        yield server


def ably_settings(server, **overrides) -> dict:
    """Point the app's Ably client at the local server (token auth over plain HTTP)."""
    return {"ABLY_API_KEY": server.key, "ABLY_ENDPOINT": "127.0.0.1", "ABLY_PORT": server.port,
            "ABLY_TLS": False, "ABLY_TIMEOUT": 1.0, "REALTIME_POLL_INTERVAL": 0.05,
            "REALTIME_MAX_BACKOFF": 0.2, **overrides}


@pytest.fixture
def live(committing_app, fake_ably):
    """A client of an app publishing through its relay thread to the local Ably server."""
    app = committing_app(**ably_settings(fake_ably, REALTIME_RELAY="thread"))
    return app.test_client()


def empty_tables(database_url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE events, tickets, agents RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def make_app(app, database_url):  # `app` has migrated the database and issued KEYS
    """Make apps of their own (requests really commit) with settings overridden; each is
    stopped (relay, publisher, pools) at the end of the test."""
    made = []

    def make(**overrides):
        new_app = create_app(TestConfig(database_url, **overrides))
        made.append(new_app)
        return new_app

    yield make
    for made_app in made:
        made_app.extensions["realtime"].stop()
        made_app.extensions["realtime"].publisher.close()
        made_app.extensions["db"].dispose()


@pytest.fixture
def limited_app(make_app):
    """Make apps with rate limits on: 5 a minute per credential, 3 per address without one,
    counted in process under keys of their own."""
    def make(**settings):
        return make_app(**{"RATE_LIMITS_ENABLED": True, "RATE_LIMIT_DEFAULT": "5 per minute",
                           "RATE_LIMIT_ANONYMOUS": "3 per minute",
                           "RATE_LIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
                           "REDIS_URL": None, **settings})

    return make


@pytest.fixture
def committing_app(make_app, database_url):
    """Make apps whose requests really commit (for realtime); tables are emptied afterwards."""
    yield make_app
    empty_tables(database_url)
