"""Comments: a ticket's public replies and internal notes."""

import functools

import pytest
from sqlalchemy import text

from ticketing.auth import Role

from .concurrency import run_behind_ticket_lock
from .plans import explain_list

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def ticket(make_ticket):
    return make_ticket()


def comments_path(ticket_id, comment_id=None) -> str:
    path = f"/api/tickets/{ticket_id}/comments"
    return f"{path}/{comment_id}" if comment_id else path


def test_post_a_comment(client, ticket):
    response = client.post(comments_path(ticket["id"]), json={"body": "  Looking into it  "})
    assert response.status_code == 201
    assert response.json["status"] is True
    assert response.json["message"] == "Comment has been created."
    comment = response.json["data"]
    assert comment["body"] == "  Looking into it  "  # stored as given
    assert comment["public"] is False  # an internal note unless asked otherwise
    assert comment["ticket_id"] == ticket["id"]
    assert comment["author"]["type"] in ("agent", "api_key")
    assert comment["deleted"] is False and comment["version"] == 1
    assert comment["edited_at"] is None and comment["deleted_at"] is None
    assert comment["created_at"] == comment["updated_at"]
    assert response.headers["Location"].endswith(comments_path(ticket["id"], comment["id"]))
    assert client.get(comments_path(ticket["id"], comment["id"])).json == {
        "status": True, "message": "Comment has been fetched.", "data": comment}


def test_the_author_is_never_taken_from_the_body(client, ticket):
    response = client.post(comments_path(ticket["id"]), json={
        "body": "hi", "author": {"type": "agent", "id": UNKNOWN_ID}})
    assert response.status_code == 422
    assert response.json["errors"] == {"author": ["Unknown field."]}


@pytest.mark.parametrize(("body", "errors"), [
    ({}, {"body": ["Missing data for required field."]}),
    ({"body": ""}, {"body": ["Must not be blank."]}),
    ({"body": " \n\t "}, {"body": ["Must not be blank."]}),
    ({"body": "x" * 50_001}, {"body": ["Longer than maximum length 50000."]}),
    ({"body": "a\x00b"}, {"body": ["Must not contain NUL characters."]}),
    ({"body": 42}, {"body": ["Not a valid string."]}),
    ({"body": "hi", "public": "maybe"}, {"public": ["Not a valid boolean."]}),
])
def test_invalid_comments_are_refused(client, ticket, body, errors):
    response = client.post(comments_path(ticket["id"]), json=body)
    assert response.status_code == 422
    assert response.json == {"status": False, "message": "Validation failed", "errors": errors}


def test_a_body_of_50000_characters_is_accepted(post_comment, ticket):
    assert len(post_comment(ticket["id"], "é" * 50_000)["body"]) == 50_000


@pytest.mark.parametrize("ticket_id", [UNKNOWN_ID, "not-a-uuid"])
def test_unknown_ticket_is_404(client, ticket_id):
    for method, kwargs in (("get", {}), ("post", {"json": {"body": "hi"}})):
        response = getattr(client, method)(comments_path(ticket_id), **kwargs)
        assert response.status_code == 404
        assert response.json == {"status": False, "message": "Ticket not found", "errors": {}}


def test_unknown_comment_or_one_of_another_ticket_is_404(client, make_ticket, post_comment):
    first, second = make_ticket(), make_ticket()
    comment = post_comment(first["id"])
    for path in (comments_path(second["id"], comment["id"]), comments_path(first["id"], UNKNOWN_ID),
                 comments_path(first["id"], "nope")):
        for method, kwargs in (("get", {}), ("patch", {"json": {"body": "x"}}), ("delete", {})):
            response = getattr(client, method)(path, **kwargs)
            assert response.status_code == 404, (method, path)
            assert response.json["message"] == "Comment not found"


