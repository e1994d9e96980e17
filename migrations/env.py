"""Alembic environment: migrate the models' metadata over a connection handed in or made here."""

import logging
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from ticketing import models  # noqa: F401  (registers every table on Base.metadata)
from ticketing.config import Config, normalize_database_url
from ticketing.db import Base

config = context.config
target_metadata = Base.metadata

if config.config_file_name and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    """The URL `flask db` passed in, else MIGRATIONS_DATABASE_URL or DATABASE_URL."""
    url = config.attributes.get("url")
    if not url:
        settings = Config()
        url = settings.MIGRATIONS_DATABASE_URL or settings.DATABASE_URL
    if not url:
        raise SystemExit("Set DATABASE_URL (or MIGRATIONS_DATABASE_URL) to run migrations.")
    return normalize_database_url(url)


def configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=True,
    )


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata,
                      literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
