"""POST and PATCH of tickets below Flask (ticketing/api/fast_path.py, fast_tickets.py): they
answer and store exactly as the Flask views do, count each request once, and hand Flask
everything else, with its body, or what failed once nothing of it is left in the database."""

import io
import json
import logging
import re
import uuid

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from ticketing.api import tickets as tickets_api
from ticketing.api.fast_path import json_body
from ticketing.auth import Role
from ticketing.models import Event, Ticket
from ticketing.services import tickets as ticket_service

from .fastpath import answer, fast_then_flask, flask_calls, flask_only, tickets_locked

HEADERS = {"X-Request-ID": "fast-write-test", "User-Agent": "tests/1.0"}
BODY = {"title": "Printer on fire", "description": "Third floor", "priority": "high",
        "requester": {"name": "Ada", "email": "ada@example.com"}, "tags": ["vip", "printer"]}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00")


def normalized(response, ticket_id: str) -> tuple:
    """The answer with what differs between two tickets (the id, the times) blanked out."""
    def clean(text: str) -> str:
        return TIMESTAMP.sub("<time>", text.replace(ticket_id, "<id>"))

    status, headers, body = answer(response)
    return status, [(name, clean(value)) for name, value in headers], clean(body.decode())


def events_of(session, ticket_id: str) -> list[tuple]:
    rows = session.scalars(select(Event).where(Event.resource_id == uuid.UUID(ticket_id))
                           .order_by(Event.id))
    return [(event.name, event.version, _blank(event.payload, ticket_id), event.actor)
            for event in rows]


def _blank(payload: dict, ticket_id: str) -> str:
    return TIMESTAMP.sub("<time>", str(payload).replace(ticket_id, "<id>"))


@pytest.fixture
def session(app, connection):
    with app.extensions["db"].new_session() as session:
        yield session


def test_a_plain_post_answers_and_stores_as_flasks_does(app, client, session):
    client.get("/api/tickets")  # the key's first use in this app: looked up, then cached
    fast, slow = fast_then_flask(app, client, "POST", ("/api/tickets", "/api/tickets"),
                                 json=BODY, headers=HEADERS)
    assert fast.status_code == 201
    fast_id, slow_id = fast.json["data"]["id"], slow.json["data"]["id"]
    assert normalized(fast, fast_id) == normalized(slow, slow_id)
    assert fast.headers["Location"] == f"http://localhost/api/tickets/{fast_id}"
    assert fast.headers["ETag"] == f'"{fast_id}.1"'
    assert client.get(fast.headers["Location"]).json["data"] == fast.json["data"]
    assert events_of(session, fast_id) == events_of(session, slow_id)
    assert [name for name, *_ in events_of(session, fast_id)] == ["ticket_created"]


def test_a_plain_patch_answers_and_stores_as_flasks_does(app, client, make_ticket, session):
    first, second = make_ticket(**BODY), make_ticket(**BODY)
    change = {"status": "in_progress", "assigned_to": None, "tags": ["vip"],
              "title": "Printer still on fire"}
    fast, slow = fast_then_flask(
        app, client, "PATCH", (f"/api/tickets/{first['id']}", f"/api/tickets/{second['id']}"),
        json=change, headers=HEADERS)
    assert fast.status_code == 200 and fast.json["data"]["version"] == 2
    assert normalized(fast, first["id"]) == normalized(slow, second["id"])
    assert events_of(session, first["id"]) == events_of(session, second["id"])
    assert events_of(session, first["id"])[-1][0] == "ticket_updated"


def test_a_patch_that_changes_nothing_answers_as_flasks_does(app, client, make_ticket):
    first, second = make_ticket(), make_ticket()
    fast, slow = fast_then_flask(
        app, client, "PATCH", (f"/api/tickets/{first['id']}", f"/api/tickets/{second['id']}"),
        json={"status": "open"}, headers=HEADERS)
    assert fast.status_code == 200 and fast.json["data"]["version"] == 1
    assert normalized(fast, first["id"]) == normalized(slow, second["id"])


