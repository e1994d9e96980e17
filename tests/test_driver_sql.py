"""Statements run on the driver's cursor fail the way SQLAlchemy's own executions do."""

import pytest
from sqlalchemy import Text, bindparam, cast, column, insert, literal_column, select, table, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DataError, OperationalError

from ticketing.db import make_engine
from ticketing.driver_sql import DriverStatement, fetch_all, json_value

from .conftest import TestConfig
from .test_database_settings import terminate_backend

ECHO = DriverStatement.of(select(bindparam("value"), literal_column("'fixed'")))
AS_UUID = DriverStatement.of(select(text("CAST(:value AS uuid)")))


@pytest.fixture
def engine(database_url):
    engine = make_engine(vars(TestConfig(database_url)))
    yield engine
    engine.dispose()


def test_values_and_literals_reach_the_driver(engine):
    with engine.connect() as connection:
        assert fetch_all(connection, ECHO, {"value": 7}) == [(7, "fixed")]


def test_a_statement_without_rows_gives_none(engine):
    notes = table("notes", column("value"))
    add_note = DriverStatement.of(insert(notes).values(value=bindparam("value")))
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE TEMPORARY TABLE notes (value int)")
        assert fetch_all(connection, add_note, {"value": 3}) == []
        assert connection.scalar(text("SELECT value FROM notes")) == 3


JSONB_TEXT = select(cast(bindparam("document", type_=JSONB), Text))


@pytest.mark.parametrize("document", [
    {"b": [1, 2.5, None, True], "a": {"é☃": 'quote " back\\slash\nline'}},
    {"big": 2**62, "small": -17, "floats": [0.1, 1e-07, 1.5e300, -0.0],
     "emoji": "🎫", "tab": "a\tb"},
    None,  # JSON's null, not SQL's NULL, for both
    [],
    "text",
])
def test_json_values_are_stored_as_sqlalchemys_jsonb_stores_them(engine, document):
    with engine.connect() as connection:
        by_sqlalchemy = connection.execute(JSONB_TEXT, {"document": document}).scalar_one()
        by_driver = fetch_all(connection, DriverStatement.of(JSONB_TEXT),
                              {"document": json_value(document)})
    assert by_driver == [(by_sqlalchemy,)]
    assert by_sqlalchemy is not None


def test_errors_are_sqlalchemys_and_hide_their_values(engine):
    with engine.connect() as connection, pytest.raises(DataError) as raised:
        fetch_all(connection, AS_UUID, {"value": "no-such-uuid"})
    assert not raised.value.connection_invalidated
    assert "parameters hidden" in str(raised.value)  # hide_parameters, as for any statement


def test_a_dropped_connection_is_invalidated_and_replaced(engine, database_url):
    with engine.connect() as connection:
        pid = connection.scalar(text("SELECT pg_backend_pid()"))
        other = make_engine(vars(TestConfig(database_url)))
        try:
            terminate_backend(other, pid)
        finally:
            other.dispose()
        with pytest.raises(OperationalError) as raised:
            fetch_all(connection, ECHO, {"value": 1})
        assert raised.value.connection_invalidated and connection.invalidated
    with engine.connect() as connection:  # the pool gives a fresh connection
        assert fetch_all(connection, ECHO, {"value": 2}) == [(2, "fixed")]