def test_the_thread_is_oldest_first_and_filters_public(client, ticket, post_comment):
    note = post_comment(ticket["id"], "note")
    reply = post_comment(ticket["id"], "reply", public=True)
    later_note = post_comment(ticket["id"], "another note", public=False)
    listing = client.get(comments_path(ticket["id"])).json
    assert listing["message"] == "Comments have been fetched."
    assert [c["id"] for c in listing["data"]["records"]] == [note["id"], reply["id"],
                                                             later_note["id"]]
    replies = client.get(comments_path(ticket["id"]) + "?public=true").json["data"]["records"]
    assert [c["id"] for c in replies] == [reply["id"]]
    notes = client.get(comments_path(ticket["id"]) + "?public=false").json["data"]["records"]
    assert [c["id"] for c in notes] == [note["id"], later_note["id"]]
    assert client.get(comments_path(ticket["id"]) + "?public=perhaps").status_code == 422
    assert client.get(comments_path(ticket["id"]) + "?sort=title").status_code == 422


def test_editing_records_who_and_when(client, ticket, post_comment):
    comment = post_comment(ticket["id"], "first words")
    response = client.patch(comments_path(ticket["id"], comment["id"]), json={"body": "better"})
    assert response.status_code == 200
    assert response.json["message"] == "Comment has been updated."
    edited = response.json["data"]
    assert edited["body"] == "better" and edited["version"] == 2
    assert edited["edited_at"] is not None and edited["edited_at"] == edited["updated_at"]
    assert edited["edited_at"] > comment["created_at"]
    assert edited["edited_by"] == comment["author"]
    unchanged = client.patch(comments_path(ticket["id"], comment["id"]), json={"body": "better"})
    assert unchanged.json["data"] == edited  # the same body is no edit


def test_only_the_body_can_be_edited(client, ticket, post_comment):
    comment = post_comment(ticket["id"])
    path = comments_path(ticket["id"], comment["id"])
    assert client.patch(path, json={"public": True}).json["errors"] == {
        "body": ["Missing data for required field."], "public": ["Unknown field."]}
    assert client.patch(path, json={"body": ""}).status_code == 422


def test_deleting_leaves_a_marker(client, ticket, post_comment):
    comment = post_comment(ticket["id"], "secret", public=True)
    kept = post_comment(ticket["id"], "kept")
    path = comments_path(ticket["id"], comment["id"])
    response = client.delete(path)
    assert response.status_code == 200
    assert response.json["message"] == "Comment has been deleted."
    marker = response.json["data"]
    assert marker["body"] is None and marker["deleted"] is True
    assert marker["author"] == comment["author"] and marker["created_at"] == comment["created_at"]
    assert marker["deleted_at"] is not None and marker["deleted_by"] is not None
    thread = client.get(comments_path(ticket["id"])).json["data"]["records"]
    assert [c["id"] for c in thread] == [comment["id"], kept["id"]]
    assert thread[0] == marker
    again = client.delete(path)
    assert again.status_code == 409
    assert again.json == {"status": False, "message": "The comment has been deleted",
                          "errors": {}}
    assert client.patch(path, json={"body": "back"}).status_code == 409


def test_the_text_of_a_deleted_comment_is_gone(client, connection, ticket, post_comment):
    comment = post_comment(ticket["id"], "password hunter2")
    client.delete(comments_path(ticket["id"], comment["id"]))
    row = connection.execute(text("SELECT body, search_vector::text FROM comments WHERE id = :id"),
                             {"id": comment["id"]}).one()
    assert row == (None, "")


