"""The event feed and the subscriber token endpoint."""

import json
import threading
import time

import httpx
import pytest
from ably.sync import AblyException, AblyRestSync
from sqlalchemy import create_engine, text

from ticketing.auth import SYSTEM, Role
from ticketing.pagination import encode_token
from ticketing.realtime.feed import MAX_PAGE_BYTES
from ticketing.services import tickets as ticket_service

from .conftest import ably_settings
from .dbutil import create_scratch_database, drop_database


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
        early, late, aborted, third = (state.new_session() for _ in range(4))
        create = ticket_service.create_ticket
        try:
            first = create(early, {"title": "early", "description": "d"}, SYSTEM)
            second = create(late, {"title": "late", "description": "d"}, SYSTEM)
            late.commit()  # commits first although it started writing second

            seen, cursor = read_all(client)
            assert seen == [str(second.id)]  # in commit order, not held back by "early"

            early.commit()
            seen, cursor = read_all(client, cursor)
            assert seen == [str(first.id)]

            create(aborted, {"title": "aborted", "description": "d"}, SYSTEM)
            kept = create(third, {"title": "kept", "description": "d"}, SYSTEM)
            third.commit()
            seen, cursor = read_all(client, cursor)
            assert seen == [str(kept.id)]
            aborted.rollback()  # a rolled-back transaction never shows up
            assert read_all(client, cursor) == ([], cursor)
        finally:
            for session in (early, late, aborted, third):
                session.close()


@pytest.fixture
def other_database(database_url):
    url = create_scratch_database("ticketing_other")
    yield url
    drop_database(url)


@pytest.mark.parametrize("where", ["this database", "another database"])
def test_feed_advances_past_a_long_idle_transaction(committing_app, database_url,
                                                     other_database, where):
    """An open transaction anywhere on the server used to freeze the feed (pg_snapshot_xmin)."""
    client = committing_app().test_client()
    idle = create_engine(database_url if where == "this database" else other_database)
    with idle.connect() as connection:
        connection.execute(text("BEGIN"))
        connection.execute(text("SELECT pg_current_xact_id()"))  # holds back the xmin horizon
        created = [client.post("/api/tickets", json={"title": f"t{n}", "description": "d"})
                   .json["data"]["id"] for n in range(3)]
        seen, cursor = read_all(client)
        assert seen == created
        more = client.post("/api/tickets", json={"title": "t", "description": "d"}).json["data"]
        assert read_all(client, cursor)[0] == [more["id"]]
        connection.execute(text("ROLLBACK"))
    idle.dispose()


def test_feed_exactly_once_with_writers_and_readers_racing(committing_app):
    app = committing_app()
    client = app.test_client()
    stop, written = threading.Event(), []

    def write():
        writer = app.test_client()
        while not stop.is_set() and len(written) < 60:
            written.append(writer.post("/api/tickets", json={"title": "t", "description": "d"})
                           .json["data"]["id"])

    threads = [threading.Thread(target=write) for _ in range(3)]
    for thread in threads:
        thread.start()
    seen, cursor = [], None
    deadline = time.monotonic() + 30
    while (any(t.is_alive() for t in threads) or len(seen) < len(written)) \
            and time.monotonic() < deadline:
        page, cursor = read_all(client, cursor, limit=7)
        seen += page
    stop.set()
    for thread in threads:
        thread.join()
    assert sorted(seen) == sorted(written) and len(set(seen)) == len(seen)


def test_feed_pages_stop_at_the_size_bound(committing_app):
    client = committing_app().test_client()
    emoji = "\U0001F600" * 20_000  # escaped as 12 bytes each in JSON
    created = []
    for n in range(4):
        ticket = client.post("/api/tickets", json={"title": f"t{n}", "description": emoji})
        assert ticket.status_code == 201
        created.append(ticket.json["data"]["id"])
        client.patch(f"/api/tickets/{created[-1]}", json={"description": emoji[:-1] + "x"})
    seen, cursor, sizes = [], None, []
    while True:
        response = client.get("/api/events?limit=1000" + (f"&after={cursor}" if cursor else ""))
        assert response.status_code == 200
        sizes.append(len(response.get_data()))
        page = response.json["data"]
        seen += [(e["ticketId"], e["version"]) for e in page["records"]]
        cursor = page["pagination"]["next_cursor"]
        if not page["pagination"]["has_more"]:
            break
    assert seen == [(ticket, version) for ticket in created for version in (1, 2)]
    assert len(sizes) > 1
    largest_event = 720_000
    assert max(sizes) <= MAX_PAGE_BYTES + largest_event


def test_feed_lag_is_reported(committing_app):
    app = committing_app()
    client = app.test_client()
    client.post("/api/tickets", json={"title": "t", "description": "d"})
    time.sleep(0.3)
    realtime = client.get("/readyz").json["checks"]["realtime"]
    assert realtime["feed_lag_seconds"] >= 0.3  # committed, not yet in the feed
    assert "realtime_feed_lag_seconds" in client.get("/metrics").get_data(as_text=True)
    read_all(client)  # reading the feed positions what is committed
    assert client.get("/readyz").json["checks"]["realtime"]["feed_lag_seconds"] == 0


def test_a_cursor_from_before_the_new_feed_order_is_gone(client):
    old_style = encode_token("123.45")
    response = client.get(f"/api/events?after={old_style}")
    assert response.status_code == 410
    assert response.json["status"] is False and "from the start" in response.json["message"]


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


@pytest.mark.parametrize("inside", ["p\u00b2", "\u00b2.1", "1.\u0663", "p-1", "p", "p1e3"])
def test_feed_cursors_with_digits_int_refuses_are_422(client, inside):
    response = client.get(f"/api/events?after={encode_token(inside)}")
    assert response.status_code == 422, response.json
    assert response.json["errors"] == {"after": ["Not a cursor returned by this API."]}
