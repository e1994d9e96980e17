"""Ticket writes in Core: the statements sent, and how they meet the ORM in one transaction."""

import uuid

import psycopg2.extensions
import pytest
from sqlalchemy import event, func, select, text

from ticketing.auth import SYSTEM
from ticketing.db import db
from ticketing.errors import Conflict, NotFound, Unprocessable
from ticketing.models import Agent, Event, Ticket
from ticketing.realtime.outbox import WAKE_KEY, record
from ticketing.services import tickets as service


@pytest.fixture
def session(app, connection):
    with app.app_context():
        yield db.session


def _summary(statement: str) -> str | None:
    """"INSERT INTO tickets", "SELECT FOR UPDATE", ... for a statement about the tables the
    writes touch; None for any other (SAVEPOINT, the credential's lookup)."""
    if not any(f" {table}" in statement for table in ("tickets", "events", "agents")):
        return None
    words = statement.split()
    return (" ".join(words[:3] if words[0] in ("INSERT", "DELETE") else words[:1])
            + (" FOR UPDATE" if "FOR UPDATE" in statement else ""))


def _statements(connection, action) -> list[str]:
    """What `action` sends about tickets, events and agents on the tests' connection, seen by
    the driver's cursors: the writes run on them directly (ticketing/driver_sql.py), and
    SQLAlchemy's own statements pass through them too."""
    sent = []

    class Watching(psycopg2.extensions.cursor):
        def execute(self, query, params=None):
            summary = _summary(query if isinstance(query, str) else query.decode())
            if summary:
                sent.append(summary)
            return super().execute(query, params)

    dbapi_connection = connection.connection.dbapi_connection
    dbapi_connection.cursor_factory = Watching
    try:
        action()
    finally:
        dbapi_connection.cursor_factory = None
    return sent


def _executed_by_sqlalchemy(engine, action) -> list[str]:
    """The statements about tickets, events and agents SQLAlchemy's execution sent."""
    sent = []

    def seen(_conn, _cursor, statement, *_args):
        if _summary(statement):
            sent.append(_summary(statement))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return sent


def _events_of(session, ticket_id) -> list[int]:
    """The versions of the events recorded for a ticket."""
    return session.scalars(select(Event.version).where(Event.resource_id == ticket_id)
                           .order_by(Event.id)).all()


def test_each_write_is_one_statement_plus_its_event(client, connection):
    answers = []

    def post():
        answers.append(client.post("/api/tickets", json={"title": "t", "description": "d"}))

    assert _statements(connection, post) == ["INSERT INTO tickets", "INSERT INTO events"]
    path = f"/api/tickets/{answers[0].json['data']['id']}"
    assert _statements(connection, lambda: client.patch(path, json={"status": "closed"})) == [
        "SELECT FOR UPDATE", "UPDATE", "INSERT INTO events"]
    assert _statements(connection, lambda: client.patch(path, json={"status": "closed"})) == [
        "SELECT FOR UPDATE"]  # nothing changes: no UPDATE, no event
    assert _statements(connection, lambda: client.delete(path)) == [
        "SELECT FOR UPDATE", "DELETE FROM tickets", "INSERT INTO events"]


def test_the_writes_run_on_the_drivers_cursor(app, client):
    def post_patch_delete():
        created = client.post("/api/tickets", json={"title": "t", "description": "d"})
        path = f"/api/tickets/{created.json['data']['id']}"
        assert client.patch(path, json={"priority": "high"}).status_code == 200
        assert client.delete(path).status_code == 200

    assert _executed_by_sqlalchemy(app.extensions["db"].engine, post_patch_delete) == []


def test_update_returns_the_row_as_stored(session):
    ticket = service.create_ticket(session, {"title": "t", "description": "d"}, SYSTEM)
    locked = service.lock_ticket(session, ticket.id)
    updated, changes = service.update_ticket(
        session, locked, {"requester": {"name": None, "email": "a@b.example"}, "title": "t"},
        SYSTEM)
    assert changes == {"requester": {"from": None, "to": {"name": None, "email": "a@b.example"}}}
    assert (updated.requester_email, updated.version) == ("a@b.example", 2)
    assert updated.updated_at > ticket.updated_at
    assert session.get(Ticket, ticket.id).requester == {"name": None, "email": "a@b.example"}