def test_ticket_counters(client, ticket, post_comment):
    path = f"/api/tickets/{ticket['id']}"
    assert ticket["comments_count"] == 0 and ticket["first_response_at"] is None
    assert ticket["last_activity_at"] == ticket["created_at"]
    note = post_comment(ticket["id"], "internal")
    after_note = client.get(path).json["data"]
    assert after_note["comments_count"] == 1 and after_note["first_response_at"] is None
    assert after_note["last_activity_at"] == note["created_at"]
    assert after_note["updated_at"] == ticket["updated_at"]  # its own fields did not change
    assert after_note["version"] == 2
    reply = post_comment(ticket["id"], "hello", public=True)
    post_comment(ticket["id"], "second reply", public=True)
    after_replies = client.get(path).json["data"]
    assert after_replies["first_response_at"] == reply["created_at"]
    assert after_replies["comments_count"] == 3 and after_replies["version"] == 4
    deleted = client.delete(comments_path(ticket["id"], reply["id"])).json["data"]
    after_delete = client.get(path).json["data"]
    assert after_delete["comments_count"] == 2
    assert after_delete["first_response_at"] == reply["created_at"]  # it was answered then
    assert after_delete["last_activity_at"] == deleted["deleted_at"]
    edited = client.patch(comments_path(ticket["id"], note["id"]), json={"body": "x"}).json["data"]
    assert client.get(path).json["data"]["last_activity_at"] == edited["edited_at"]
    updated = client.patch(path, json={"status": "closed"}).json["data"]
    assert updated["last_activity_at"] >= updated["updated_at"] > edited["edited_at"]


def test_waiting_tickets_and_sorting_by_activity(client, make_ticket, post_comment):
    answered, waiting, noted = make_ticket(), make_ticket(), make_ticket()
    post_comment(answered["id"], "reply", public=True)
    post_comment(noted["id"], "a note is no reply")
    client.patch(f"/api/tickets/{waiting['id']}", json={"priority": "high"})

    def ids(query):
        response = client.get(f"/api/tickets?{query}")
        assert response.status_code == 200, response.json
        return [t["id"] for t in response.json["data"]["records"]]

    assert ids("has_public_reply=true") == [answered["id"]]
    assert set(ids("has_public_reply=false")) == {waiting["id"], noted["id"]}
    assert ids("sort=-last_activity_at") == [waiting["id"], noted["id"], answered["id"]]
    assert ids("sort=last_activity_at") == [answered["id"], noted["id"], waiting["id"]]
    first = client.get("/api/tickets?sort=-last_activity_at&per_page=2").json["data"]
    cursor = first["pagination"]["next_cursor"]
    assert ids(f"sort=-last_activity_at&per_page=2&cursor={cursor}") == [answered["id"]]
    assert client.get("/api/tickets?has_public_reply=sometimes").status_code == 422


def test_search_finds_tickets_by_their_comments(client, make_ticket, post_comment):
    printer = make_ticket(title="Printer", description="Broken")
    router = make_ticket(title="Router", description="Blinking")
    post_comment(printer["id"], "The toner cartridge leaked everywhere")
    post_comment(router["id"], "Firmware updated")
    secret = post_comment(router["id"], "a cartridge of secrets")
    client.delete(comments_path(router["id"], secret["id"]))

    def ids(q):
        return [t["id"] for t in client.get(f"/api/tickets?q={q}").json["data"]["records"]]

    assert ids("cartridges") == [printer["id"]]  # stemmed, and not the deleted comment
    assert ids("firmware") == [router["id"]]
    assert ids("printer") == [printer["id"]]  # the ticket's own text still counts
    assert set(ids("printer OR firmware")) == {printer["id"], router["id"]}


def test_search_goes_through_the_indexes(connection):
    plan = explain_list(connection, {"q": "toner cartridge"})
    assert "ix_comments_search_vector" in plan and "ix_tickets_search_vector" in plan, plan


def test_deleting_a_ticket_deletes_its_comments_but_not_their_history(
        client, connection, ticket, post_comment):
    post_comment(ticket["id"], "one")
    post_comment(ticket["id"], "two")
    assert client.delete(f"/api/tickets/{ticket['id']}").status_code == 200
    remaining = connection.execute(text("SELECT count(*) FROM comments WHERE ticket_id = :id"),
                                   {"id": ticket["id"]}).scalar()
    assert remaining == 0
    history = client.get(f"/api/tickets/{ticket['id']}/events").json["data"]["records"]
    assert [e["event"] for e in history] == ["ticket_created", "comment_created",
                                             "comment_created", "ticket_deleted"]
    assert client.get(comments_path(ticket["id"])).status_code == 404


