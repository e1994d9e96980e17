"""GET /api/tickets/<id> below Flask (ticketing/api/fast_path.py): it answers exactly as the
Flask view does, counts each request once, and hands Flask everything else."""

import logging
import uuid
from urllib.parse import quote

import pytest
from prometheus_client import REGISTRY

from ticketing.auth import Role
from ticketing.services import tickets as ticket_service

from .fastpath import answer, fast_then_flask, flask_calls, flask_only, tickets_locked

REQUEST = {"headers": {"X-Request-ID": "fast-read-test", "User-Agent": "tests/1.0"}}


def both_answers(app, path: str, client=None, **kwargs) -> tuple[tuple, tuple]:
    """(the fast path's answer, Flask's answer) to the same request; the fast one must not
    have reached Flask."""
    fast, slow = fast_then_flask(app, client or app.test_client(), "GET", (path, path), **kwargs)
    return answer(fast), answer(slow)


@pytest.fixture
def ticket(make_ticket, client):
    made = make_ticket(tags=["printer", "vip"], requester={"name": "Ada", "email": "a@x.io"})
    client.post(f"/api/tickets/{made['id']}/comments", json={"body": "On it"})
    return client.get(f"/api/tickets/{made['id']}").json["data"]


def test_a_plain_read_is_answered_below_flask_byte_for_byte_as_flask_answers(app, ticket):
    fast, slow = both_answers(app, f"/api/tickets/{ticket['id']}", **REQUEST)
    assert fast == slow
    status, headers, body = fast
    assert status == "200 OK" and b'"comments_count":1' in body
    assert dict(headers)["ETag"] == f'"{ticket["id"]}.{ticket["version"]}"'


@pytest.mark.parametrize("role", list(Role))
def test_every_role_reads_through_the_fast_path(app, ticket, role):
    client = app.test_client(credential=role)
    client.get("/api/tickets")  # the key's first use: looked up, then cached
    fast, slow = both_answers(app, f"/api/tickets/{ticket['id']}", client, **REQUEST)
    assert fast == slow and fast[0] == "200 OK"


def test_id_spellings_that_flask_accepts_are_answered_alike(app, ticket):
    for spelling in (ticket["id"].upper(), ticket["id"].replace("-", ""),
                     "{" + ticket["id"] + "}", ticket["id"] + "/"):
        fast, slow = both_answers(app, f"/api/tickets/{spelling}", **REQUEST)
        assert fast == slow and fast[0] == "200 OK"


@pytest.mark.parametrize(("if_none_match", "status"), [
    ("{etag}", "304 NOT MODIFIED"), ("W/{etag}", "304 NOT MODIFIED"), ("*", "304 NOT MODIFIED"),
    ('"other", {etag}', "304 NOT MODIFIED"), ('"{id}.0"', "200 OK"), ("", "200 OK"),
    ("not quoted", "200 OK")])
def test_conditional_reads_are_answered_alike(app, ticket, if_none_match, status):
    etag = f'"{ticket["id"]}.{ticket["version"]}"'
    header = if_none_match.format(etag=etag, id=ticket["id"])
    headers = {**REQUEST["headers"], "If-None-Match": header}
    fast, slow = both_answers(app, f"/api/tickets/{ticket['id']}", headers=headers)
    assert fast == slow and fast[0] == status
    if status.startswith("304"):
        assert fast[2] == b"" and dict(fast[1])["ETag"] == etag


def test_the_log_line_and_metrics_are_the_flask_paths(app, ticket, caplog):
    path = f"/api/tickets/{ticket['id']}"
    labels = {"method": "GET", "endpoint": "/api/tickets/<ticket_id>", "status": "200"}
    before = REGISTRY.get_sample_value("http_requests_total", labels) or 0
    with caplog.at_level(logging.INFO, logger="ticketing.request"):
        both_answers(app, path, **REQUEST)
    assert REGISTRY.get_sample_value("http_requests_total", labels) == before + 2
    fast, slow = (record for record in caplog.records if record.name == "ticketing.request")
    fields = ("request_id", "method", "path", "status", "remote_addr", "user_agent")
    assert [getattr(fast, name) for name in fields] == [getattr(slow, name) for name in fields]
    assert [getattr(fast, name) for name in fields] == [
        "fast-read-test", "GET", path, 200, "127.0.0.1", "tests/1.0"]
    assert fast.getMessage().startswith(f"GET {path} 200 ") and fast.duration_ms > 0


