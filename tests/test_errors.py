"""Every failure answers in the error envelope with the right status, never HTML."""

import logging
import socket
import time

import pytest

from ticketing import create_app

from .conftest import TestConfig


def assert_envelope(response, status: int) -> dict:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.json
    assert body["status"] is False
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["errors"], dict)
    return body


def test_malformed_json_is_400(client):
    response = client.post("/api/tickets", data='{"title": "x",',
                           content_type="application/json")
    body = assert_envelope(response, 400)
    assert body == {"status": False, "message": "Malformed JSON body",
                    "errors": {"body": ["Invalid JSON body."]}}


@pytest.mark.parametrize("path", ["/api/tickets", "/api/agents", "/api/events"])
def test_a_query_string_that_is_not_utf8_is_400(client, path):
    # Raw, as a server hands it over: the \xe9 byte of Latin-1, not percent-encoded UTF-8.
    response = client.get(path, environ_overrides={"QUERY_STRING": "q=caf\xe9"})
    assert response.status_code == 400
    assert response.json == {"status": False, "message": "The query string is not valid UTF-8",
                             "errors": {"query": [
                                 "Percent-encode the UTF-8 bytes of each character."]}}


def test_json_that_is_not_an_object_is_422(client):
    response = client.post("/api/tickets", json=["title"])
    assert_envelope(response, 422)


def test_unknown_route_is_404(client):
    body = assert_envelope(client.get("/api/nothing-here"), 404)
    assert body["message"] == "Resource not found"


def test_wrong_method_is_405(client):
    body = assert_envelope(client.put("/api/tickets"), 405)
    assert body["message"] == "Method not allowed"


def test_body_over_the_limit_is_413(client):
    response = client.post("/api/tickets", data="x" * (1024 * 1024 + 1),
                           content_type="application/json")
    body = assert_envelope(response, 413)
    assert "1048576" in body["message"]


@pytest.fixture
def fresh_app(database_url):
    def make(**overrides):
        return create_app(TestConfig(database_url, **overrides))

    return make


def test_unexpected_exception_is_500_without_details(fresh_app, caplog):
    app = fresh_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/boom")
    body = assert_envelope(response, 500)
    assert body == {"status": False, "message": "Internal server error", "errors": {}}
    assert "secret internals" not in response.get_data(as_text=True)
    assert "secret internals" in caplog.text


def test_database_refusing_connections_is_503(fresh_app):
    app = fresh_app(DATABASE_URL="postgresql+psycopg2://postgres@127.0.0.1:9/nowhere")
    response = app.test_client().get("/api/tickets")
    body = assert_envelope(response, 503)
    assert body["message"] == "Database unavailable, try again shortly"
    assert response.headers["Retry-After"] == "5"


def test_database_that_never_answers_is_503_quickly(fresh_app):
    """A server that accepts TCP but never speaks must not hang the request."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        app = fresh_app(DATABASE_URL=f"postgresql+psycopg2://postgres@127.0.0.1:{port}/x",
                        DB_CONNECT_TIMEOUT=1)
        started = time.monotonic()
        response = app.test_client().post("/api/agents", json={"name": "a",
                                                               "email": "a@example.com"})
        elapsed = time.monotonic() - started
    assert_envelope(response, 503)
    assert elapsed < 5


@pytest.mark.parametrize("path, body", [
    ("/api/tickets", {"title": "a\u0000b", "description": "d"}),
    ("/api/tickets", {"title": "t", "description": "nul \u0000 inside"}),
    ("/api/tickets", {"title": "\ud800", "description": "d"}),
    ("/api/agents", {"name": "A\u0000", "email": "a@example.com"}),
])
def test_text_postgresql_cannot_store_is_422(client, path, body):
    response = client.post(path, json=body)
    body = assert_envelope(response, 422)
    assert len(body["errors"]) == 1


@pytest.mark.parametrize("query", ["/api/tickets?q=a%00b", "/api/agents?q=a%00b"])
def test_nul_in_search_is_422(client, query):
    assert_envelope(client.get(query), 422)


def test_absurdly_nested_json_is_400(client):
    response = client.post("/api/tickets", data="[" * 100_000, content_type="application/json")
    assert assert_envelope(response, 400)["message"] == "Malformed JSON body"


def test_double_slash_is_a_json_404_not_an_html_redirect(client):
    assert_envelope(client.get("/api/tickets//events"), 404)


@pytest.mark.parametrize("payload", [
    '{"s":"-created_at","v":"2020-01-01T00:00:00+00:00","i":5}',
    '{"s":"title","v":"a\\u0000b","i":"00000000-0000-4000-8000-000000000000"}',
    '{"s":"title","v":7,"i":"00000000-0000-4000-8000-000000000000"}',
    '[]',
])
def test_forged_list_cursors_are_422(client, payload):
    from ticketing.pagination import encode_token

    sort = "title" if '"s":"title"' in payload else "-created_at"
    response = client.get(f"/api/tickets?sort={sort}&cursor={encode_token(payload)}")
    assert assert_envelope(response, 422)["errors"] == {
        "cursor": ["Not a cursor returned by this API."]}


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59+23:59", "0001-01-01T00:00:00-23:59",
                                    "2026-01-01T00:00:00"])
def test_cursor_times_postgresql_would_refuse_are_normalised(client, moment):
    from ticketing.pagination import encode_token

    cursor = encode_token(f'{{"s":"-created_at","v":"{moment}",'
                          '"i":"00000000-0000-4000-8000-000000000000"}')
    response = client.get(f"/api/tickets?cursor={cursor}")
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("position", ["18446744073709551616.1", "1.9223372036854775808",
                                      "-1.0", "1"])
def test_forged_feed_cursors_are_422(client, position):
    from ticketing.pagination import encode_token

    response = client.get(f"/api/events?after={encode_token(position)}")
    assert assert_envelope(response, 422)["errors"] == {
        "after": ["Not a cursor returned by this API."]}


def test_async_views_and_hooks_are_refused_at_start(fresh_app):
    from ticketing.app import refuse_async_callables

    app = fresh_app()
    refuse_async_callables(app)  # the app as built: nothing async

    async def hook():
        return None

    app.before_request(hook)
    with pytest.raises(RuntimeError, match="hook is async"):
        refuse_async_callables(app)
    app.before_request_funcs[None].remove(hook)

    async def view():
        return {}

    app.add_url_rule("/async", "async_view", view)
    with pytest.raises(RuntimeError, match="view is async"):
        refuse_async_callables(app)