def test_a_ticket_loaded_before_a_core_update_shows_the_update(session):
    ticket_id = service.create_ticket(session, {"title": "t", "description": "d"}, SYSTEM).id
    loaded = service.get_ticket(session, ticket_id, lock=True)
    loaded.title = "changed through the ORM"  # not flushed yet
    locked = service.lock_ticket(session, ticket_id)
    assert locked.title == "changed through the ORM"  # flushed before the read
    service.update_ticket(session, locked, {"status": "closed"}, SYSTEM)
    assert (loaded.title, loaded.status, loaded.version) == (
        "changed through the ORM", "closed", 2)
    assert service.get_ticket(session, ticket_id, lock=True) is loaded


def test_a_core_lock_counts_for_the_orm_and_the_orm_reads_the_update(connection, session):
    ticket_id = service.create_ticket(session, {"title": "t", "description": "d"}, SYSTEM).id
    session.commit()

    def lock_update_and_load():
        locked = service.lock_ticket(session, ticket_id)
        service.update_ticket(session, locked, {"priority": "high"}, SYSTEM)
        assert service.get_ticket(session, ticket_id, lock=True).priority == "high"

    sent = _statements(connection, lock_update_and_load)
    assert sum("FOR UPDATE" in statement for statement in sent) == 1


def test_a_ticket_deleted_in_core_is_gone_for_the_orm_too(session):
    ticket_id = service.create_ticket(session, {"title": "t", "description": "d"}, SYSTEM).id
    loaded = service.get_ticket(session, ticket_id)
    service.delete_ticket(session, service.lock_ticket(session, ticket_id), SYSTEM)
    with pytest.raises(NotFound):
        service.get_ticket(session, ticket_id)
    assert loaded not in session


def test_a_refused_write_leaves_a_usable_session(session):
    unknown = {"title": "t", "description": "d", "assigned_to": uuid.uuid4()}
    before = session.scalar(select(func.count()).select_from(Ticket))
    with pytest.raises(Unprocessable, match="Unknown agent"):
        service.create_ticket(session, unknown, SYSTEM)
    ticket = service.create_ticket(session, {"title": "t", "description": "d"}, SYSTEM)
    assert session.scalar(select(func.count()).select_from(Ticket)) == before + 1
    assert _events_of(session, ticket.id) == [1]


def test_a_refused_update_leaves_a_usable_session(session):
    ticket_id = service.create_ticket(session, {"title": "t", "description": "d"}, SYSTEM).id
    locked = service.lock_ticket(session, ticket_id)
    with pytest.raises(Unprocessable, match="Unknown agent"):
        service.update_ticket(session, locked, {"assigned_to": uuid.uuid4()}, SYSTEM)
    # The rollback took the ticket too (created in the same transaction): make another.
    ticket_id = service.create_ticket(session, {"title": "t", "description": "d"}, SYSTEM).id
    locked = service.lock_ticket(session, ticket_id)
    updated, _ = service.update_ticket(session, locked, {"status": "closed"}, SYSTEM)
    assert (updated.status, updated.version) == ("closed", 2)
    assert _events_of(session, ticket_id) == [1, 2]


def _new_agent(**overrides) -> Agent:
    """An agent with its id set here, so a ticket can name it before it is flushed."""
    return Agent(**{"id": uuid.uuid4(), "name": "New", "email": "new@example.com",
                    **overrides})


def test_a_write_flushes_the_orm_changes_pending_before_it(connection, session):
    agent = _new_agent()
    session.add(agent)  # pending: the ticket's foreign key needs its row
    created = []
    sent = _statements(connection, lambda: created.append(service.create_ticket(
        session, {"title": "t", "description": "d", "assigned_to": agent.id}, SYSTEM)))
    assert sent == ["INSERT INTO agents", "INSERT INTO tickets", "INSERT INTO events"]
    assert created[0].assigned_to == agent.id