LIST_QUERIES = [
    "", "status=open&priority=high&per_page=20", "status=open,closed", "status=open&status=closed",
    "q=printer", "q=%20printer%20", "sort=-priority", "page=2&per_page=1", "tags=vip",
    "tags=vip&tags=printer", "tags_any=vip,nothing", "assigned_to=none",
    "requester_email=A%40X.IO", "created_after=2020-01-01T00:00:00%2B02:00", "has_public_reply=0",
    "per_page=1&sort=created_at", "q=%FF"]


@pytest.mark.parametrize("query", LIST_QUERIES)
def test_a_list_page_is_answered_below_flask_byte_for_byte_as_flask_answers(app, ticket, query):
    fast, slow = both_answers(app, f"/api/tickets?{query}", **REQUEST)
    assert fast == slow and fast[0] == "200 OK"


def test_a_list_page_by_cursor_is_answered_alike(app, make_ticket, ticket):
    for _ in range(3):
        make_ticket()
    first = app.test_client().get("/api/tickets?per_page=2").json
    cursor = quote(first["data"]["pagination"]["next_cursor"])
    fast, slow = both_answers(app, f"/api/tickets?per_page=2&cursor={cursor}", **REQUEST)
    assert fast == slow and fast[0] == "200 OK" and b'"records":[{' in fast[2]


@pytest.mark.parametrize("query", [
    "per_page=0", "per_page=x", "colour=red", "status=gone", "q=", "sort=-colour",
    "created_after=2030-01-01&created_before=2020-01-01", "cursor=nonsense", "q=caf\xe9"])
def test_a_list_query_flask_must_refuse_goes_to_flask(app, ticket, query):
    # The raw query string, as a server hands it over: "q=caf\xe9" is not UTF-8.
    raw = {"environ_overrides": {"QUERY_STRING": query}}
    with flask_calls(app) as seen:
        response = app.test_client().get("/api/tickets", **raw)
    with flask_only(app):
        alone = app.test_client().get("/api/tickets", **raw)
    assert (response.status_code, response.json) == (alone.status_code, alone.json)
    assert seen == [("GET", "/api/tickets", None)]


@pytest.mark.parametrize(("method", "suffix", "headers", "status"), [
    ("HEAD", "", {}, 200),
    ("GET", "//", {}, 404),
    ("GET", "/comments", {}, 200),
    ("GET", "x", {}, 404),  # not an id
    ("GET", "", {"Authorization": "Basic abc"}, 401),
    ("GET", "", {"Authorization": "Bearer tkt_" + "x" * 43}, 401),  # not a key
    ("GET", "", {"Authorization": ""}, 401),
])
def test_anything_but_a_plain_read_goes_to_flask_uncounted(app, ticket, method, suffix,
                                                           headers, status):
    path = f"/api/tickets/{ticket['id']}{suffix}"
    with flask_calls(app) as seen:
        response = app.test_client().open(path, method=method, headers=headers)
    assert response.status_code == status
    assert seen == [(method, path, None)]


@pytest.fixture
def committed_ticket(committing_app):
    app = committing_app()
    response = app.test_client().post("/api/tickets", json={"title": "t", "description": "d"})
    return response.json["data"]


def flask_never_reads(monkeypatch):
    """The fast path read the ticket; the Flask view must not read it again."""
    def read_again(*_args):
        raise AssertionError("the ticket was read twice")

    monkeypatch.setattr(ticket_service, "read_ticket", read_again)