def test_comment_events_in_the_ticket_history(client, ticket, post_comment):
    comment = post_comment(ticket["id"], "note")
    path = comments_path(ticket["id"], comment["id"])
    edited = client.patch(path, json={"body": "edited note"}).json["data"]
    deleted = client.delete(path).json["data"]
    current = client.get(f"/api/tickets/{ticket['id']}").json["data"]
    history = client.get(f"/api/tickets/{ticket['id']}/events").json["data"]["records"]
    assert [(e["event"], e["version"]) for e in history] == [
        ("ticket_created", 1), ("comment_created", 2), ("comment_updated", 3),
        ("comment_deleted", 4)]
    created_event, updated_event, deleted_event = history[1:]
    assert created_event["comment"] == comment and created_event["changes"] == {}
    assert created_event["ticketId"] == ticket["id"]
    assert created_event["ticket"]["comments_count"] == 1
    assert updated_event["comment"] == edited
    assert updated_event["changes"] == {"body": {"from": "note", "to": "edited note"}}
    assert deleted_event["comment"] == deleted
    assert deleted_event["ticket"] == current


def seed_thread(connection, ticket_id: str, size: int) -> list[str]:
    """Insert `size` comments with SQL, pairs sharing a timestamp; return their ids in order."""
    connection.execute(text(
        "INSERT INTO comments (ticket_id, author, body, public, created_at, updated_at) "
        "SELECT :ticket, '{\"type\": \"system\"}', 'comment ' || n, n % 3 = 0, "
        "       timestamptz '2026-01-01' + (n / 2) * interval '1 second', "
        "       timestamptz '2026-01-01' + (n / 2) * interval '1 second' "
        "FROM generate_series(1, :size) AS n"), {"ticket": ticket_id, "size": size})
    connection.execute(text("ANALYZE comments"))
    return [str(row) for row in connection.execute(text(
        "SELECT id FROM comments WHERE ticket_id = :ticket ORDER BY created_at, id"),
        {"ticket": ticket_id}).scalars()]


def page_through(client, path: str) -> tuple[list[dict], int]:
    records, requests, url = [], 0, path
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json
        requests += 1
        data = response.json["data"]
        records += data["records"]
        cursor = data["pagination"]["next_cursor"]
        url = f"{path}&cursor={cursor}" if cursor else None
    return records, requests


def test_a_thread_of_10000_comments_pages_by_cursor(client, connection, ticket):
    expected = seed_thread(connection, ticket["id"], 10_000)
    records, requests = page_through(client, comments_path(ticket["id"]) + "?per_page=100")
    assert requests == 100
    assert [c["id"] for c in records] == expected
    replies, _ = page_through(client, comments_path(ticket["id"]) + "?per_page=100&public=true")
    assert len(replies) == 3333 and all(c["public"] for c in replies)
    numbered = client.get(comments_path(ticket["id"]) + "?per_page=100&page=100").json["data"]
    assert [c["id"] for c in numbered["records"]] == expected[-100:]
    # Counting stops at pagination.COUNT_LIMIT; the last page still says it is the last.
    assert {k: numbered["pagination"][k] for k in ("total", "total_exact", "next_cursor")} == {
        "total": 1_000, "total_exact": False, "next_cursor": None}


@pytest.mark.parametrize("public", [None, True])
def test_a_page_deep_in_a_long_thread_is_an_index_range_scan(connection, ticket, public):
    seed_thread(connection, ticket["id"], 10_000)
    public_filter = "" if public is None else "AND public = true "
    plan = "\n".join(connection.execute(text(
        "EXPLAIN SELECT * FROM comments WHERE ticket_id = :ticket " + public_filter +
        "AND (created_at, id) > (timestamptz '2026-01-01 01:00', gen_random_uuid()) "
        "ORDER BY created_at, id LIMIT 101"), {"ticket": ticket["id"]}).scalars())
    assert "Index Scan using ix_comments_ticket_id_" in plan, plan
    assert "Sort" not in plan, plan


