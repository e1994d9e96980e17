"""Statements compiled once to the driver's SQL, run on the driver's own cursor.

For the hottest reads (services/ticket_queries.py): SQLAlchemy's execute sets up parameters,
an execution context and result processing on every call, which cost a GET by id more CPU
than the rest of its database access; the driver's cursor costs nothing on top. Errors come
out as SQLAlchemy raises them (a DBAPIError subclass, a dropped connection invalidated), so
the app's error handlers answer exactly as for any other statement.

The SQL is built and compiled by SQLAlchemy from the same table columns as everything else;
only its execution is by hand. Values go to the driver as they are, without SQLAlchemy's type
processing: callers pass plain values (text for enums) and convert what the driver returns.
"""

from typing import NamedTuple

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
    """Run `statement` with `params` on `reader`'s connection; its rows as the driver's tuples."""
    connection = reader.connection() if isinstance(reader, Session) else reader
    values = statement.constants | params
    cursor = connection.connection.cursor()
    try:
        cursor.execute(statement.sql, values)
        return cursor.fetchall()
    except connection.dialect.loaded_dbapi.Error as error:
        raise as_sqlalchemy_error(connection, error, statement.sql, values, cursor) from error
    finally:
        cursor.close()


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
