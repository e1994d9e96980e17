"""ETags on tickets and agents: conditional reads (304) and writes (412, 428)."""

import pytest

from ticketing import create_app

from .conftest import TestConfig
from .test_errors import assert_envelope


@pytest.fixture(params=["ticket", "agent"])
def resource(request, make_ticket, make_agent):
    """(collection path, a created resource, a valid change) for each resource type."""
    if request.param == "ticket":
        return "/api/tickets", make_ticket(), {"status": "closed"}
    return "/api/agents", make_agent(), {"name": "Grace Hopper"}


def test_reads_and_writes_carry_an_etag_of_id_and_version(client, resource):
    path, created, change = resource
    url = f"{path}/{created['id']}"
    etag = client.get(url).headers["ETag"]
    assert etag == f'"{created["id"]}.1"'
    updated = client.patch(url, json=change)
    assert updated.headers["ETag"] == f'"{created["id"]}.2"'
    assert client.get(url).headers["ETag"] == updated.headers["ETag"]


def test_created_resource_has_its_etag(client):
    response = client.post("/api/tickets", json={"title": "t", "description": "d"})
    assert response.headers["ETag"] == f'"{response.json["data"]["id"]}.1"'


def test_if_none_match_answers_304_while_current(client, resource):
    path, created, change = resource
    url = f"{path}/{created['id']}"
    etag = client.get(url).headers["ETag"]
    unchanged = client.get(url, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.get_data() == b"" and unchanged.headers["ETag"] == etag
    assert client.get(url, headers={"If-None-Match": f"W/{etag}"}).status_code == 304
    client.patch(url, json=change)
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_if_match_with_the_current_etag_writes(client, resource):
    path, created, change = resource
    url = f"{path}/{created['id']}"
    etag = client.get(url).headers["ETag"]
    response = client.patch(url, json=change, headers={"If-Match": etag})
    assert response.status_code == 200
    assert response.json["data"]["version"] == 2


def test_second_writer_with_an_old_etag_gets_412_with_the_current_version(client, resource):
    path, created, change = resource
    url = f"{path}/{created['id']}"
    etag = client.get(url).headers["ETag"]
    assert client.patch(url, json=change, headers={"If-Match": etag}).status_code == 200
    late = client.patch(url, json=change, headers={"If-Match": etag})
    body = assert_envelope(late, 412)
    assert "version 2" in body["message"]
    assert body["errors"] == {"If-Match": ["Does not match the current version 2."]}
    assert late.headers["ETag"] == f'"{created["id"]}.2"'
    assert client.get(url).json["data"]["version"] == 2
    assert_envelope(client.delete(url, headers={"If-Match": etag}), 412)
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("header", ['W/"{id}.1"', '"something-else"', "garbage"])
def test_weak_or_foreign_tags_do_not_match(client, make_ticket, header):
    ticket = make_ticket()
    response = client.patch(f"/api/tickets/{ticket['id']}", json={"status": "closed"},
                            headers={"If-Match": header.format(id=ticket["id"])})
    assert_envelope(response, 412)


def test_star_and_lists_match(client, make_ticket):
    ticket = make_ticket()
    url = f"/api/tickets/{ticket['id']}"
    assert client.patch(url, json={"priority": "high"},
                        headers={"If-Match": "*"}).status_code == 200
    tags = f'"old", "{ticket["id"]}.2"'
    assert client.delete(url, headers={"If-Match": tags}).status_code == 200


def test_delete_with_the_current_etag(client, resource):
    path, created, _change = resource
    url = f"{path}/{created['id']}"
    assert client.delete(url, headers={"If-Match": client.get(url).headers["ETag"]}
                         ).status_code == 200
    assert client.get(url).status_code == 404


def test_require_if_match_refuses_blind_writes_with_428(database_url, connection):
    app = create_app(TestConfig(database_url, REQUIRE_IF_MATCH=True))
    app.extensions["db"].bind(connection)
    client = app.test_client()
    ticket = client.post("/api/tickets", json={"title": "t", "description": "d"}).json["data"]
    url = f"/api/tickets/{ticket['id']}"
    for response in (client.patch(url, json={"status": "closed"}), client.delete(url)):
        body = assert_envelope(response, 428)
        assert body["errors"] == {"If-Match": ["Required for writes on this server."]}
    etag = client.get(url).headers["ETag"]
    assert client.patch(url, json={"status": "closed"},
                        headers={"If-Match": etag}).status_code == 200
    app.extensions["db"].dispose()


def test_openapi_documents_the_conditional_headers(client):
    paths = client.get("/openapi.json").json["paths"]
    for path in ("/api/tickets/{ticket_id}", "/api/agents/{agent_id}"):
        read, update, delete = (paths[path][m] for m in ("get", "patch", "delete"))
        assert [p["name"] for p in read["parameters"]] == ["If-None-Match"]
        assert "304" in read["responses"] and "ETag" in read["responses"]["200"]["headers"]
        for write in (update, delete):
            assert [p["name"] for p in write["parameters"]] == ["If-Match"]
            assert {"412", "428"} <= set(write["responses"])
        assert "ETag" in update["responses"]["200"]["headers"]


def test_documented_headers_keep_the_documented_bodies(client):
    paths = client.get("/openapi.json").json["paths"]
    for path in ("/api/tickets/{ticket_id}", "/api/agents/{agent_id}"):
        for method in ("get", "patch"):
            ok = paths[path][method]["responses"]["200"]
            assert "$ref" in ok["content"]["application/json"]["schema"], (path, method)
