"""Supabase access tokens on real requests: a user maps to an agent, whose role then applies."""

import time
import uuid

import pytest

from ticketing import create_app
from ticketing.auth import Role

from .conftest import TestConfig, rolled_back
from .jwks_server import JwksServer, Signer

SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"


@pytest.fixture(scope="module")
def signer():
    return Signer.es256()


@pytest.fixture
def jwks(signer):
    with JwksServer() as server:
        server.publish(signer)
        yield server


@pytest.fixture
def supabase_app(app, database_url, jwks):
    """An app that accepts the local project's tokens; its writes are rolled back."""
    new_app = create_app(TestConfig(database_url, SUPABASE_URL=jwks.url,
                                    SUPABASE_JWT_SECRET=SECRET, SUPABASE_JWKS_TIMEOUT=0.5))
    with rolled_back(new_app):
        yield new_app
    new_app.extensions["db"].dispose()


@pytest.fixture
def signed_in(supabase_app, jwks, signer):
    """`signed_in(role)`: a client holding the token of a new agent's Supabase user."""
    admin = supabase_app.test_client()

    def make(role: str = "agent", **claims):
        user_id = str(uuid.uuid4())
        body = {"name": f"{role} user", "email": f"{user_id}@example.com", "role": role,
                "user_id": user_id}
        agent = admin.post("/api/agents", json=body)
        assert agent.status_code == 201, agent.json
        token = signer.token(jwks.issuer, sub=user_id, **claims)
        return supabase_app.test_client(credential=token), agent.json["data"]

    return make


def test_a_signed_in_agent_acts_as_that_agent(signed_in):
    client, agent = signed_in("agent")
    assert client.get("/api/tickets").status_code == 200
    created = client.post("/api/tickets", json={"title": "From the desk", "description": "d"})
    assert created.status_code == 201, created.json
    assert created.json["data"]["created_by"]["type"] == "agent"
    assert created.json["data"]["created_by"]["id"] == agent["id"]


def test_the_agents_role_applies(signed_in):
    client, _ = signed_in("viewer")
    assert client.get("/api/tickets").status_code == 200
    refused = client.post("/api/tickets", json={"title": "t", "description": "d"})
    assert refused.status_code == 403


def test_a_legacy_hs256_token_works_too(supabase_app, signed_in, jwks):
    _, agent = signed_in("agent")
    token = Signer.hs256(SECRET).token(jwks.issuer, sub=agent["user_id"])
    assert supabase_app.test_client(credential=token).get("/api/tickets").status_code == 200


def test_a_user_who_is_no_agent_gets_403(supabase_app, jwks, signer):
    client = supabase_app.test_client(credential=signer.token(jwks.issuer))
    response = client.get("/api/tickets")
    assert response.status_code == 403
    assert response.json["message"] == "Signed in, but this user is not an agent of this helpdesk"


def test_an_expired_token_is_a_401_that_says_so(signed_in):
    client, _ = signed_in("agent", exp=int(time.time()) - 60, iat=int(time.time()) - 3660)
    response = client.get("/api/tickets")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json == {"status": False, "message": "Expired credential", "errors": {}}


@pytest.mark.parametrize("claims", [{"aud": "anon"}, {"iss": "supabase"},
                                    {"nbf": int(time.time()) + 600}])
def test_a_token_for_something_else_is_a_401(signed_in, claims):
    client, _ = signed_in("agent", **claims)
    response = client.get("/api/tickets")
    assert response.status_code == 401
    assert response.json["message"] == "Invalid credential"


def test_an_unreachable_key_set_is_a_503_never_a_500(supabase_app, jwks, signer):
    jwks.refuse()
    response = supabase_app.test_client(credential=signer.token(jwks.issuer)).get("/api/tickets")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.json["message"] == "Cannot verify the token right now, try again shortly"


def test_without_supabase_settings_tokens_are_refused(client_as, jwks, signer):
    client = client_as(Role.ADMIN)
    token = signer.token(jwks.issuer)
    response = client.get("/api/tickets", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and jwks.fetches == 0


def test_an_agent_may_rename_itself_and_nothing_more(signed_in):
    client, me = signed_in("agent")
    _, colleague = signed_in("agent")
    renamed = client.patch(f"/api/agents/{me['id']}", json={"name": "  New Name "})
    assert renamed.status_code == 200, renamed.json
    assert renamed.json["data"]["name"] == "New Name"
    for body in ({"role": "admin"}, {"email": "me@example.com"}, {"name": "x", "role": "admin"},
                 {"user_id": str(uuid.uuid4())}):
        refused = client.patch(f"/api/agents/{me['id']}", json=body)
        assert refused.status_code == 403, body
        assert refused.json["message"] == "Not permitted: agents may change only their own name"
    other = client.patch(f"/api/agents/{colleague['id']}", json={"name": "Hijacked"})
    assert other.status_code == 403


def test_a_viewer_may_not_rename_itself(signed_in):
    client, me = signed_in("viewer")
    refused = client.patch(f"/api/agents/{me['id']}", json={"name": "Viewer"})
    assert refused.status_code == 403
    assert refused.json["message"] == "Not permitted for the viewer role"


def test_a_signed_in_agent_authors_its_comments(signed_in):
    client, me = signed_in("agent")
    ticket = client.post("/api/tickets", json={"title": "t", "description": "d"}).json["data"]
    comment = client.post(f"/api/tickets/{ticket['id']}/comments",
                          json={"body": "On it", "public": True})
    assert comment.status_code == 201, comment.json
    assert comment.json["data"]["author"] == {"type": "agent", "id": me["id"]}