def test_an_event_follows_the_orm_changes_pending_before_it(connection, session):
    ticket = service.create_ticket(session, {"title": "t", "description": "d"}, SYSTEM)
    session.add(_new_agent())
    sent = _statements(connection, lambda: record(session, "updated", "ticket", ticket,
                                                  actor=SYSTEM))
    assert sent == ["INSERT INTO agents", "INSERT INTO events"]


def test_no_autoflush_holds_for_core_writes_too(session):
    agent = _new_agent()
    session.add(agent)
    with session.no_autoflush, pytest.raises(Unprocessable, match="Unknown agent"):
        service.create_ticket(session, {"title": "t", "description": "d",
                                        "assigned_to": agent.id}, SYSTEM)


def test_a_pending_change_the_database_refuses_fails_the_write_as_a_flush_does(session):
    session.add(_new_agent(email="taken@example.com"))
    session.flush()
    session.add(_new_agent(email="TAKEN@example.com"))  # uq_agents_email_lower
    with pytest.raises(Conflict, match="email already exists"):
        service.create_ticket(session, {"title": "t", "description": "d"}, SYSTEM)
    ticket = service.create_ticket(session, {"title": "t", "description": "d"}, SYSTEM)
    assert _events_of(session, ticket.id) == [1]


def test_the_commit_commits_the_drivers_statements_and_wakes_the_relay(committing_app):
    app = committing_app()
    with app.app_context():
        ticket = service.create_ticket(db.session, {"title": "t", "description": "d"}, SYSTEM)
        assert db.session.in_transaction() and WAKE_KEY in db.session.info
        db.session.commit()
        # Taken by the after_commit listener, which calls it: the relay is woken.
        assert WAKE_KEY not in db.session.info
    with app.extensions["db"].engine.connect() as other:  # sees only what was committed
        assert other.scalar(select(Ticket.title).where(Ticket.id == ticket.id)) == "t"
        assert other.scalars(select(Event.name).where(Event.resource_id == ticket.id)).all() == [
            "ticket_created"]


def test_an_idempotent_post_refused_by_the_database_is_not_kept(client):
    body = {"title": "t", "description": "d", "assigned_to": str(uuid.uuid4())}
    for _ in range(2):
        response = client.post("/api/tickets", json=body, headers={"Idempotency-Key": "k1"})
        assert response.status_code == 422 and "Idempotent-Replayed" not in response.headers
        assert response.json["message"] == "Unknown agent"


@pytest.fixture
def fails_once(connection):
    """`fails_once("tickets", "UPDATE")`: that statement fails once with a deadlock."""

    def install(table: str, operation: str) -> None:
        # A sequence is not rolled back with the failed transaction: the retry passes.
        connection.execute(text("CREATE SEQUENCE deadlocks"))
        connection.execute(text("""
            CREATE FUNCTION deadlock_once() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('deadlocks') = 1 THEN
                    RAISE EXCEPTION 'simulated' USING ERRCODE = '40P01';
                END IF;
                RETURN NEW;
            END $$"""))
        connection.execute(text(f"CREATE TRIGGER deadlock_once BEFORE {operation} ON {table} "
                                "FOR EACH ROW EXECUTE FUNCTION deadlock_once()"))

    return install


def test_a_post_that_deadlocks_is_run_again_and_creates_one_ticket(client, session, fails_once):
    fails_once("events", "INSERT")
    before = session.scalar(select(func.count()).select_from(Ticket))
    response = client.post("/api/tickets", json={"title": "t", "description": "d"})
    assert response.status_code == 201
    assert session.scalar(select(func.count()).select_from(Ticket)) == before + 1
    assert _events_of(session, uuid.UUID(response.json["data"]["id"])) == [1]


def test_a_patch_that_deadlocks_is_run_again_once(client, make_ticket, session, fails_once):
    ticket = make_ticket()
    fails_once("tickets", "UPDATE")
    response = client.patch(f"/api/tickets/{ticket['id']}", json={"status": "closed"},
                            headers={"If-Match": f'"{ticket["id"]}.1"'})
    assert response.status_code == 200
    assert response.json["data"]["version"] == 2
    assert response.headers["ETag"] == f'"{ticket["id"]}.2"'
    assert _events_of(session, uuid.UUID(ticket["id"])) == [1, 2]
