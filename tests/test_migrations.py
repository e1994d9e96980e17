"""Migrations: downgrade to base and upgrade again, on a database of their own."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect

from ticketing import create_app
from ticketing.cli import alembic_config

from .conftest import TestConfig
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
    app.extensions["db"].engine.dispose()


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
