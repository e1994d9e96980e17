"""A row lock is taken once per transaction, and taken again in the next one."""

import psycopg2.extensions
from sqlalchemy import event

from ticketing.db import db
from ticketing.services.tickets import get_ticket


def _locking_selects(engine, action) -> int:
    """The statements with FOR UPDATE that `action` sends, seen by the driver's cursors: the
    ticket writes' lock runs on them directly (ticketing/driver_sql.py), and SQLAlchemy's own
    statements pass through them too."""
    statements, watched = [], []

    class Watching(psycopg2.extensions.cursor):
        def execute(self, query, params=None):
            statements.append(query)
            return super().execute(query, params)

    def watch(dbapi_connection, _record, _proxy):
        dbapi_connection.cursor_factory = Watching
        watched.append(dbapi_connection)

    event.listen(engine, "checkout", watch)
    try:
        action()
    finally:
        event.remove(engine, "checkout", watch)
        for dbapi_connection in watched:
            dbapi_connection.cursor_factory = None
    return sum("FOR UPDATE" in statement for statement in statements)


def test_patch_locks_the_ticket_once(committing_app):
    app = committing_app()
    client = app.test_client()
    ticket = client.post("/api/tickets", json={"title": "t", "description": "d"}).json["data"]
    answers = []

    def patch():
        answers.append(client.patch(f"/api/tickets/{ticket['id']}", json={"status": "closed"},
                                    headers={"If-Match": f'"{ticket["id"]}.1"'}))

    assert _locking_selects(app.extensions["db"].engine, patch) == 1
    assert answers[0].status_code == 200
    assert answers[0].json["data"]["status"] == "closed"
    assert answers[0].json["data"]["version"] == 2


def test_each_transaction_takes_its_own_lock(committing_app):
    app = committing_app()
    ticket = app.test_client().post("/api/tickets", json={"title": "t", "description": "d"})
    ticket_id = ticket.json["data"]["id"]
    with app.app_context():
        session = db.session

        def lock_twice():
            assert get_ticket(session, ticket_id, lock=True) is get_ticket(
                session, ticket_id, lock=True)

        engine = app.extensions["db"].engine
        assert _locking_selects(engine, lock_twice) == 1
        session.commit()
        assert _locking_selects(engine, lock_twice) == 1
        session.rollback()
        assert _locking_selects(engine, lock_twice) == 1
        session.rollback()
