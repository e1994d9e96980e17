"""Tags on tickets: set whole, add or remove one, filter, and the tags in use."""


import pytest

from ticketing.auth import Role

from .concurrency import run_behind_ticket_lock
from .plans import explain_list

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def tags_path(ticket_id, tag=None) -> str:
    path = f"/api/tickets/{ticket_id}/tags"
    return f"{path}/{tag}" if tag else path


def test_tags_are_trimmed_lower_cased_deduplicated_and_sorted(make_ticket):
    ticket = make_ticket(tags=[" VPN ", "billing", "vpn", "Team:EU", "v1.2_beta-3", "café"])
    assert ticket["tags"] == ["billing", "café", "team:eu", "v1.2_beta-3", "vpn"]
    assert make_ticket()["tags"] == []


@pytest.mark.parametrize(("tags", "message"), [
    (["two words"], "A tag is 1-50 letters, digits, '-', '_', ':' or '.'."),
    (["a/b"], "A tag is 1-50 letters, digits, '-', '_', ':' or '.'."),
    (["  "], "A tag is 1-50 letters, digits, '-', '_', ':' or '.'."),
    (["x" * 51], "A tag is 1-50 letters, digits, '-', '_', ':' or '.'."),
])
def test_invalid_tags_are_refused(client, tags, message):
    response = client.post("/api/tickets", json={"title": "t", "description": "d", "tags": tags})
    assert response.status_code == 422
    assert response.json["errors"] == {"tags": {"0": [message]}}


def test_at_most_20_tags(client, make_ticket):
    twenty = [f"t{n}" for n in range(20)]
    assert len(make_ticket(tags=[*twenty, "T0"])["tags"]) == 20  # a set: duplicates do not count
    response = client.post("/api/tickets", json={"title": "t", "description": "d",
                                                 "tags": [*twenty, "t20"]})
    assert response.status_code == 422
    assert response.json["errors"] == {"tags": ["A ticket carries at most 20 tags."]}
    assert client.post("/api/tickets", json={"title": "t", "description": "d",
                                             "tags": "billing"}).status_code == 422


def test_patch_replaces_the_whole_set(client, make_ticket):
    ticket = make_ticket(tags=["a", "b"])
    response = client.patch(f"/api/tickets/{ticket['id']}", json={"tags": ["C", "b"]})
    assert response.json["data"]["tags"] == ["b", "c"]
    assert response.json["data"]["version"] == 2
    cleared = client.patch(f"/api/tickets/{ticket['id']}", json={"tags": []}).json["data"]
    assert cleared["tags"] == []


def test_add_tags_keeps_the_rest(client, make_ticket):
    ticket = make_ticket(tags=["billing"])
    response = client.post(tags_path(ticket["id"]), json={"tags": ["VPN", "billing"]})
    assert response.status_code == 200
    assert response.json["message"] == "Tags have been added."
    assert response.json["data"]["tags"] == ["billing", "vpn"]
    assert response.json["data"]["version"] == 2
    again = client.post(tags_path(ticket["id"]), json={"tags": ["vpn"]}).json["data"]
    assert again["version"] == 2  # nothing changed, no new version


def test_add_tags_validation(client, make_ticket):
    ticket = make_ticket(tags=[f"t{n}" for n in range(19)])
    assert client.post(tags_path(ticket["id"]), json={"tags": []}).json["errors"] == {
        "tags": ["Shorter than minimum length 1."]}
    assert client.post(tags_path(ticket["id"]), json={}).status_code == 422
    assert client.post(tags_path(ticket["id"]), json={"tags": ["a b"]}).status_code == 422
    assert client.post(tags_path(ticket["id"]), json={"tags": ["t19"]}).status_code == 200
    response = client.post(tags_path(ticket["id"]), json={"tags": ["t20"]})
    assert response.status_code == 422
    assert response.json == {"status": False, "message": "Too many tags", "errors": {
        "tags": ["A ticket carries at most 20 tags; this one has 20."]}}


def test_remove_a_tag(client, make_ticket):
    ticket = make_ticket(tags=["billing", "vpn"])
    response = client.delete(tags_path(ticket["id"], "VPN"))
    assert response.status_code == 200
    assert response.json["message"] == "Tag has been removed."
    assert response.json["data"]["tags"] == ["billing"]
    for tag in ("vpn", "no%20such%20tag"):
        missing = client.delete(tags_path(ticket["id"], tag))
        assert missing.status_code == 404
        assert missing.json == {"status": False, "message": "The ticket has no such tag",
                                "errors": {}}


@pytest.mark.parametrize("ticket_id", [UNKNOWN_ID, "nope"])
def test_tags_of_an_unknown_ticket_are_404(client, ticket_id):
    assert client.post(tags_path(ticket_id), json={"tags": ["a"]}).status_code == 404
    assert client.delete(tags_path(ticket_id, "a")).json["message"] == "Ticket not found"


