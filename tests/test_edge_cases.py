"""Inputs at the edges answer in the envelope with the right status, never 500 or a wrong list."""

import logging

import pytest
from flask import Blueprint
from sqlalchemy import text

from ticketing import create_app
from ticketing.api.common import retry_transient_failure
from ticketing.db import db

from .conftest import TestConfig
from .test_errors import assert_envelope


@pytest.mark.parametrize("moment", ["2000-01-01T00:00:00+23:00", "2000-01-01T00:00:00-23:59",
                                    "0001-01-01T23:00:00+23:00"])
def test_offsets_beyond_postgresql_range_are_read_in_utc(client, make_ticket, moment):
    ticket = make_ticket()
    response = client.get("/api/tickets", query_string={"created_after": moment})
    assert response.status_code == 200, response.json
    assert [t["id"] for t in response.json["data"]["records"]] == [ticket["id"]]


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-23:00", "0001-01-01T00:00:00+01:00",
                                    "2026-02-30T00:00:00Z", "2026-01-01T24:00:00Z"])
def test_dates_out_of_range_or_impossible_are_422(client, moment):
    response = client.get("/api/tickets", query_string={"created_before": moment})
    assert list(assert_envelope(response, 422)["errors"]) == ["created_before"]


def test_repeated_list_parameters_are_all_read(client, make_ticket):
    for status in ("open", "in_progress", "closed", "resolved"):
        make_ticket(status=status, priority="high" if status == "open" else "low")
    for query, expected in [("status=open&status=closed", {"open", "closed"}),
                            ("status=open,closed&status=resolved", {"open", "closed", "resolved"}),
                            ("status=closed", {"closed"})]:
        records = client.get(f"/api/tickets?{query}").json["data"]["records"]
        assert {t["status"] for t in records} == expected, query
    records = client.get("/api/tickets?priority=high&priority=urgent").json["data"]["records"]
    assert [t["status"] for t in records] == ["open"]


