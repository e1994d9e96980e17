"""Conversation events reach Ably in the ticket's own ordered stream."""


from ticketing.realtime.publisher import MAX_MESSAGE_BYTES, encoded_size

TICKETS = "tickets-updates"


def test_comment_and_tag_events_are_published_in_version_order(live, fake_ably):
    ticket = live.post("/api/tickets", json={"title": "t", "description": "d"}).json["data"]
    comments = f"/api/tickets/{ticket['id']}/comments"
    note = live.post(comments, json={"body": "internal"}).json["data"]
    live.post(f"/api/tickets/{ticket['id']}/tags", json={"tags": ["vpn"]})
    live.patch(f"{comments}/{note['id']}", json={"body": "still internal"})
    live.delete(f"{comments}/{note['id']}")

    messages = fake_ably.wait_for(TICKETS, 5)
    assert [(m["name"], m["data"]["version"]) for m in messages] == [
        ("ticket_created", 1), ("comment_created", 2), ("ticket_updated", 3),
        ("comment_updated", 4), ("comment_deleted", 5)]
    assert messages[1]["data"]["comment"]["body"] == "internal"  # notes reach staff too
    assert messages[2]["data"]["changes"] == {"tags": {"from": [], "to": ["vpn"]}}
    assert messages[4]["data"]["comment"]["deleted"] is True
    assert all(m["data"]["ticketId"] == ticket["id"] for m in messages)
    assert all(m["data"]["actor"]["type"] == "api_key" for m in messages)
    feed = live.get("/api/events?limit=100").json["data"]["records"]
    assert [(e["event"], e["version"], e["actor"]) for e in feed] == [
        (m["name"], m["data"]["version"], m["data"]["actor"]) for m in messages]


def test_an_oversized_comment_event_is_published_without_its_texts(live, fake_ably):
    ticket = live.post("/api/tickets", json={"title": "t", "description": "d"}).json["data"]
    comments = f"/api/tickets/{ticket['id']}/comments"
    long_body = "€" * 50_000  # 150,000 bytes of UTF-8
    comment = live.post(comments, json={"body": long_body}).json["data"]
    live.patch(f"{comments}/{comment['id']}", json={"body": long_body[:-1]})

    created, updated = fake_ably.wait_for(TICKETS, 3)[1:]
    for message in (created, updated):
        assert message["data"]["truncated"] is True
        assert message["data"]["comment"]["body"] is None
        assert message["data"]["comment"]["id"] == comment["id"]
        assert encoded_size(message["data"]) <= MAX_MESSAGE_BYTES
    assert updated["data"]["changes"] == {}
    history = live.get(f"/api/tickets/{ticket['id']}/events").json["data"]["records"]
    assert history[2]["changes"]["body"]["to"] == long_body[:-1]  # the feed keeps it whole
