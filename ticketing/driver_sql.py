"""Statements compiled once to the driver's SQL, run on the driver's own cursor.

For the hottest reads (services/ticket_queries.py) and the ticket writes with their events
(services/tickets.py, realtime/outbox.py): SQLAlchemy's execute sets up parameters, an
execution context and result processing on every call, which cost a GET by id more CPU than
the rest of its database access, and an event's INSERT twice the CPU of the driver's cursor.
Errors come out as SQLAlchemy raises them (a DBAPIError subclass, a dropped connection
invalidated), so the app's error handlers answer exactly as for any other statement; run
through a Session, a statement first flushes the session's pending changes, as
Session.execute does.

The SQL is built and compiled by SQLAlchemy from the same table columns as everything else;
only its execution is by hand. Values go to the driver as they are, without SQLAlchemy's type
processing: callers pass plain values (text for enums, `json_value` for JSONB documents) and
convert what the driver returns.
"""

from typing import Any, NamedTuple

import orjson
from psycopg2.extras import Json
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

DIALECT = postgresql.psycopg2.dialect()


class DriverStatement(NamedTuple):
    """A statement in the driver's parameter style (%(name)s), and the values SQLAlchemy gave
    the parameters it made for literals (`'english'`, a LIMIT written as a number)."""

    sql: str
    constants: dict

    @classmethod
    def of(cls, stmt: ClauseElement) -> "DriverStatement":
        compiled = stmt.compile(dialect=DIALECT)
        return cls(str(compiled), {name: value for name, value in compiled.params.items()
                                   if value is not None})


def fetch_all(reader: Session | Connection, statement: DriverStatement, params: dict) -> list:
    """Run `statement` with `params` on `reader`'s connection; its rows as the driver's tuples
    (none for a statement that returns none, such as an INSERT without RETURNING).

    A Session's statement runs in its transaction (begun if need be, so that its commit
    commits this statement too), after its pending changes are flushed.
    """
    connection = _connection_of(reader)
    values = statement.constants | params
    cursor = connection.connection.cursor()
    try:
        cursor.execute(statement.sql, values)
        return cursor.fetchall() if cursor.description is not None else []
    except connection.dialect.loaded_dbapi.Error as error:
        raise as_sqlalchemy_error(connection, error, statement.sql, values, cursor) from error
    finally:
        cursor.close()


def _connection_of(reader: Session | Connection) -> Connection:
    if not isinstance(reader, Session):
        return reader
    # What Session.execute does first: a Core statement must see, and come after, the
    # changes made to entities (a comment's ticket, an agent). flush() is free when nothing
    # is pending.
    if reader.autoflush:
        reader.flush()
    return reader.connection()


def json_value(document: Any) -> Json:
    """A JSONB column's value for the driver; None is JSON's null, as with SQLAlchemy's JSONB.

    Serialized with orjson rather than json.dumps, as SQLAlchemy's type would: PostgreSQL
    parses JSONB and stores its own form, so spacing and escapes do not reach the column
    (tests/test_driver_sql.py compares the stored text), and an event's payload costs a
    fifth of the CPU.
    """
    return Json(document, dumps=_json_text)


def _json_text(document: Any) -> str:
    return orjson.dumps(document).decode()


def as_sqlalchemy_error(connection: Connection, error: Exception, sql: str, values: dict,
                        cursor) -> DBAPIError:
    """The error SQLAlchemy would raise; a connection the server dropped is invalidated, so
    the pool replaces it."""
    dialect = connection.dialect
    disconnected = dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
    if disconnected:
        connection.invalidate(error)
    return DBAPIError.instance(sql, values, error, dialect.loaded_dbapi.Error,
                               hide_parameters=connection.engine.hide_parameters,
                               connection_invalidated=disconnected, dialect=dialect)