@pytest.mark.parametrize("if_match", ['"{id}.1"', '"other", "{id}.1"', "*"])
@pytest.mark.parametrize("suffix", ["", "/"])
def test_a_matching_if_match_is_checked_on_the_fast_path(app, client, make_ticket, if_match,
                                                         suffix):
    ticket = make_ticket()
    headers = {"If-Match": if_match.format(id=ticket["id"])}
    with flask_calls(app) as seen:
        response = client.patch(f"/api/tickets/{ticket['id']}{suffix}",
                                json={"priority": "urgent"}, headers=headers)
    assert response.status_code == 200 and seen == []
    assert response.headers["ETag"] == f'"{ticket["id"]}.2"'


@pytest.mark.parametrize("role", [Role.AGENT, Role.ADMIN])
def test_roles_that_may_write_write_through_the_fast_path(app, client, make_ticket, role):
    writer = app.test_client(credential=role)
    writer.get("/api/tickets")  # the key's first use: looked up, then cached
    ticket = make_ticket()
    with flask_calls(app) as seen:
        created = writer.post("/api/tickets", json=BODY)
        changed = writer.patch(f"/api/tickets/{ticket['id']}", json={"status": "closed"})
    assert (created.status_code, changed.status_code, seen) == (201, 200, [])
    assert created.json["data"]["created_by"]["name"] == f"test {role}"


def flask_never_writes(monkeypatch):
    """The fast path tried the write; the Flask views must not run it again."""
    def write_again(*_args, **_kwargs):
        raise AssertionError("the write was run twice")

    monkeypatch.setattr(ticket_service, "create_ticket", write_again)
    monkeypatch.setattr(tickets_api, "update_ticket", write_again)


def ticket_count(session) -> int:
    return len(session.scalars(select(Ticket.id)).all())


@pytest.mark.parametrize(("case", "status", "message"), [
    ("missing ticket", 404, "Ticket not found"),
    ("stale If-Match", 412, "Ticket has changed since you read it: it is now at version 1"),
    ("weak If-Match", 412, "Ticket has changed since you read it: it is now at version 1"),
    ("unknown agent", 422, "Unknown agent"),
])
def test_a_refused_write_is_answered_by_flask_after_the_fast_path_rolled_it_back(
        app, client, make_ticket, session, monkeypatch, case, status, message):
    ticket = make_ticket()
    path, body, headers = f"/api/tickets/{ticket['id']}", {"status": "closed"}, {}
    if case == "missing ticket":
        path = f"/api/tickets/{uuid.uuid4()}"
    elif case == "stale If-Match":
        headers = {"If-Match": f'"{ticket["id"]}.0"'}
    elif case == "weak If-Match":
        headers = {"If-Match": f'W/"{ticket["id"]}.1"'}
    else:
        body = {"assigned_to": str(uuid.uuid4())}
    before = ticket_count(session), events_of(session, ticket["id"])
    flask_never_writes(monkeypatch)
    with flask_calls(app) as seen:
        response = client.patch(path, json=body, headers=headers)
    assert (response.status_code, response.json["message"]) == (status, message)
    assert len(seen) == 1  # handed over once
    if status == 412:
        assert response.headers["ETag"] == f'"{ticket["id"]}.1"'
    assert (ticket_count(session), events_of(session, ticket["id"])) == before
    assert client.get(f"/api/tickets/{ticket['id']}").json["data"] == ticket


def test_a_post_refused_by_the_database_stores_nothing(app, client, session, monkeypatch):
    before = ticket_count(session)
    flask_never_writes(monkeypatch)
    with flask_calls(app) as seen:
        response = client.post("/api/tickets", json={**BODY, "assigned_to": str(uuid.uuid4())})
    assert (response.status_code, response.json["message"]) == (422, "Unknown agent")
    assert response.json["errors"] == {"assigned_to": ["No agent with this id."]}
    assert len(seen) == 1 and ticket_count(session) == before