def test_repeated_list_parameter_with_a_bad_value_is_422(client):
    response = client.get("/api/tickets?status=open&status=nope")
    assert list(assert_envelope(response, 422)["errors"]) == ["status"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
@pytest.mark.parametrize("method, path", [("post", "/api/tickets"), ("post", "/api/agents")])
def test_body_without_json_content_type_is_415(client, method, path, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = getattr(client, method)(path, data='{"title": "t", "description": "d"}',
                                       headers=headers)
    body = assert_envelope(response, 415)
    assert "application/json" in body["message"]
    assert body["errors"] == {"Content-Type": ["Must be application/json."]}


def test_patch_without_json_content_type_is_415(client, make_ticket):
    ticket = make_ticket()
    response = client.patch(f"/api/tickets/{ticket['id']}", data='{"title": "t"}',
                            content_type="text/plain")
    assert_envelope(response, 415)


def test_json_with_charset_is_still_json(client):
    response = client.post("/api/agents", data='{"name": "A", "email": "a@example.com"}',
                           content_type="application/json; charset=utf-8")
    assert response.status_code == 201


@pytest.mark.parametrize("field, value", [("description", "   "), ("description", "\n\t "),
                                          ("title", "   ")])
def test_blank_texts_are_422(client, field, value):
    body = {"title": "Printer", "description": "On fire", field: value}
    response = client.post("/api/tickets", json=body)
    assert assert_envelope(response, 422)["errors"] == {field: ["Must not be blank."]}


def test_blank_description_update_is_422(client, make_ticket):
    ticket = make_ticket()
    response = client.patch(f"/api/tickets/{ticket['id']}", json={"description": " "})
    assert assert_envelope(response, 422)["errors"] == {"description": ["Must not be blank."]}


def test_descriptions_keep_their_indentation(client):
    response = client.post("/api/tickets", json={"title": "  Code  ", "description": "    x = 1"})
    assert response.status_code == 201
    assert response.json["data"]["title"] == "Code"
    assert response.json["data"]["description"] == "    x = 1"


@pytest.mark.parametrize("path", ["/api/tickets", "/api/agents"])
def test_deep_page_numbers_point_to_cursors(client, path):
    assert client.get(f"{path}?page=100&per_page=100").status_code == 200
    body = assert_envelope(client.get(f"{path}?page=101"), 422)
    assert "cursor" in body["errors"]["page"][0]
    assert_envelope(client.get(f"{path}?page=1000000"), 422)


def test_wrong_method_names_the_allowed_ones(client, make_ticket):
    response = client.put("/api/tickets")
    assert_envelope(response, 405)
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    ticket = make_ticket()
    response = client.post(f"/api/tickets/{ticket['id']}")
    assert set(response.headers["Allow"].split(", ")) == {
        "GET", "HEAD", "OPTIONS", "PATCH", "DELETE"}


def test_root_points_to_the_documentation(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.json["data"]["docs"] == "/docs"
    assert response.json["data"]["openapi"] == "/openapi.json"
    assert client.get(response.json["data"]["openapi"]).status_code == 200


# Database failures: PostgreSQL itself raises each SQLSTATE (RAISE ... USING ERRCODE).

def raise_sqlstate(code: str) -> None:
    db.session.execute(text(f"DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '{code}'; "
                            "END $$"))


@pytest.fixture
def failing_app(database_url):
    """An app with /fail/<code>, failing with SQLSTATE `code` the first `times` calls."""
    app = create_app(TestConfig(database_url))
    calls = {"count": 0}
    blp = Blueprint("failing", __name__)

    @blp.post("/fail/<code>/<int:times>")
    def fail(code, times):
        calls["count"] += 1
        db.session.execute(text("CREATE TEMP TABLE IF NOT EXISTS scratch (n int)"))
        db.session.execute(text("INSERT INTO scratch VALUES (:n)"), {"n": calls["count"]})
        if calls["count"] <= times:
            raise_sqlstate(code)
        rows = db.session.execute(text("SELECT n FROM scratch")).scalars().all()
        return {"status": True, "message": "done", "data": {"calls": calls["count"],
                                                            "rows": rows}}

    app.register_blueprint(blp)
    app.view_functions["failing.fail"] = retry_transient_failure(app.view_functions["failing.fail"])
    yield app
    app.extensions["db"].dispose()


@pytest.mark.parametrize("code", ["40P01", "40001"])
def test_deadlock_and_serialization_failure_are_retried_once(failing_app, code, caplog):
    with caplog.at_level(logging.WARNING):
        response = failing_app.test_client().post(f"/fail/{code}/1")
    assert response.status_code == 200, response.json
    # The first attempt's insert was rolled back with it.
    assert response.json["data"] == {"calls": 2, "rows": [2]}
    assert f"retrying the request once after SQLSTATE {code}" in caplog.text


@pytest.mark.parametrize("code, message, retry_after", [
    ("40P01", "A concurrent request deadlocked with this one; retry it", "1"),
    ("40001", "A concurrent request changed the same data; retry it", "1"),
    ("55P03", "A record this request needs is locked by another request; retry shortly", "2"),
    ("53100", "The database is short of resources (disk, memory or connections)", "30"),
    ("57014", "The database took too long to answer", "5"),
])
def test_database_failures_are_told_apart(failing_app, code, message, retry_after):
    response = failing_app.test_client().post(f"/fail/{code}/9")
    body = assert_envelope(response, 503)
    assert body["message"] == message
    assert response.headers["Retry-After"] == retry_after


def test_api_views_retry_deadlocks(app):
    view = app.view_functions["tickets.Tickets"]
    assert view.__wrapped__ is not None and view.__name__ == "Tickets"


def test_unexpected_database_errors_are_logged_without_values(database_url, caplog):
    app = create_app(TestConfig(database_url))

    @app.get("/cast")
    def cast():
        db.session.execute(text("SELECT CAST(:secret AS integer)"), {"secret": "ada@example.com"})

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/cast")
    app.extensions["db"].dispose()
    body = assert_envelope(response, 500)
    assert "ada@example.com" not in response.get_data(as_text=True)
    assert "ada@example.com" not in caplog.text
    assert "SQLSTATE 22P02 InvalidTextRepresentation" in caplog.text
    record = next(r for r in caplog.records if "SQLSTATE" in r.getMessage())
    assert record.sql == "SELECT CAST(%(secret)s AS integer)"
    assert body["message"] == "Internal server error"
