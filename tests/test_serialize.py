"""The hand-written ticket serializer produces exactly what TicketSchema documents."""

import json

from ticketing.db import db
from ticketing.models import Ticket
from ticketing.schemas.ticket import TicketSchema
from ticketing.serialize import ticket_data
from ticketing.services.tickets import read_ticket


def _full_ticket(client, make_agent, make_ticket) -> dict:
    agent = make_agent()
    ticket = make_ticket(assigned_to=agent["id"], priority="high", tags=["vpn", "billing"],
                         requester={"name": None, "email": "Ada@Example.com"},
                         description="Ünïcode ✓ and \"quotes\"")
    return ticket


def test_serializer_equals_the_schema_for_orm_tickets_and_core_rows(app, client, make_agent,
                                                                   make_ticket):
    created = _full_ticket(client, make_agent, make_ticket)
    plain = make_ticket()
    with app.app_context():
        for data in (created, plain):
            orm = db.session.get(Ticket, data["id"])
            row = read_ticket(db.session, data["id"])
            expected = TicketSchema().dump(orm)
            assert ticket_data(orm) == expected
            assert ticket_data(row) == expected
            assert list(ticket_data(row)) == list(expected)  # same key order
            assert json.loads(json.dumps(expected)) == data  # what the API returned


def test_get_list_and_event_snapshot_render_the_same_ticket(client, make_agent, make_ticket):
    created = _full_ticket(client, make_agent, make_ticket)
    fetched = client.get(f"/api/tickets/{created['id']}")
    assert fetched.headers["Content-Type"] == "application/json"
    assert fetched.json["data"] == created
    listed = client.get("/api/tickets", query_string={"priority": "high"}).json["data"]
    assert created in listed["records"]
    feed = client.get("/api/events").json["data"]
    snapshots = [event["ticket"] for event in feed["records"]
                 if event.get("ticketId") == created["id"]]
    assert snapshots == [created]
