"""Every role against every route: the roles table of README.md "Access control"."""

import pytest

from ticketing.auth import Role

ALL = {Role.VIEWER, Role.AGENT, Role.ADMIN}
WRITERS = {Role.AGENT, Role.ADMIN}
ADMIN = {Role.ADMIN}

TICKET = {"title": "t", "description": "d"}
AGENT = {"name": "New", "email": "new@example.com"}

# (method, path, body, roles allowed)
ROUTES = [
    ("get", "/api/tickets", None, ALL),
    ("post", "/api/tickets", TICKET, WRITERS),
    ("get", "/api/tickets/{ticket}", None, ALL),
    ("patch", "/api/tickets/{ticket}", {"status": "closed"}, WRITERS),
    ("delete", "/api/tickets/{ticket}", None, ADMIN),
    ("get", "/api/tickets/{ticket}/events", None, ALL),
    ("get", "/api/agents", None, ALL),
    ("post", "/api/agents", AGENT, ADMIN),
    ("get", "/api/agents/{agent}", None, ALL),
    ("patch", "/api/agents/{agent}", {"name": "Renamed"}, ADMIN),  # not the caller's own
    ("patch", "/api/agents/{agent}", {"role": "admin"}, ADMIN),
    ("delete", "/api/agents/{agent}", None, ADMIN),
    ("get", "/api/events", None, ALL),
    ("get", "/api/realtime/token", None, ALL),
    ("post", "/api/realtime/token", None, ALL),
    ("get", "/api/api-keys", None, ADMIN),
    ("post", "/api/api-keys", {"name": "k", "role": "viewer"}, ADMIN),
    ("get", "/api/api-keys/{key}", None, ADMIN),
    ("delete", "/api/api-keys/{key}", None, ADMIN),
]


@pytest.fixture
def resources(client, make_agent, make_ticket):
    key = client.post("/api/api-keys", json={"name": "target", "role": "viewer"}).json["data"]
    return {"ticket": make_ticket()["id"], "agent": make_agent()["id"], "key": key["id"]}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("method, path, body, allowed", ROUTES,
                         ids=[f"{m.upper()} {p} {b or ''}" for m, p, b, _ in ROUTES])
def test_role_against_route(client_as, resources, role, method, path, body, allowed):
    caller = client_as(role)
    kwargs = {"json": body} if body is not None else {}
    response = getattr(caller, method)(path.format(**resources), **kwargs)
    if role in allowed:
        # Realtime tokens answer 503 here (no Ably configured): past the permission check.
        assert response.status_code in (200, 201, 503), response.json
    else:
        assert response.status_code == 403, response.json
        assert response.json["status"] is False
        assert response.json["message"] in (f"Not permitted for the {role} role",
                                            "Not permitted: agents may change only their own name")


def test_refusals_come_before_validation(client_as):
    """A viewer learns nothing about the body's validity: 403, not 422."""
    response = client_as(Role.VIEWER).post("/api/tickets", json={"title": ""})
    assert response.status_code == 403
    anonymous = client_as(None).post("/api/tickets", json={"title": ""})
    assert anonymous.status_code == 401


def test_openapi_declares_bearer_security_and_its_errors(client):
    spec = client.get("/openapi.json").json
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer",
        "description": "A Supabase Auth access token or an API key (tkt_...)"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert operation["security"] == [{"bearerAuth": []}], (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
            assert "Roles allowed:" in operation["description"], (method, path)
