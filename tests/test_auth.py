"""Credentials: missing, malformed, invalid, revoked, expired; anonymous access; /readyz."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from ticketing.auth import Role
from ticketing.auth.keys import hash_secret
from ticketing.models import ApiKey

from .conftest import TestConfig

WWW_AUTHENTICATE = 'Bearer realm="ticketing"'


def assert_401(response, message: str) -> None:
    assert response.status_code == 401
    assert response.json == {"status": False, "message": message, "errors": {}}
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE


@pytest.mark.parametrize("path", ["/api/tickets", "/api/agents", "/api/events",
                                  "/api/api-keys", "/api/realtime/token"])
def test_every_api_route_needs_a_credential(client_as, path):
    assert_401(client_as(None).get(path),
               "Missing credential: send Authorization: Bearer <token or API key>")


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "tkt_abc",
                                    "Bearer tkt_not-a-real-key", "Bearer eyJhbGciOi.x.y",
                                    "Bearer \u00e9\u00e9"])
def test_bad_credentials_are_401(client_as, header):
    response = client_as(None).get("/api/tickets", headers={"Authorization": header})
    assert_401(response, "Invalid credential")


def test_public_routes_need_no_credential(client_as):
    anonymous = client_as(None)
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200
    assert anonymous.get("/docs").status_code == 200


def test_a_revoked_key_is_refused_at_once(client, client_as):
    created = client.post("/api/api-keys", json={"name": "short-lived", "role": "agent"}).json
    secret, key_id = created["data"]["secret"], created["data"]["id"]
    headers = {"Authorization": f"Bearer {secret}"}
    caller = client_as(None)
    assert caller.get("/api/tickets", headers=headers).status_code == 200  # now cached
    assert client.delete(f"/api/api-keys/{key_id}").status_code == 200
    assert_401(caller.get("/api/tickets", headers=headers), "Invalid credential")


def test_an_expired_key_is_refused(client, client_as, connection):
    created = client.post("/api/api-keys", json={"name": "old", "role": "viewer",
                                                 "expires_in_days": 1}).json["data"]
    connection.execute(update(ApiKey).where(ApiKey.id == created["id"])
                       .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    response = client_as(None).get("/api/tickets",
                                   headers={"Authorization": f"Bearer {created['secret']}"})
    assert_401(response, "Expired credential")


def test_key_use_is_recorded_at_most_once_a_minute(committing_app):
    app = committing_app()
    admin = app.test_client()
    secret = admin.post("/api/api-keys", json={"name": "tracked", "role": "viewer"}
                        ).json["data"]["secret"]
    caller = app.test_client(credential=secret)
    engine = app.extensions["db"].engine

    def last_used():
        with engine.connect() as connection:
            return connection.scalar(select(ApiKey.last_used_at)
                                     .where(ApiKey.secret_hash == hash_secret(secret)))

    assert last_used() is None
    assert caller.get("/api/tickets").status_code == 200
    first = last_used()
    assert first is not None
    app.extensions["auth"].forget()  # a cache miss looks the key up again...
    assert caller.get("/api/tickets").status_code == 200
    assert last_used() == first  # ...but writes nothing within the minute
    with engine.begin() as connection:
        connection.execute(update(ApiKey).where(ApiKey.secret_hash == hash_secret(secret))
                           .values(last_used_at=first - timedelta(minutes=2)))
    app.extensions["auth"].forget()
    assert caller.get("/api/tickets").status_code == 200
    assert last_used() > first


@pytest.fixture
def anonymous_app(committing_app):
    return committing_app(AUTH_ANONYMOUS_ROLE="viewer")


def test_anonymous_role_lets_requests_without_credential_in(anonymous_app):
    anonymous = anonymous_app.test_client(credential=None)
    assert anonymous.get("/api/tickets").status_code == 200
    refused = anonymous.post("/api/tickets", json={"title": "t", "description": "d"})
    assert refused.status_code == 403
    assert refused.json["message"] == "Not permitted for the viewer role"
    # A credential that is present but wrong is still refused, not treated as anonymous.
    bad = anonymous.get("/api/tickets", headers={"Authorization": "Bearer tkt_wrong"})
    assert_401(bad, "Invalid credential")


def test_anonymous_role_must_be_viewer_or_agent(database_url, monkeypatch):
    monkeypatch.setenv("AUTH_ANONYMOUS_ROLE", "admin")
    with pytest.raises(ValueError, match="AUTH_ANONYMOUS_ROLE must be one of viewer, agent"):
        TestConfig(database_url)


def test_readyz_details_only_for_loopback_or_a_credential(client_as):
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    bare = client_as(None).get("/readyz", environ_base=remote)
    assert bare.status_code == 200
    assert bare.json == {"status": "ready"}
    with_key = client_as(Role.VIEWER).get("/readyz", environ_base=remote)
    assert set(with_key.json["checks"]) == {"database", "migrations", "realtime"}
    loopback = client_as(None).get("/readyz")
    assert "checks" in loopback.json
