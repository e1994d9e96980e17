"""Scratch databases stopped at a migration, for tests of the next one."""

import contextlib

from alembic import command
from sqlalchemy import create_engine

from ticketing import create_app
from ticketing.cli import alembic_config

from .conftest import TestConfig
from .dbutil import create_scratch_database, drop_database


@contextlib.contextmanager
def database_at(revision: str, prefix: str):
    """A scratch database migrated up to `revision`: its Alembic config and an engine on it;
    dropped afterwards."""
    url = create_scratch_database(prefix)
    app = create_app(TestConfig(url))
    config = alembic_config(app)
    command.upgrade(config, revision)
    engine = create_engine(url)
    try:
        yield config, engine
    finally:
        engine.dispose()
        app.extensions["db"].dispose()
        drop_database(url)