def test_each_request_is_counted_once_whichever_path_answers(limited_app, committed_ticket,
                                                             monkeypatch):
    app = limited_app()
    client = app.test_client()
    client.get("/api/tickets")  # caches the credential; 4 left
    flask_never_reads(monkeypatch)
    found, missing = f"/api/tickets/{committed_ticket['id']}", f"/api/tickets/{uuid.uuid4()}"
    with flask_calls(app) as seen:
        answers = [client.get(path) for path in (found, missing, found, missing, found)]
    assert [a.status_code for a in answers] == [200, 404, 200, 404, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["3", "2", "1", "0", "0"]
    assert all(a.headers["RateLimit-Limit"] == "5" for a in answers)
    assert answers[4].headers["Retry-After"] == answers[4].headers["RateLimit-Reset"]
    assert answers[4].json["message"].startswith("Too many requests")
    # Flask answered the 404 and both 429s, each with the window the fast path counted.
    assert [(path, window.count) for _, path, window in seen] == [
        (missing, 3), (missing, 5), (found, 6)]


@pytest.mark.parametrize("conditional", [False, True])
def test_fast_and_flask_answers_match_with_rate_limits_on(limited_app, committed_ticket,
                                                          conditional):
    app = limited_app(RATE_LIMIT_DEFAULT="100 per minute")
    path = f"/api/tickets/{committed_ticket['id']}"
    app.test_client().get("/api/tickets")
    headers = {**REQUEST["headers"], **(
        {"If-None-Match": f'"{committed_ticket["id"]}.1"'} if conditional else {})}
    (status, fast, body), (_, slow, slow_body) = both_answers(app, path, headers=headers)
    assert status == ("304 NOT MODIFIED" if conditional else "200 OK") and body == slow_body
    assert [name for name, _ in fast] == [name for name, _ in slow]
    remaining = [int(value) for name, value in fast + slow if name == "RateLimit-Remaining"]
    assert remaining == [98, 97]
    assert [pair for pair in fast if pair[0] != "RateLimit-Remaining"] == [
        pair for pair in slow if pair[0] != "RateLimit-Remaining"]


def test_a_database_error_is_answered_by_flask_in_the_envelope(limited_app, committed_ticket,
                                                               database_url, caplog,
                                                               monkeypatch):
    app = limited_app(DB_STATEMENT_TIMEOUT_MS=200)
    client = app.test_client()
    client.get("/api/tickets")
    flask_never_reads(monkeypatch)
    with tickets_locked(database_url), flask_calls(app) as seen, caplog.at_level(logging.INFO):
        response = client.get(f"/api/tickets/{committed_ticket['id']}")
    assert response.status_code == 503
    assert response.json["message"] == "The database took too long to answer"
    assert response.headers["RateLimit-Remaining"] == "3"  # counted once
    assert len(seen) == 1 and seen[0][2] is not None
    lines = [r for r in caplog.records if r.name == "ticketing.request"]
    assert len(lines) == 1 and lines[0].status == 503
    assert lines[0].duration_ms >= 200  # from the fast path's start
    errors = [r.getMessage() for r in caplog.records if r.name == "ticketing.errors"]
    assert errors == ["database refused the request: SQLSTATE 57014 QueryCanceled"]


def test_a_credential_is_looked_up_by_flask_once_then_read_fast(committing_app,
                                                                 committed_ticket):
    app = committing_app()  # a fresh credentials cache
    client = app.test_client(credential=Role.VIEWER)
    path = f"/api/tickets/{committed_ticket['id']}"
    with flask_calls(app) as seen:
        assert [client.get(path).status_code for _ in range(3)] == [200, 200, 200]
    assert seen == [("GET", path, None)]


def test_without_a_credential_flask_refuses_and_an_anonymous_role_reads_fast(
        committing_app, committed_ticket):
    closed, open_ = committing_app(), committing_app(AUTH_ANONYMOUS_ROLE="viewer")
    path = f"/api/tickets/{committed_ticket['id']}"
    with flask_calls(closed) as seen:
        assert closed.test_client(credential=None).get(path).status_code == 401
    assert len(seen) == 1
    fast, slow = both_answers(open_, path, open_.test_client(credential=None), **REQUEST)
    assert fast == slow and fast[0] == "200 OK"


@pytest.mark.parametrize("origins", [["https://desk.example.com"],
                                     ["https://desk.example.com", "https://admin.example.com"]])
@pytest.mark.parametrize("origin", [None, "https://desk.example.com", "https://evil.example"])
def test_cors_headers_are_flask_cors_own(committing_app, committed_ticket, origins, origin):
    app = committing_app(CORS_ORIGINS=origins)
    client = app.test_client()
    client.get("/api/tickets")
    headers = {**REQUEST["headers"], **({"Origin": origin} if origin else {})}
    path = f"/api/tickets/{committed_ticket['id']}"
    fast, slow = both_answers(app, path, client, headers=headers)
    assert fast == slow and fast[0] == "200 OK"
    unchanged = {**headers, "If-None-Match": dict(fast[1])["ETag"]}
    fast_304, slow_304 = both_answers(app, path, client, headers=unchanged)
    assert fast_304 == slow_304 and fast_304[0] == "304 NOT MODIFIED"
    allowed = dict(fast[1]).get("Access-Control-Allow-Origin")
    if origin is not None:
        assert allowed == (None if origin == "https://evil.example" else origin)