def test_who_may_do_what_with_comments(client_as, ticket):
    viewer, agent, admin = (client_as(role) for role in (Role.VIEWER, Role.AGENT, Role.ADMIN))
    path = comments_path(ticket["id"])
    assert viewer.post(path, json={"body": "hi"}).status_code == 403
    own = agent.post(path, json={"body": "mine"}).json["data"]
    assert own["author"] == {"type": "api_key", "id": own["author"]["id"], "name": "test agent"}
    theirs = admin.post(path, json={"body": "the admin's"}).json["data"]
    assert theirs["author"]["name"] == "test admin"
    for reader in (viewer, agent, admin):
        assert reader.get(path).status_code == 200
        assert reader.get(comments_path(ticket["id"], own["id"])).status_code == 200

    assert viewer.patch(comments_path(ticket["id"], own["id"]), json={"body": "x"}).json == {
        "status": False, "message": "Not permitted for the viewer role", "errors": {}}
    edited = agent.patch(comments_path(ticket["id"], own["id"]), json={"body": "mine, edited"})
    assert edited.status_code == 200 and edited.json["data"]["edited_by"] == own["author"]
    refused = agent.patch(comments_path(ticket["id"], theirs["id"]), json={"body": "x"})
    assert refused.status_code == 403
    assert refused.json["message"] == "Only its author or an admin may edit a comment"
    moderated = admin.patch(comments_path(ticket["id"], own["id"]), json={"body": "moderated"})
    assert moderated.status_code == 200
    assert moderated.json["data"]["author"] == own["author"]
    assert moderated.json["data"]["edited_by"] == theirs["author"]

    for caller in (viewer, agent):
        assert caller.delete(comments_path(ticket["id"], own["id"])).status_code == 403
    deleted = admin.delete(comments_path(ticket["id"], own["id"])).json["data"]
    assert deleted["deleted_by"] == theirs["author"] and deleted["author"] == own["author"]


def test_comments_need_a_credential(client_as, ticket):
    anonymous = client_as(None)
    response = anonymous.get(comments_path(ticket["id"]))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert anonymous.post(comments_path(ticket["id"]), json={"body": "hi"}).status_code == 401


def test_comment_events_carry_their_actor(client_as, ticket):
    agent = client_as(Role.AGENT)
    comment = agent.post(comments_path(ticket["id"]), json={"body": "hi"}).json["data"]
    client_as(Role.ADMIN).delete(comments_path(ticket["id"], comment["id"]))
    history = client_as(Role.VIEWER).get(f"/api/tickets/{ticket['id']}/events").json["data"]
    created, deleted = history["records"][1:]
    assert created["actor"] == comment["author"]
    assert deleted["actor"]["name"] == "test admin"


def test_concurrent_comments_keep_count_and_versions(committing_app, database_url):
    """Comments posted at once, in real transactions: none is lost from the ticket's counters."""
    client = committing_app(DB_POOL_SIZE=10).test_client()  # a connection per request
    ticket = client.post("/api/tickets", json={"title": "t", "description": "d"}).json["data"]
    statuses = []

    def post(number):
        response = client.post(comments_path(ticket["id"]),
                               json={"body": f"reply {number}", "public": True})
        statuses.append(response.status_code)

    run_behind_ticket_lock(database_url, ticket["id"],
                           [functools.partial(post, number) for number in range(5)])
    assert statuses == [201] * 5
    final = client.get(f"/api/tickets/{ticket['id']}").json["data"]
    assert final["comments_count"] == 5 and final["version"] == 6
    thread_ = client.get(comments_path(ticket["id"])).json["data"]["records"]
    assert final["first_response_at"] == thread_[0]["created_at"]
    assert final["last_activity_at"] == thread_[-1]["created_at"]
    history = client.get(f"/api/tickets/{ticket['id']}/events").json["data"]["records"]
    assert [e["version"] for e in history] == [1, 2, 3, 4, 5, 6]
    assert [e["comment"]["id"] for e in history[1:]] == [c["id"] for c in thread_]
