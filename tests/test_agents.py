"""Agent CRUD through the HTTP API."""

import pytest

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def test_create_agent_with_the_reference_body(client):
    response = client.post("/api/agents", json={"name": " John Doe ",
                                                "email": "John.Doe@Example.com"})
    assert response.status_code == 201
    assert response.json["status"] is True
    assert response.json["message"] == "Agent has been created."
    agent = response.json["data"]
    assert agent["name"] == "John Doe"
    assert agent["email"] == "John.Doe@Example.com"
    assert set(agent) == {"id", "name", "email", "role", "user_id", "version", "created_at",
                          "updated_at"}
    assert response.headers["Location"].endswith(f"/api/agents/{agent['id']}")


def test_duplicate_email_is_409_regardless_of_case(client, make_agent):
    make_agent(email="ada@example.com")
    response = client.post("/api/agents", json={"name": "Ada", "email": "ADA@example.COM"})
    assert response.status_code == 409
    assert response.json == {"status": False,
                             "message": "An agent with this email already exists",
                             "errors": {"email": ["Already in use."]}}


def test_changing_email_to_a_taken_one_is_409(client, make_agent):
    make_agent(email="taken@example.com")
    agent = make_agent()
    response = client.patch(f"/api/agents/{agent['id']}", json={"email": "Taken@example.com"})
    assert response.status_code == 409
    assert client.get(f"/api/agents/{agent['id']}").json["data"] == agent


def test_agent_may_change_the_case_of_its_own_email(client, make_agent):
    agent = make_agent(email="me@example.com")
    response = client.patch(f"/api/agents/{agent['id']}", json={"email": "Me@Example.com"})
    assert response.status_code == 200
    assert response.json["data"]["email"] == "Me@Example.com"
    assert response.json["data"]["version"] == 2


@pytest.mark.parametrize("body, fields", [
    ({}, {"name", "email"}),
    ({"name": "", "email": "a@example.com"}, {"name"}),
    ({"name": "x" * 201, "email": "a@example.com"}, {"name"}),
    ({"name": "A", "email": "not-an-email"}, {"email"}),
    ({"name": "A", "email": "a@example.com", "role": "owner"}, {"role"}),
    ({"name": "A", "email": "a@example.com", "team": "x"}, {"team"}),
])
def test_invalid_agent_is_422(client, body, fields):
    response = client.post("/api/agents", json=body)
    assert response.status_code == 422
    assert set(response.json["errors"]) == fields


def test_get_update_delete_agent(client, make_agent):
    agent = make_agent(name="Grace")
    fetched = client.get(f"/api/agents/{agent['id']}")
    assert fetched.json == {"status": True, "message": "Agent has been fetched.", "data": agent}
    updated = client.patch(f"/api/agents/{agent['id']}", json={"name": "Grace Hopper"})
    assert updated.status_code == 200
    assert updated.json["message"] == "Agent has been updated."
    assert updated.json["data"]["name"] == "Grace Hopper"
    deleted = client.delete(f"/api/agents/{agent['id']}")
    assert deleted.json == {"status": True, "message": "Agent has been deleted."}
    assert client.get(f"/api/agents/{agent['id']}").status_code == 404


def test_deleting_an_agent_keeps_its_tickets_unassigned(client, make_agent, make_ticket):
    agent = make_agent()
    tickets = [make_ticket(assigned_to=agent["id"]) for _ in range(3)]
    other = make_ticket(assigned_to=make_agent()["id"])
    assert client.delete(f"/api/agents/{agent['id']}").status_code == 200
    for ticket in tickets:
        kept = client.get(f"/api/tickets/{ticket['id']}").json["data"]
        assert kept["assigned_to"] is None
        assert kept["version"] == ticket["version"] + 1
    assert client.get(f"/api/tickets/{other['id']}").json["data"] == other


@pytest.mark.parametrize("agent_id", [UNKNOWN_ID, "nope"])
def test_unknown_agent_is_404(client, agent_id):
    for method in ("get", "patch", "delete"):
        kwargs = {"json": {"name": "x"}} if method == "patch" else {}
        response = getattr(client, method)(f"/api/agents/{agent_id}", **kwargs)
        assert response.status_code == 404
        assert response.json == {"status": False, "message": "Agent not found", "errors": {}}


def test_list_and_search_agents(client, make_agent):
    make_agent(name="Ada Lovelace", email="ada@example.com")
    make_agent(name="Grace Hopper", email="grace@navy.mil")
    make_agent(name="Alan Turing", email="alan@example.com")
    response = client.get("/api/agents")
    assert response.status_code == 200
    assert response.json["message"] == "Agents have been fetched."
    assert response.json["data"]["pagination"]["total"] == 3
    names = [a["name"] for a in client.get("/api/agents?q=example").json["data"]["records"]]
    assert sorted(names) == ["Ada Lovelace", "Alan Turing"]
    names = [a["name"] for a in client.get("/api/agents?q=HOPP").json["data"]["records"]]
    assert names == ["Grace Hopper"]
    assert client.get("/api/agents?q=%25").json["data"]["records"] == []
    by_name = client.get("/api/agents?sort=name").json["data"]["records"]
    assert [a["name"] for a in by_name] == ["Ada Lovelace", "Alan Turing", "Grace Hopper"]


def test_agent_cursor_pagination(client, make_agent):
    created = [make_agent()["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        query = f"per_page=2&cursor={cursor}" if cursor else "per_page=2"
        data = client.get(f"/api/agents?{query}").json["data"]
        seen += [a["id"] for a in data["records"]]
        cursor = data["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(created)
    assert len(seen) == 5
