"""Database settings: statement timeouts (both pooler modes), migration URL."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from ticketing import create_app
from ticketing.cli import alembic_config

from .conftest import TestConfig


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_statement_timeout_cancels_runaway_queries(database_url, mode):
    app = create_app(TestConfig(database_url, DB_STATEMENT_TIMEOUT_MS=100, DB_POOLER_MODE=mode))
    engine = app.extensions["db"].engine
    try:
        with engine.begin() as connection:
            assert connection.scalar(text("SHOW statement_timeout")) == "100ms"
            with pytest.raises(OperationalError, match="statement timeout"):
                connection.execute(text("SELECT pg_sleep(2)"))
    finally:
        engine.dispose()


def test_a_timed_out_request_is_503_in_the_envelope(database_url):
    app = create_app(TestConfig(database_url, DB_STATEMENT_TIMEOUT_MS=50))

    @app.get("/slow")
    def slow():
        from ticketing.db import db

        db.session.execute(text("SELECT pg_sleep(1)"))
        return {}

    response = app.test_client().get("/slow")
    assert response.status_code == 503
    assert response.json == {"status": False, "message": "The database took too long to answer",
                             "errors": {}}
    app.extensions["db"].engine.dispose()


def test_migrations_use_their_own_url_when_given(database_url):
    other = "postgresql+psycopg2://migrator@127.0.0.1:5/direct"
    app = create_app(TestConfig(database_url, MIGRATIONS_DATABASE_URL=other))
    assert alembic_config(app).attributes["url"] == other
    plain = create_app(TestConfig(database_url))
    assert alembic_config(plain).attributes["url"] == database_url