def test_if_match_required_by_the_server_is_enforced_on_the_fast_path(committing_app):
    app = committing_app(REQUIRE_IF_MATCH=True)
    client = app.test_client()
    ticket = client.post("/api/tickets", json=BODY).json["data"]
    with flask_calls(app) as seen:
        refused = client.patch(f"/api/tickets/{ticket['id']}", json={"status": "closed"})
        accepted = client.patch(f"/api/tickets/{ticket['id']}", json={"status": "closed"},
                                headers={"If-Match": f'"{ticket["id"]}.1"'})
    assert (refused.status_code, accepted.status_code) == (428, 200)
    assert refused.json["errors"] == {"If-Match": ["Required for writes on this server."]}
    assert len(seen) == 1 and seen[0][2] is None  # rate limits off: nothing counted


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), [
    ("POST", "/api/tickets", {"json": BODY, "headers": {"Idempotency-Key": "k-1"}}, 201),
    ("POST", "/api/tickets", {"data": "title=x", "content_type": "text/plain"}, 415),
    ("POST", "/api/tickets", {"data": "{not json", "content_type": "application/json"}, 400),
    ("POST", "/api/tickets", {"data": "", "content_type": "application/json"}, 422),
    ("POST", "/api/tickets", {"json": {"title": "", "description": "d"}}, 422),
    ("POST", "/api/tickets", {"json": {**BODY, "colour": "red"}}, 422),
    ("POST", "/api/tickets", {"json": [BODY]}, 422),
    ("POST", "/api/tickets", {"data": "\ufeff{}".encode(), "content_type": "application/json"},
     400),
    ("POST", "/api/tickets", {"json": {**BODY, "description": "x" * 1_100_000}}, 413),
    ("POST", "/api/tickets/", {"json": BODY}, 201),  # Flask's URL map takes it
    ("PATCH", "/api/tickets/{id}", {"json": {}}, 422),
    ("PATCH", "/api/tickets/{id}", {"json": {"status": "gone"}}, 422),
    ("PATCH", "/api/tickets/not-an-id", {"json": {"status": "closed"}}, 404),
    ("PATCH", "/api/tickets/{id}", {"data": "status=closed",
                                    "content_type": "application/x-www-form-urlencoded"}, 415),
])
def test_anything_but_a_plain_write_goes_to_flask_uncounted_with_its_body(
        app, client, make_ticket, method, path, kwargs, status):
    ticket = make_ticket()
    path = path.format(id=ticket["id"])
    with flask_calls(app) as seen:
        response = client.open(path, method=method, **kwargs)
    with flask_only(app):  # the same key again: Flask replays its answer
        alone = client.open(path, method=method, **kwargs)
    assert seen == [(method, path, None)]
    assert response.status_code == alone.status_code == status
    if status == 422:  # Flask read the body the fast path had read: the same complaint
        assert response.json == alone.json


def test_a_viewer_is_refused_by_flask(app, client_as, make_ticket):
    ticket = make_ticket()
    viewer = client_as(Role.VIEWER)
    viewer.get("/api/tickets")
    with flask_calls(app) as seen:
        responses = [viewer.post("/api/tickets", json=BODY),
                     viewer.patch(f"/api/tickets/{ticket['id']}", json={"status": "closed"})]
    assert [response.status_code for response in responses] == [403, 403]
    assert [method for method, *_ in seen] == ["POST", "PATCH"]


