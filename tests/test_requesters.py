"""Requesters: who asked, on the ticket, and the filter by their email."""

import pytest

from .plans import explain_list


def test_a_ticket_names_who_asked(client, make_ticket):
    ticket = make_ticket(requester={"name": "  Ada Lovelace ", "email": "Ada@Example.COM"})
    assert ticket["requester"] == {"name": "Ada Lovelace", "email": "Ada@Example.COM"}
    fetched = client.get(f"/api/tickets/{ticket['id']}").json["data"]
    assert fetched["requester"] == ticket["requester"]
    listed = client.get("/api/tickets").json["data"]["records"]
    assert listed[0]["requester"] == ticket["requester"]


def test_requester_is_optional_and_its_name_too(make_ticket):
    assert make_ticket()["requester"] is None
    assert make_ticket(requester=None)["requester"] is None
    assert make_ticket(requester={"email": "bob@example.com"})["requester"] == {
        "name": None, "email": "bob@example.com"}


@pytest.mark.parametrize(("requester", "errors"), [
    ({"name": "Ada"}, {"email": ["Missing data for required field."]}),
    ({"email": "not-an-email"}, {"email": ["Not a valid email address."]}),
    ({"email": "a@example.com", "name": ""}, {"name": ["Must not be blank."]}),
    ({"email": "a@example.com", "name": "  "}, {"name": ["Must not be blank."]}),
    ({"email": "a@example.com", "phone": "1"}, {"phone": ["Unknown field."]}),
    ("a@example.com", {"_schema": ["Invalid input type."]}),
])
def test_invalid_requesters_are_refused(client, requester, errors):
    response = client.post("/api/tickets", json={"title": "t", "description": "d",
                                                 "requester": requester})
    assert response.status_code == 422
    assert response.json["errors"] == {"requester": errors}


def test_patch_sets_replaces_and_removes_the_requester(client, make_ticket):
    ticket = make_ticket(requester={"email": "bob@example.com"})
    path = f"/api/tickets/{ticket['id']}"
    same = client.patch(path, json={"requester": {"email": "bob@example.com"}}).json["data"]
    assert same["version"] == 1  # unchanged, so no new version
    changed = client.patch(path, json={"requester": {"name": "Bob", "email": "b@example.com"}})
    assert changed.json["data"]["requester"] == {"name": "Bob", "email": "b@example.com"}
    removed = client.patch(path, json={"requester": None}).json["data"]
    assert removed["requester"] is None and removed["version"] == 3
    history = client.get(f"{path}/events").json["data"]["records"]
    assert history[1]["changes"] == {"requester": {
        "from": {"name": None, "email": "bob@example.com"},
        "to": {"name": "Bob", "email": "b@example.com"}}}
    assert history[2]["changes"] == {"requester": {
        "from": {"name": "Bob", "email": "b@example.com"}, "to": None}}


def test_filter_by_requester_email_without_regard_to_case(client, make_ticket):
    ada = make_ticket(requester={"email": "Ada@Example.com"})
    make_ticket(requester={"email": "bob@example.com"})
    make_ticket()
    records = client.get("/api/tickets?requester_email=ADA@example.COM").json["data"]["records"]
    assert [t["id"] for t in records] == [ada["id"]]
    bad = client.get("/api/tickets?requester_email=nobody")
    assert bad.status_code == 422
    assert bad.json["errors"] == {"requester_email": ["Not a valid email address."]}


def test_the_requester_filter_goes_through_its_index(connection):
    plan = explain_list(connection, {"requester_email": "Ada@example.com"})
    assert "ix_tickets_requester_email_lower" in plan, plan
