"""The event feed and the subscriber token endpoint."""

import json

import httpx
import pytest
from ably.sync import AblyException, AblyRestSync

from ticketing.auth import SYSTEM, Role
from ticketing.services import tickets as ticket_service

from .conftest import ably_settings


def read_all(client, cursor=None, limit=100):
    query = f"?limit={limit}" + (f"&after={cursor}" if cursor else "")
    response = client.get(f"/api/events{query}")
    assert response.status_code == 200, response.json
    data = response.json["data"]
    return [e["ticketId"] for e in data["records"]], data["pagination"]["next_cursor"]


def test_feed_pages_through_everything_once(committing_app):
    client = committing_app().test_client()
    created = [client.post("/api/tickets", json={"title": f"t{n}", "description": "d"}).json[
        "data"]["id"] for n in range(7)]
    seen, cursor = [], None
    for _ in range(4):
        page, cursor = read_all(client, cursor, limit=3)
        seen += page
    assert seen == created
    assert read_all(client, cursor) == ([], cursor)  # nothing new: same cursor back


def test_feed_with_transactions_committing_out_of_order(committing_app):
    app = committing_app()
    client = app.test_client()
    state = app.extensions["db"]
    with app.app_context():
        early, late = state.new_session(), state.new_session()
        first = ticket_service.create_ticket(early, {"title": "early", "description": "d"}, SYSTEM)
        second = ticket_service.create_ticket(late, {"title": "late", "description": "d"}, SYSTEM)
        late.commit()  # commits first although it started writing second

        seen, cursor = read_all(client)
        assert seen == []  # "late" waits until "early" has finished

        early.commit()
        seen, cursor = read_all(client, cursor)
        assert seen == [str(first.id), str(second.id)]

        aborted = state.new_session()
        ticket_service.create_ticket(aborted, {"title": "aborted", "description": "d"}, SYSTEM)
        third = state.new_session()
        kept = ticket_service.create_ticket(third, {"title": "kept", "description": "d"}, SYSTEM)
        third.commit()
        assert read_all(client, cursor)[0] == []
        aborted.rollback()  # a rolled-back transaction never shows up
        seen, cursor = read_all(client, cursor)
        assert seen == [str(kept.id)]
        for session in (early, late, aborted, third):
            session.close()


@pytest.mark.parametrize("query", ["after=%%%", "after=bm90LWEtY3Vyc29y", "limit=0",
                                   "limit=1001", "colour=red"])
def test_feed_rejects_bad_parameters(client, query):
    response = client.get(f"/api/events?{query}")
    assert response.status_code == 422
    assert response.json["status"] is False


def test_token_request_allows_only_subscribe_and_history(committing_app, fake_ably):
    app = committing_app(**ably_settings(fake_ably, ABLY_TOKEN_TTL=600))
    response = app.test_client().post("/api/realtime/token")
    assert response.status_code == 200
    request = response.json
    assert request["keyName"] == fake_ably.key_name
    assert request["ttl"] == 600_000
    assert json.loads(request["capability"]) == {
        "tickets-updates": ["history", "subscribe"], "agents-updates": ["history", "subscribe"]}
    assert "mac" in request and "secret" not in json.dumps(request)
    assert request["clientId"].startswith("api_key:")  # the caller, as Ably will name it
    viewer = app.test_client(credential=Role.VIEWER).get("/api/realtime/token")
    assert viewer.status_code == 200 and viewer.json["clientId"] != request["clientId"]

    # What a browser does with authUrl: exchange it for a token, then use that token.
    token = httpx.post(f"{fake_ably.url}/keys/{request['keyName']}/requestToken",
                       json=request).json()
    assert token["expires"] - token["issued"] == 600_000
    subscriber = AblyRestSync(token=token["token"], endpoint="127.0.0.1", port=fake_ably.port,
                              tls=False, fallback_hosts=[])
    channel = subscriber.channels.get("tickets-updates")
    channel.history()
    with pytest.raises(AblyException) as refused:
        channel.publish("ticket_created", {"forged": True})
    assert refused.value.status_code == 401
    subscriber.close()


def test_token_endpoint_without_ably_is_503(client):
    for method in (client.post, client.get):
        response = method("/api/realtime/token")
        assert response.status_code == 503
        assert response.json == {"status": False,
                                 "message": "Realtime is not configured: set ABLY_API_KEY",
                                 "errors": {}}