def test_each_write_is_counted_once_whichever_path_answers(limited_app, committing_app,
                                                           monkeypatch):
    app = limited_app()
    client = app.test_client()
    created = client.post("/api/tickets", json=BODY)  # caches the credential; 4 left
    path, missing = f"/api/tickets/{created.json['data']['id']}", f"/api/tickets/{uuid.uuid4()}"
    flask_never_writes(monkeypatch)
    with flask_calls(app) as seen:
        answers = [client.patch(path, json={"status": "closed"}),
                   client.patch(missing, json={"status": "closed"}),
                   client.post("/api/tickets", json={"title": ""}),  # invalid: Flask counts
                   client.post("/api/tickets", json=BODY),
                   client.post("/api/tickets", json=BODY)]
    assert [a.status_code for a in answers] == [200, 404, 422, 201, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["3", "2", "1", "0", "0"]
    assert [(path_, window and window.count) for _, path_, window in seen] == [
        (missing, 3), ("/api/tickets", None), ("/api/tickets", 6)]
    with app.extensions["db"].new_session() as session:
        assert ticket_count(session) == 2  # the 429 wrote nothing


def test_fast_and_flask_answers_match_with_rate_limits_on(limited_app, committing_app):
    app = limited_app(RATE_LIMIT_DEFAULT="100 per minute")
    client = app.test_client()
    client.get("/api/tickets")
    fast, slow = fast_then_flask(app, client, "POST", ("/api/tickets", "/api/tickets"),
                                 json=BODY, headers=HEADERS)
    fast_answer = normalized(fast, fast.json["data"]["id"])
    slow_answer = normalized(slow, slow.json["data"]["id"])
    assert (fast.headers["RateLimit-Remaining"], slow.headers["RateLimit-Remaining"]) == (
        "98", "97")
    assert [name for name, _ in fast_answer[1]] == [name for name, _ in slow_answer[1]]
    assert fast_answer[2] == slow_answer[2]


def test_a_database_error_rolls_back_and_is_answered_by_flask(limited_app, committing_app,
                                                              database_url, caplog,
                                                              monkeypatch):
    app = limited_app(DB_STATEMENT_TIMEOUT_MS=200)
    client = app.test_client()
    ticket = client.post("/api/tickets", json=BODY).json["data"]
    flask_never_writes(monkeypatch)
    with tickets_locked(database_url), flask_calls(app) as seen, \
            caplog.at_level(logging.INFO):
        created = client.post("/api/tickets", json=BODY)
        changed = client.patch(f"/api/tickets/{ticket['id']}", json={"status": "closed"})
    for response in (created, changed):
        assert response.status_code == 503
        assert response.json["message"] == "The database took too long to answer"
    assert [r.headers["RateLimit-Remaining"] for r in (created, changed)] == ["3", "2"]
    assert len(seen) == 2 and all(window is not None for *_, window in seen)
    lines = [r for r in caplog.records if r.name == "ticketing.request"]
    assert [line.status for line in lines] == [503, 503]
    assert all(line.duration_ms >= 200 for line in lines)  # from the fast path's start
    listed = client.get("/api/tickets").json["data"]["records"]
    assert [(t["id"], t["status"]) for t in listed] == [(ticket["id"], "open")]


def test_the_log_line_and_metrics_are_the_flask_paths(app, client, make_ticket, caplog):
    ticket = make_ticket()
    labels = {"method": "PATCH", "endpoint": "/api/tickets/<ticket_id>", "status": "200"}
    posted = {"method": "POST", "endpoint": "/api/tickets", "status": "201"}
    before = [REGISTRY.get_sample_value("http_requests_total", each) or 0
              for each in (labels, posted)]
    path = f"/api/tickets/{ticket['id']}"
    with caplog.at_level(logging.INFO, logger="ticketing.request"):
        fast_then_flask(app, client, "PATCH", (path, path), json={"status": "closed"},
                        headers=HEADERS)
        fast_then_flask(app, client, "POST", ("/api/tickets", "/api/tickets"), json=BODY,
                        headers=HEADERS)
    after = [REGISTRY.get_sample_value("http_requests_total", each) for each in (labels, posted)]
    assert after == [before[0] + 2, before[1] + 2]
    lines = [record for record in caplog.records if record.name == "ticketing.request"]
    fields = ("request_id", "method", "path", "status", "remote_addr", "user_agent")
    assert [[getattr(line, name) for name in fields] for line in lines] == [
        ["fast-write-test", "PATCH", path, 200, "127.0.0.1", "tests/1.0"]] * 2 + [
        ["fast-write-test", "POST", "/api/tickets", 201, "127.0.0.1", "tests/1.0"]] * 2


@pytest.mark.parametrize("origin", [None, "https://desk.example.com", "https://evil.example"])
def test_cors_headers_are_flask_cors_own(committing_app, origin):
    app = committing_app(CORS_ORIGINS=["https://desk.example.com"])
    client = app.test_client()
    client.get("/api/tickets")
    headers = {**HEADERS, **({"Origin": origin} if origin else {})}
    fast, slow = fast_then_flask(app, client, "POST", ("/api/tickets", "/api/tickets"),
                                 json=BODY, headers=headers)
    assert normalized(fast, fast.json["data"]["id"]) == normalized(slow, slow.json["data"]["id"])
    path = f"/api/tickets/{fast.json['data']['id']}"
    fast, slow = fast_then_flask(app, client, "PATCH", (path, path), json={"status": "closed"},
                                 headers=headers)
    assert answer(fast) == answer(slow)  # the second PATCH changed nothing
    if origin is not None:
        allowed = fast.headers.get("Access-Control-Allow-Origin")
        assert allowed == (origin if origin == "https://desk.example.com" else None)


@pytest.mark.parametrize("host", ["desk.example.com", "desk.example.com:8443", "[::1]:8000"])
def test_the_location_is_the_one_flask_builds(app, client, host):
    headers = {**HEADERS, "Host": host}
    fast, slow = fast_then_flask(app, client, "POST", ("/api/tickets", "/api/tickets"),
                                 json=BODY, headers=headers, base_url=f"https://{host}/")
    fast_id, slow_id = fast.json["data"]["id"], slow.json["data"]["id"]
    assert fast.headers["Location"] == f"https://{host}/api/tickets/{fast_id}"
    assert normalized(fast, fast_id) == normalized(slow, slow_id)


def test_a_fast_write_wakes_the_relay_after_its_commit(committing_app, monkeypatch):
    app = committing_app()
    client = app.test_client()
    woken = []
    monkeypatch.setattr(app.extensions["realtime"], "wake", lambda: woken.append(True))
    created = client.post("/api/tickets", json=BODY)  # the credential's lookup: Flask
    assert woken == [True]
    with flask_calls(app) as seen:
        client.post("/api/tickets", json=BODY)
        client.patch(f"/api/tickets/{created.json['data']['id']}", json={"status": "closed"})
        client.patch(f"/api/tickets/{uuid.uuid4()}", json={"status": "closed"})  # nothing
    assert len(woken) == 3 and len(seen) == 1


@pytest.mark.parametrize("raw", [
    b'{"n": -9223372036854775809, "m": 18446744073709551616}', b'{"n": NaN, "i": -Infinity}',
    '{"title": "caf\u00e9"}'.encode(), b'{"a": 1, "a": 2}'])
def test_a_body_is_read_as_the_views_read_it_and_put_back(raw):
    environ = {"CONTENT_TYPE": "Application/JSON; charset=utf-8",
               "CONTENT_LENGTH": str(len(raw)), "wsgi.input": io.BytesIO(raw)}
    assert repr(json_body(environ, None)) == repr(json.loads(raw.decode()))
    assert environ["wsgi.input"].read() == raw


@pytest.mark.parametrize("raw", [
    '\ufeff{"title": "caf\u00e9"}'.encode(), '{"title": "caf\u00e9"}'.encode("utf-16"),
    '{"title": "caf\u00e9"}'.encode("latin-1")])
def test_a_body_the_views_cannot_read_is_left_to_flask(app, client, raw):
    # json.loads of the bytes would read the first two; webargs reads UTF-8 text only.
    environ = {"CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(raw)),
               "wsgi.input": io.BytesIO(raw)}
    assert json_body(environ, None) is None
    assert environ["wsgi.input"].read() == raw
    body = {"data": raw, "content_type": "application/json"}
    with flask_calls(app) as seen:
        response = client.post("/api/tickets", **body)
    assert response.status_code == 400 and len(seen) == 1


@pytest.mark.parametrize(("content_type", "length", "raw"), [
    ("text/plain", "2", b"{}"), ("application/problem+json", "2", b"{}"),
    ("application/json", "", b"{}"), ("application/json", "\u0662", b"{}"),
    ("application/json", "0", b""), ("application/json", "3", b"{}"),
    ("application/json", "5", b"{]..."), ("application/json", "9", b"x" * 9)])
def test_bodies_flask_must_judge_are_put_back_unparsed(content_type, length, raw):
    environ = {"CONTENT_TYPE": content_type, "CONTENT_LENGTH": length,
               "wsgi.input": io.BytesIO(raw)}
    assert json_body(environ, 8) is None
    assert environ["wsgi.input"].read() == raw