def test_tag_changes_are_ticket_updated_events(client, make_ticket):
    ticket = make_ticket(tags=["a"])
    client.post(tags_path(ticket["id"]), json={"tags": ["b"]})
    client.delete(tags_path(ticket["id"], "a"))
    client.patch(f"/api/tickets/{ticket['id']}", json={"tags": ["c"]})
    history = client.get(f"/api/tickets/{ticket['id']}/events").json["data"]["records"]
    assert [(e["event"], e["version"], e["changes"]) for e in history[1:]] == [
        ("ticket_updated", 2, {"tags": {"from": ["a"], "to": ["a", "b"]}}),
        ("ticket_updated", 3, {"tags": {"from": ["a", "b"], "to": ["b"]}}),
        ("ticket_updated", 4, {"tags": {"from": ["b"], "to": ["c"]}}),
    ]
    assert history[-1]["ticket"]["tags"] == ["c"]


def test_filter_by_all_or_any_tags(client, make_ticket):
    both = make_ticket(tags=["billing", "vpn"])
    billing = make_ticket(tags=["billing"])
    vpn = make_ticket(tags=["vpn", "urgent"])
    make_ticket()

    def ids(query):
        response = client.get(f"/api/tickets?{query}")
        assert response.status_code == 200, response.json
        return {t["id"] for t in response.json["data"]["records"]}

    assert ids("tags=billing,VPN") == {both["id"]}
    assert ids("tags=billing") == {both["id"], billing["id"]}
    assert ids("tags_any=billing,vpn") == {both["id"], billing["id"], vpn["id"]}
    assert ids("tags_any=urgent,billing&tags=vpn") == {both["id"], vpn["id"]}
    assert ids("tags=nothing") == set()
    bad = client.get("/api/tickets?tags=a%20b")
    assert bad.status_code == 422 and "tags" in bad.json["errors"]
    assert client.get("/api/tickets?tags_any=").status_code == 422


@pytest.mark.parametrize("name", ["tags", "tags_any"])
def test_tag_filters_go_through_the_index(connection, name):
    plan = explain_list(connection, {name: ["billing", "vpn"]})
    assert "ix_tickets_tags" in plan, plan


def test_tags_in_use(client, make_ticket):
    make_ticket(tags=["billing", "vpn", "bug"])
    make_ticket(tags=["billing", "bug"])
    make_ticket(tags=["billing", "b_2"])
    make_ticket(tags=["bx"])
    response = client.get("/api/tags")
    assert response.status_code == 200
    assert response.json == {"status": True, "message": "Tags have been fetched.", "data": {
        "records": [{"tag": "billing", "count": 3}, {"tag": "bug", "count": 2},
                    {"tag": "b_2", "count": 1}, {"tag": "bx", "count": 1},
                    {"tag": "vpn", "count": 1}]}}
    prefixed = client.get("/api/tags?q=B_").json["data"]["records"]
    assert prefixed == [{"tag": "b_2", "count": 1}]  # `_` is no wildcard
    assert client.get("/api/tags?limit=1").json["data"]["records"] == [
        {"tag": "billing", "count": 3}]
    assert client.get("/api/tags?limit=0").status_code == 422
    assert client.get("/api/tags?other=1").status_code == 422


def test_concurrent_tagging_loses_nothing(committing_app, database_url):
    """Agents tag one ticket at once, in real transactions: every tag survives."""
    client = committing_app(DB_POOL_SIZE=10).test_client()  # a connection per request
    ticket = client.post("/api/tickets", json={"title": "t", "description": "d",
                                               "tags": ["start"]}).json["data"]
    tags = [f"agent-{n}" for n in range(6)]
    results = []
    requests = [lambda tag=tag: results.append(
        client.post(tags_path(ticket["id"]), json={"tags": [tag]}).status_code) for tag in tags]
    requests.append(lambda: results.append(
        client.delete(tags_path(ticket["id"], "start")).status_code))
    run_behind_ticket_lock(database_url, ticket["id"], requests)
    assert results == [200] * len(requests)
    final = client.get(f"/api/tickets/{ticket['id']}").json["data"]
    assert final["tags"] == sorted(tags)
    assert final["version"] == 1 + len(requests)
    history = client.get(f"/api/tickets/{ticket['id']}/events").json["data"]["records"]
    assert [e["version"] for e in history] == list(range(1, 2 + len(requests)))



def test_who_may_tag(client_as, make_ticket):
    ticket = make_ticket(tags=["a"])
    viewer, agent = client_as(Role.VIEWER), client_as(Role.AGENT)
    assert viewer.get("/api/tags").status_code == 200
    assert viewer.post(tags_path(ticket["id"]), json={"tags": ["b"]}).status_code == 403
    assert viewer.delete(tags_path(ticket["id"], "a")).status_code == 403
    assert viewer.patch(f"/api/tickets/{ticket['id']}", json={"tags": []}).status_code == 403
    assert agent.post(tags_path(ticket["id"]), json={"tags": ["b"]}).status_code == 200
    response = agent.delete(tags_path(ticket["id"], "a"))
    assert response.status_code == 200 and response.json["data"]["tags"] == ["b"]
    history = viewer.get(f"/api/tickets/{ticket['id']}/events").json["data"]["records"]
    assert history[-1]["actor"]["name"] == "test agent"
    assert client_as(None).get("/api/tags").status_code == 401
