"""/api/api-keys and `flask auth create-key|dev-key`: issue once, list, revoke."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ticketing.auth import Role

from .dbutil import create_scratch_database, drop_database

ROOT = Path(__file__).resolve().parent.parent
LISTED_FIELDS = {"id", "name", "role", "prefix", "created_by", "created_at", "expires_at",
                 "revoked_at", "last_used_at"}


def create(client, **body):
    return client.post("/api/api-keys", json={"name": "zapier", "role": "agent", **body})


def test_create_shows_the_secret_once(client, client_as):
    response = create(client, expires_in_days=30)
    assert response.status_code == 201
    assert response.json["message"] == "API key has been created."
    assert response.headers["Cache-Control"] == "no-store"
    key = response.json["data"]
    assert set(key) == LISTED_FIELDS | {"secret"}
    assert key["secret"].startswith("tkt_") and len(key["secret"]) >= 40
    assert key["secret"].startswith(key["prefix"]) and len(key["prefix"]) == 12
    assert key["role"] == "agent" and key["expires_at"] and key["revoked_at"] is None
    assert key["created_by"]["type"] == "api_key" and key["created_by"]["name"] == "test admin"
    assert response.headers["Location"].endswith(f"/api/api-keys/{key['id']}")

    fetched = client.get(f"/api/api-keys/{key['id']}").json["data"]
    assert set(fetched) == LISTED_FIELDS  # never the secret again
    listed = client.get("/api/api-keys?per_page=100").json["data"]["records"]
    assert key["id"] in {item["id"] for item in listed}
    assert all("secret" not in item for item in listed)

    as_agent = client_as(None).post("/api/tickets", json={"title": "t", "description": "d"},
                                    headers={"Authorization": f"Bearer {key['secret']}"})
    assert as_agent.status_code == 201
    assert as_agent.json["data"]["created_by"] == {"type": "api_key", "id": key["id"],
                                                   "name": "zapier"}


def test_revoke_hides_it_from_the_default_list_and_is_idempotent(client):
    key = create(client).json["data"]
    first = client.delete(f"/api/api-keys/{key['id']}")
    assert first.status_code == 200
    assert first.json["message"] == "API key has been revoked."
    revoked_at = first.json["data"]["revoked_at"]
    assert revoked_at is not None
    again = client.delete(f"/api/api-keys/{key['id']}")
    assert again.status_code == 200 and again.json["data"]["revoked_at"] == revoked_at
    active = client.get("/api/api-keys?per_page=100").json["data"]["records"]
    assert key["id"] not in {item["id"] for item in active}
    everything = client.get("/api/api-keys?per_page=100&include_revoked=true").json["data"]
    assert key["id"] in {item["id"] for item in everything["records"]}


@pytest.mark.parametrize("body, field", [
    ({"name": "", "role": "agent"}, "name"),
    ({"name": "x" * 101, "role": "agent"}, "name"),
    ({"name": "k"}, "role"),
    ({"name": "k", "role": "owner"}, "role"),
    ({"name": "k", "role": "agent", "expires_in_days": 0}, "expires_in_days"),
    ({"name": "k", "role": "agent", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
    ({"name": "k", "role": "agent", "expires_at": "2999-01-01T00:00:00Z",
      "expires_in_days": 3}, "expires_at"),
    ({"name": "k", "role": "agent", "secret": "tkt_mine"}, "secret"),
])
def test_invalid_key_requests_are_422(client, body, field):
    response = client.post("/api/api-keys", json=body)
    assert response.status_code == 422
    assert field in response.json["errors"]


@pytest.mark.parametrize("key_id", ["nope", "00000000-0000-0000-0000-000000000000"])
def test_unknown_key_is_404(client, key_id):
    for method in ("get", "delete"):
        response = getattr(client, method)(f"/api/api-keys/{key_id}")
        assert response.status_code == 404
        assert response.json["message"] == "API key not found"


@pytest.fixture
def scratch_url():
    url = create_scratch_database("ticketing_keys")
    yield url
    drop_database(url)


def flask_cli(url: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "ticketing:create_app",
           "REALTIME_RELAY": "off"}
    flask = str(Path(sys.executable).with_name("flask"))
    return subprocess.run([flask, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_cli_keys_and_the_make_run_key(scratch_url, tmp_path):
    assert flask_cli(scratch_url, "db", "upgrade").returncode == 0
    dev_file = tmp_path / ".dev-api-key"
    first = flask_cli(scratch_url, "auth", "dev-key", "--file", str(dev_file))
    assert first.returncode == 0, first.stderr
    secret = dev_file.read_text().strip()
    assert secret.startswith("tkt_") and secret in first.stdout
    assert oct(dev_file.stat().st_mode & 0o777) == "0o600"
    again = flask_cli(scratch_url, "auth", "dev-key", "--file", str(dev_file))
    assert again.returncode == 0 and secret not in again.stdout  # made once, never shown again
    assert dev_file.read_text().strip() == secret

    made = flask_cli(scratch_url, "auth", "create-key", "--name", "ci", "--role", "viewer",
                     "--expires-in-days", "7")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().splitlines()[-1].startswith("tkt_")
    wrong = flask_cli(scratch_url, "auth", "create-key", "--name", "ci", "--role", "root")
    assert wrong.returncode == 2 and "root" in wrong.stderr
    assert Role.VIEWER.value in made.stderr
