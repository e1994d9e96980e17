"""Scratch databases for tests: on TEST_DATABASE_URL's server, else on the embedded one."""

import os
import uuid

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import make_url

from ticketing.config import normalize_database_url


def server_url() -> str:
    """URL of a maintenance database on the server the tests may use."""
    url = normalize_database_url(os.environ.get("TEST_DATABASE_URL"))
    if url:
        return url
    from ticketing import devdb

    devdb.start()
    return normalize_database_url(devdb.url("postgres"))


def _admin(url: str, statement: sql.Composable) -> None:
    connection = psycopg2.connect(make_url(url).set(drivername="postgresql").render_as_string(
        hide_password=False))
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


def create_scratch_database(prefix: str = "ticketing_test") -> str:
    """Create an empty database beside TEST_DATABASE_URL's and return its URL."""
    base = server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _admin(base, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    _admin(server_url(), statement)
