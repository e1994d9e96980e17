"""Who did what: the actor on every event (feed, history) and `created_by` on tickets."""

from ticketing.auth import Role

from .conftest import KEYS


def actor_of(client) -> dict:
    """The actor a client's API key appears as, read from a ticket it creates."""
    return client.post("/api/tickets", json={"title": "mine", "description": "d"}
                       ).json["data"]["created_by"]


def test_events_name_their_actor_in_history_and_feed(committing_app):
    app = committing_app()  # the feed shows committed events only
    client, agent_client = app.test_client(), app.test_client(credential=Role.AGENT)
    admin, agent = actor_of(client), actor_of(agent_client)
    assert admin["name"] == "test admin" and agent["name"] == "test agent"
    assert admin["id"] != agent["id"]
    ticket = client.post("/api/tickets", json={"title": "t", "description": "d"}).json["data"]
    agent_client.patch(f"/api/tickets/{ticket['id']}", json={"status": "closed"})
    client.delete(f"/api/tickets/{ticket['id']}")

    history = client.get(f"/api/tickets/{ticket['id']}/events").json["data"]["records"]
    assert [(event["event"], event["actor"]) for event in history] == [
        ("ticket_created", admin), ("ticket_updated", agent), ("ticket_deleted", admin)]
    feed = client.get("/api/events?limit=1000").json["data"]["records"]
    mine = [event["actor"] for event in feed if event.get("ticketId") == ticket["id"]]
    assert mine == [admin, agent, admin]


def test_api_key_actor_carries_its_name_but_no_secret(client):
    actor = actor_of(client)
    assert set(actor) == {"type", "id", "name"}
    assert KEYS[Role.ADMIN] not in str(actor)
