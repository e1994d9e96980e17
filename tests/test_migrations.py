"""Migrations: downgrade to base and upgrade again, on a database of their own."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from ticketing import create_app
from ticketing.auth import Role
from ticketing.cli import alembic_config

from .conftest import TestConfig, issue_keys
from .dbutil import create_scratch_database, drop_database

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def scratch_url():
    url = create_scratch_database("ticketing_migrations")
    yield url
    drop_database(url)


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_downgrade_to_base_and_upgrade_again(scratch_url):
    app = create_app(TestConfig(scratch_url))
    config = alembic_config(app)
    command.upgrade(config, "head")
    assert {"agents", "tickets", "alembic_version"} <= tables(scratch_url)
    command.downgrade(config, "base")
    assert tables(scratch_url) == {"alembic_version"}
    command.upgrade(config, "head")
    command.check(config)
    app.extensions["db"].dispose()


def test_plain_alembic_upgrade_from_the_top_level_ini(scratch_url):
    env = {**os.environ, "DATABASE_URL": scratch_url.replace("postgresql+psycopg2", "postgres")}
    alembic = Path(sys.executable).with_name("alembic")
    result = subprocess.run([str(alembic), "upgrade", "head"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert {"agents", "tickets"} <= tables(scratch_url)


def test_flask_db_cli(scratch_url):
    env = {**os.environ, "DATABASE_URL": scratch_url, "FLASK_APP": "ticketing:create_app",
           "REALTIME_RELAY": "off"}
    flask = str(Path(sys.executable).with_name("flask"))

    def run(*args: str) -> str:
        result = subprocess.run([flask, "db", *args], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout + result.stderr

    run("upgrade")
    assert "(head)" in run("current")
    assert "agents and tickets" in run("history")
    run("check")
    run("downgrade", "base")
    run("upgrade")


def test_downgrading_the_feed_order_keeps_unpositioned_events_readable(scratch_url):
    """Events not yet given a feed position stay visible to the old (txid) feed after 0006."""
    app = create_app(TestConfig(scratch_url))
    config = alembic_config(app)
    command.upgrade(config, "head")
    client = app.test_client(credential=issue_keys(app)[Role.ADMIN])
    for number in range(3):  # the relay is off: nothing assigns positions
        assert client.post("/api/tickets", json={"title": f"t{number}", "description": "d"}
                           ).status_code == 201
    command.downgrade(config, "0005")
    engine = create_engine(scratch_url)
    with engine.connect() as connection:
        visible = connection.execute(text(
            "SELECT count(*) FROM events "
            "WHERE txid < pg_snapshot_xmin(pg_current_snapshot())")).scalar()
    engine.dispose()
    assert visible == 3
    command.upgrade(config, "head")
    app.extensions["db"].dispose()
