"""Which events a relay round takes: due ones in id order, each resource's after its waiting one
held back."""

import uuid

from sqlalchemy import text

from ticketing.realtime.relay import DUE_EVENTS_HELD_BACK, due_events


def add_event(connection, resource: uuid.UUID, version: int, waiting: bool = False) -> int:
    """A pending event; `waiting`: its retry is an hour away."""
    return connection.execute(text(
        "INSERT INTO events (name, resource_type, resource_id, version, payload, "
        "next_attempt_at) VALUES ('ticket_updated', 'ticket', :resource, :version, '{}', "
        "CASE WHEN :waiting THEN now() + interval '1 hour' END) RETURNING id"),
        {"resource": resource, "version": version, "waiting": waiting}).scalar()


def test_a_waiting_event_holds_back_its_resource_from_there_on_only(connection):
    held, free, retried = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    before_wait = add_event(connection, held, 1)
    add_event(connection, held, 2, waiting=True)
    add_event(connection, held, 3)
    free_events = [add_event(connection, free, version) for version in (1, 2)]
    connection.execute(text(  # a retry whose time has come holds nothing back
        "UPDATE events SET next_attempt_at = now() - interval '1 second' WHERE id = :id"),
        {"id": (due_retry := add_event(connection, retried, 1, waiting=True))})
    after_retry = add_event(connection, retried, 2)
    assert [event.id for event in due_events(connection, 10)] == [
        before_wait, *free_events, due_retry, after_retry]
    assert [event.id for event in due_events(connection, 2)] == [before_wait, free_events[0]]


def test_held_back_resources_are_values_not_a_second_scan_of_the_events(connection):
    """A NOT EXISTS over the events table was planned from statistics that go stale as a backlog
    builds, and then probed every pending event for each event taken."""
    compiled = DUE_EVENTS_HELD_BACK.compile(dialect=connection.dialect)
    plan = "\n".join(connection.exec_driver_sql(f"EXPLAIN {compiled}", {
        "limit": 500, "held_types": ["ticket"], "held_ids": [str(uuid.uuid4())],
        "held_from": [1]}).scalars())
    assert plan.count(" on events") == 1, plan
