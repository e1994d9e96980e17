"""Database settings: statement timeouts (both pooler modes), migration URL, stale connections."""

import time

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from ticketing import create_app
from ticketing.cli import alembic_config
from ticketing.db import closed_by_server, db

from .conftest import TestConfig
from .serving import wait_until


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
    app.extensions["db"].dispose()


def test_migrations_use_their_own_url_when_given(database_url):
    other = "postgresql+psycopg2://migrator@127.0.0.1:5/direct"
    app = create_app(TestConfig(database_url, MIGRATIONS_DATABASE_URL=other))
    assert alembic_config(app).attributes["url"] == other
    plain = create_app(TestConfig(database_url))
    assert alembic_config(plain).attributes["url"] == database_url


def backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(text("SELECT pg_backend_pid()"))


def terminate_backend(engine, pid: int) -> None:
    """End one server process from another connection, as a restart or a pooler would."""
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    def gone() -> bool:  # a transaction of its own: activity is a snapshot per transaction
        with engine.begin() as connection:
            return not connection.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid})

    wait_until(gone)
    # The process leaves pg_stat_activity just before its exit closes the socket.
    time.sleep(0.2)


def test_a_pooled_connection_is_reused_without_a_round_trip(database_url):
    app = create_app(TestConfig(database_url))
    engine = app.extensions["db"].engine
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        first = backend_pid(engine)
        with engine.connect() as connection:
            raw = connection.connection.dbapi_connection
            assert not closed_by_server(raw)
            assert connection.scalar(text("SELECT pg_backend_pid()")) == first
        assert statements == ["SELECT pg_backend_pid()"] * 2
        assert not engine.pool._pre_ping  # its SELECT 1 goes around the events above
    finally:
        engine.dispose()


def test_a_connection_the_server_closed_is_replaced_before_use(database_url):
    app = create_app(TestConfig(database_url, DB_POOL_SIZE=1))
    engine = app.extensions["db"].engine
    other = create_app(TestConfig(database_url)).extensions["db"].engine
    try:
        first = backend_pid(engine)
        terminate_backend(other, first)
        # Without the check at checkout this statement fails on the dead connection.
        assert backend_pid(engine) != first
        with app.app_context():
            assert db.session.scalar(text("SELECT 1")) == 1
    finally:
        engine.dispose()
        other.dispose()
