"""Ticket CRUD through the HTTP API."""

import uuid

import pytest

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def test_create_ticket_with_the_reference_body(client, make_agent):
    agent = make_agent()
    body = {"title": "  Issue with login ", "description": "User unable to log in",
            "priority": "high", "status": "open", "assigned_to": agent["id"]}
    response = client.post("/api/tickets", json=body)
    assert response.status_code == 201
    payload = response.json
    assert payload["status"] is True
    assert payload["message"] == "Ticket has been created."
    ticket = payload["data"]
    assert ticket["title"] == "Issue with login"
    assert ticket["description"] == "User unable to log in"
    assert (ticket["status"], ticket["priority"]) == ("open", "high")
    assert ticket["assigned_to"] == agent["id"]
    assert ticket["version"] == 1
    uuid.UUID(ticket["id"])
    assert ticket["created_at"].endswith("+00:00")
    assert response.headers["Location"].endswith(f"/api/tickets/{ticket['id']}")


def test_create_ticket_defaults_and_null_assignee(client):
    response = client.post("/api/tickets", json={
        "title": "t", "description": "d", "status": "open", "priority": "low",
        "assigned_to": None})
    assert response.status_code == 201
    ticket = response.json["data"]
    assert ticket["assigned_to"] is None
    minimal = client.post("/api/tickets", json={"title": "t", "description": "d"}).json["data"]
    assert (minimal["status"], minimal["priority"]) == ("open", "low")


def test_get_ticket(client, make_ticket):
    ticket = make_ticket()
    response = client.get(f"/api/tickets/{ticket['id']}")
    assert response.status_code == 200
    assert response.json == {"status": True, "message": "Ticket has been fetched.", "data": ticket}


@pytest.mark.parametrize("ticket_id", [UNKNOWN_ID, "not-a-uuid", "123"])
def test_unknown_or_malformed_ticket_id_is_404(client, ticket_id):
    for method in ("get", "patch", "delete"):
        kwargs = {"json": {"title": "x"}} if method == "patch" else {}
        response = getattr(client, method)(f"/api/tickets/{ticket_id}", **kwargs)
        assert response.status_code == 404
        assert response.json == {"status": False, "message": "Ticket not found", "errors": {}}


def test_update_ticket_changes_fields_version_and_updated_at(client, make_ticket, make_agent):
    ticket = make_ticket()
    agent = make_agent()
    response = client.patch(f"/api/tickets/{ticket['id']}", json={
        "status": "in_progress", "priority": "urgent", "assigned_to": agent["id"],
        "title": " New title "})
    assert response.status_code == 200
    assert response.json["message"] == "Ticket has been updated."
    updated = response.json["data"]
    assert updated["status"] == "in_progress"
    assert updated["priority"] == "urgent"
    assert updated["assigned_to"] == agent["id"]
    assert updated["title"] == "New title"
    assert updated["version"] == 2
    assert updated["updated_at"] >= ticket["updated_at"]
    assert updated["created_at"] == ticket["created_at"]


def test_updated_at_changes_on_every_committed_update(committing_app):
    """Outside the per-test transaction, so each request really commits at its own time."""
    client = committing_app().test_client()
    ticket = client.post("/api/tickets", json={"title": "t", "description": "d"}).json["data"]
    first = client.patch(f"/api/tickets/{ticket['id']}", json={"status": "closed"}).json
    second = client.patch(f"/api/tickets/{ticket['id']}", json={"status": "open"}).json
    assert ticket["updated_at"] < first["data"]["updated_at"] < second["data"]["updated_at"]


def test_patch_null_unassigns(client, make_ticket, make_agent):
    ticket = make_ticket(assigned_to=make_agent()["id"])
    response = client.patch(f"/api/tickets/{ticket['id']}", json={"assigned_to": None})
    assert response.status_code == 200
    assert response.json["data"]["assigned_to"] is None


def test_patch_with_same_values_keeps_version(client, make_ticket):
    ticket = make_ticket(priority="medium")
    response = client.patch(f"/api/tickets/{ticket['id']}", json={"priority": "medium"})
    assert response.status_code == 200
    assert response.json["data"] == ticket


@pytest.mark.parametrize("body, field", [
    ({}, "_schema"),
    ({"title": ""}, "title"),
    ({"title": "   "}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"title": None}, "title"),
    ({"description": "x" * 20_001}, "description"),
    ({"status": "done"}, "status"),
    ({"priority": "critical"}, "priority"),
    ({"assigned_to": "bob"}, "assigned_to"),
    ({"id": UNKNOWN_ID}, "id"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_patch_is_422_and_changes_nothing(client, make_ticket, body, field):
    ticket = make_ticket()
    response = client.patch(f"/api/tickets/{ticket['id']}", json=body)
    assert response.status_code == 422
    assert response.json["status"] is False
    assert response.json["message"] == "Validation failed"
    assert field in response.json["errors"]
    assert client.get(f"/api/tickets/{ticket['id']}").json["data"] == ticket


def test_patch_to_unknown_agent_is_422_naming_the_field(client, make_ticket):
    ticket = make_ticket()
    response = client.patch(f"/api/tickets/{ticket['id']}", json={"assigned_to": UNKNOWN_ID})
    assert response.status_code == 422
    assert response.json == {"status": False, "message": "Unknown agent",
                             "errors": {"assigned_to": ["No agent with this id."]}}
    assert client.get(f"/api/tickets/{ticket['id']}").json["data"] == ticket


def test_create_with_unknown_agent_is_422(client):
    response = client.post("/api/tickets", json={"title": "t", "description": "d",
                                                 "assigned_to": UNKNOWN_ID})
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["assigned_to"]


@pytest.mark.parametrize("body, fields", [
    ({}, {"title", "description"}),
    ({"title": "t"}, {"description"}),
    ({"title": "t", "description": ""}, {"description"}),
    ({"title": "t", "description": "d", "status": "OPEN"}, {"status"}),
    ({"title": "t", "description": "d", "extra": 1}, {"extra"}),
    ({"title": 5, "description": ["d"]}, {"title", "description"}),
])
def test_invalid_create_is_422_with_errors_per_field(client, body, fields):
    response = client.post("/api/tickets", json=body)
    assert response.status_code == 422
    assert set(response.json["errors"]) == fields
    assert client.get("/api/tickets").json["data"]["pagination"]["total"] == 0


def test_delete_ticket(client, make_ticket):
    ticket = make_ticket()
    response = client.delete(f"/api/tickets/{ticket['id']}")
    assert response.status_code == 200
    assert response.json == {"status": True, "message": "Ticket has been deleted."}
    assert client.get(f"/api/tickets/{ticket['id']}").status_code == 404
    assert client.delete(f"/api/tickets/{ticket['id']}").status_code == 404
