"""Reads that change nothing run outside transactions where they can (Database.reader)."""

import psycopg2.extensions
from sqlalchemy import event


def _autocommit_flags(app, requests) -> list[bool]:
    """Whether each statement the requests sent ran on an autocommit connection.

    Seen by the driver's cursors, not SQLAlchemy's events: the hottest reads run their SQL on
    the driver's cursor (ticketing/driver_sql.py).
    """
    flags = []

    class Watching(psycopg2.extensions.cursor):
        def execute(self, query, params=None):
            flags.append(self.connection.autocommit)
            return super().execute(query, params)

    def watch(dbapi_connection, _record, _proxy):
        dbapi_connection.cursor_factory = Watching

    def unwatch(dbapi_connection, _record):
        dbapi_connection.cursor_factory = None

    engines = app.extensions["db"].engines
    for engine in engines:
        event.listen(engine, "checkout", watch)
        event.listen(engine, "checkin", unwatch)
    try:
        requests()
    finally:
        for engine in engines:
            event.remove(engine, "checkout", watch)
            event.remove(engine, "checkin", unwatch)
    return flags


def _create_and_read(app):
    client = app.test_client()
    created = client.post("/api/tickets", json={"title": "Printer", "description": "On fire"})
    ticket = created.json["data"]
    answers = []

    def read():
        answers.append(client.get(f"/api/tickets/{ticket['id']}"))
        answers.append(client.get("/api/tickets", query_string={"status": "open"}))

    return ticket, answers, read


def test_get_and_list_send_statements_without_a_transaction(committing_app):
    app = committing_app()
    ticket, answers, read = _create_and_read(app)
    flags = _autocommit_flags(app, read)
    assert answers[0].json["data"] == ticket
    assert answers[0].headers["ETag"] == f'"{ticket["id"]}.1"'
    assert answers[1].json["data"]["records"] == [ticket]
    assert answers[1].json["data"]["pagination"]["total"] == 1
    # SELECT by id; the page with its count: nothing else (no BEGIN, no ROLLBACK)
    assert flags == [True, True]


def test_a_transaction_pooler_keeps_reads_in_transactions(committing_app):
    app = committing_app(DB_POOLER_MODE="transaction")
    ticket, answers, read = _create_and_read(app)
    flags = _autocommit_flags(app, read)
    assert answers[0].json["data"] == ticket
    assert flags and not any(flags)  # each in a transaction, with SET LOCAL statement_timeout


def test_without_a_read_pool_reads_run_in_the_write_pools_transactions(committing_app):
    app = committing_app(DB_READ_POOL_SIZE=0)
    assert app.extensions["db"].engines == [app.extensions["db"].engine]
    ticket, answers, read = _create_and_read(app)
    flags = _autocommit_flags(app, read)
    assert answers[0].json["data"] == ticket
    assert answers[1].json["data"]["records"] == [ticket]
    assert flags == [False, False]


def test_the_read_pool_holds_a_connection_per_request_thread(committing_app):
    app = committing_app(DB_READ_POOL_SIZE=3)
    pool = app.extensions["db"].autocommit_engine.pool
    assert (pool.size(), pool._max_overflow) == (3, 0)
