"""Every role against every conversation route (the roles table in README.md)."""

import pytest

from ticketing.auth import Role

ALL = {Role.VIEWER, Role.AGENT, Role.ADMIN}
WRITERS = {Role.AGENT, Role.ADMIN}
ADMIN = {Role.ADMIN}
COMMENT = "/api/tickets/{ticket}/comments/{comment}"

# (method, path, body, roles allowed); the comment was posted by another caller (the admin).
ROUTES = [
    ("get", "/api/tickets/{ticket}/comments", None, ALL),
    ("post", "/api/tickets/{ticket}/comments", {"body": "hi"}, WRITERS),
    ("get", COMMENT, None, ALL),
    ("patch", COMMENT, {"body": "edited"}, ADMIN),  # someone else's comment
    ("delete", COMMENT, None, ADMIN),
    ("post", "/api/tickets/{ticket}/tags", {"tags": ["x"]}, WRITERS),
    ("delete", "/api/tickets/{ticket}/tags/a", None, WRITERS),
    ("get", "/api/tags", None, ALL),
    ("post", "/api/tickets", {"title": "t", "description": "d", "tags": ["a"],
                              "requester": {"email": "a@example.com"}}, WRITERS),
    ("patch", "/api/tickets/{ticket}", {"tags": ["b"], "requester": None}, WRITERS),
]


@pytest.fixture
def resources(client, make_ticket):
    ticket = make_ticket(tags=["a"])["id"]
    comment = client.post(f"/api/tickets/{ticket}/comments", json={"body": "by the admin"})
    return {"ticket": ticket, "comment": comment.json["data"]["id"]}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("method", "path", "body", "allowed"), ROUTES,
                         ids=[f"{m.upper()} {p}" for m, p, _, _ in ROUTES])
def test_role_against_conversation_route(client_as, resources, role, method, path, body,
                                         allowed):
    kwargs = {"json": body} if body is not None else {}
    response = getattr(client_as(role), method)(path.format(**resources), **kwargs)
    if role in allowed:
        assert response.status_code in (200, 201), response.json
    else:
        assert response.status_code == 403, response.json
        assert response.json["message"] in (f"Not permitted for the {role} role",
                                            "Only its author or an admin may edit a comment")


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _, _ in ROUTES])
def test_no_credential_is_401(client_as, resources, method, path):
    response = getattr(client_as(None), method)(path.format(**resources), json={})
    assert response.status_code == 401
