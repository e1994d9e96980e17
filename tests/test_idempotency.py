"""Idempotency-Key: a retried POST gets the first answer and creates nothing more."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from ticketing.auth import Role, current_actor
from ticketing.db import db
from ticketing.idempotency import store
from ticketing.idempotency.sealing import key_digest
from ticketing.models import Event, IdempotencyKey, Ticket

from .conftest import KEYS
from .test_errors import assert_envelope

TICKET = {"title": "Printer on fire", "description": "Smoke everywhere"}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def post(client):
    def send(path="/api/tickets", body=None, key="key-1", **kwargs):
        headers = {"Idempotency-Key": key} if key is not None else {}
        return client.post(path, json=TICKET if body is None else body, headers=headers,
                           **kwargs)

    return send


def test_retry_with_the_same_key_replays_the_first_answer(app, post):
    first = post()
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = post()
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    with app.app_context():
        assert count(Ticket) == 1
        assert count(Event) == 1  # no second ticket_created event


def test_agents_post_is_idempotent_too(post):
    body = {"name": "Ada", "email": "ada@example.com"}
    first = post("/api/agents", body)
    again = post("/api/agents", body)
    assert again.status_code == 201 and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"


def test_same_body_in_another_key_order_or_spacing_is_the_same_request(client, post):
    post()
    reordered = '{ "description" : "Smoke everywhere", "title": "Printer on fire" }'
    response = client.post("/api/tickets", content_type="application/json", data=reordered,
                           headers={"Idempotency-Key": "key-1"})
    assert response.headers["Idempotent-Replayed"] == "true"


def test_same_key_with_another_body_is_422(post):
    post()
    response = post(body={**TICKET, "title": "Another"})
    body = assert_envelope(response, 422)
    assert body["message"] == "This Idempotency-Key was already used for a different request"
    assert list(body["errors"]) == ["Idempotency-Key"]


def test_same_key_on_another_endpoint_is_422(post):
    post()
    assert_envelope(post("/api/agents", {"name": "A", "email": "a@example.com"}), 422)


def test_without_a_key_every_post_creates(app, post):
    post(key=None)
    post(key=None)
    with app.app_context():
        assert count(Ticket) == 2


def test_different_keys_create_separately(app, post):
    post(key="a")
    post(key="b")
    with app.app_context():
        assert count(Ticket) == 2


def admin_scope(app) -> str:
    with app.test_request_context(headers={"Authorization": f"Bearer {KEYS[Role.ADMIN]}"}):
        return current_actor().scope


def insert_key(app, key: str, **columns) -> None:
    scope = admin_scope(app)
    values = {"scope": scope, "key": key_digest(scope, key), "fingerprint": "x" * 64,
              "expires_at": func.now() + timedelta(hours=1), **columns}
    with app.app_context():
        db.session.add(IdempotencyKey(**values))
        db.session.commit()


def test_same_key_while_the_first_request_runs_is_409(app, post):
    from ticketing.idempotency.decorator import fingerprint

    with app.test_request_context("/api/tickets", method="POST", json=TICKET):
        running = fingerprint()
    insert_key(app, "busy", fingerprint=running)  # claimed, no answer yet: still running
    response = post(key="busy")
    body = assert_envelope(response, 409)
    assert "in progress" in body["message"]
    assert response.headers["Retry-After"] == "1"


def test_an_abandoned_claim_is_taken_over(app, post):
    insert_key(app, "stuck", created_at=func.now() - timedelta(minutes=10))
    assert post(key="stuck").status_code == 201


def test_an_expired_key_runs_the_request_again(app, post):
    insert_key(app, "old", status=201, body='{"stale": true}',
               expires_at=func.now() - timedelta(seconds=1))
    response = post(key="old")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    assert response.json["data"]["title"] == TICKET["title"]


@pytest.mark.parametrize("key", ["k" * 256, "", "tab\there", "caf\u00e9", "  "])
def test_unusable_keys_are_422(client, key):
    response = client.post("/api/tickets", json=TICKET,
                           headers={"Idempotency-Key": key.encode("utf-8").decode("latin-1")})
    assert list(assert_envelope(response, 422)["errors"]) == ["Idempotency-Key"]


def test_a_key_of_255_characters_is_fine(post):
    assert post(key="k" * 255).status_code == 201


def test_a_failed_request_is_not_kept(app, post):
    assert post(body={"title": "no description"}).status_code == 422
    response = post()  # the same key, now with a valid body
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    with app.app_context():
        assert count(IdempotencyKey) == 1


def test_keys_are_scoped_to_the_credential(app, post, client_as):
    first = post()
    other = client_as(Role.AGENT).post("/api/tickets", json=TICKET,
                                       headers={"Idempotency-Key": "key-1"})
    assert other.status_code == 201 and "Idempotent-Replayed" not in other.headers
    assert other.json["data"]["id"] != first.json["data"]["id"]
    assert admin_scope(app).startswith("api_key:")


def test_keys_are_scoped_in_the_store(app, connection):
    with app.app_context():
        ttl = timedelta(hours=1)
        assert store.claim(db.session, "api_key:one", "k", "f" * 64, ttl).ours
        assert store.claim(db.session, "api_key:two", "k", "f" * 64, ttl).ours
        again = store.claim(db.session, "api_key:one", "k", "f" * 64, ttl)
        assert not again.ours and again.existing.scope == "api_key:one"


def test_expired_keys_are_purged_in_batches(app, connection):
    for number in range(25):
        insert_key(app, f"expired-{number}", expires_at=func.now() - timedelta(minutes=1))
    for number in range(5):
        insert_key(app, f"live-{number}")
    with app.app_context():
        statements = []
        from sqlalchemy import event

        def count_deletes(conn, cursor, statement, *args):
            if statement.startswith("DELETE"):
                statements.append(statement)

        event.listen(connection, "before_cursor_execute", count_deletes)
        assert store.purge_expired(db.session, batch_size=10) == 25
        event.remove(connection, "before_cursor_execute", count_deletes)
        assert len(statements) == 3
        left = db.session.scalars(select(IdempotencyKey.key)).all()
        scope = admin_scope(app)
        assert sorted(left) == sorted(key_digest(scope, f"live-{n}") for n in range(5))


def test_purge_command(app, connection):
    insert_key(app, "expired", expires_at=func.now() - timedelta(minutes=1))
    result = app.test_cli_runner().invoke(args=["idempotency", "purge"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Deleted 1 expired idempotency keys."


def test_the_table_has_its_indexes(app, connection):
    indexes = connection.execute(text(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'idempotency_keys'")).scalars().all()
    assert set(indexes) == {"pk_idempotency_keys", "ix_idempotency_keys_expires_at"}


def test_openapi_documents_the_header(client):
    paths = client.get("/openapi.json").json["paths"]
    for path in ("/api/tickets", "/api/agents"):
        post = paths[path]["post"]
        header = next(p for p in post["parameters"] if p["name"] == "Idempotency-Key")
        assert header["in"] == "header" and header["schema"]["maxLength"] == 255
        assert "409" in post["responses"]
        assert "Idempotent-Replayed" in post["responses"]["201"]["headers"]


def test_concurrent_retry_gets_409_then_the_first_answer(committing_app, database_url):
    """Real commits: the first request is held by a table lock while its retry arrives."""
    import threading

    from sqlalchemy import create_engine

    app = committing_app()
    headers = {"Idempotency-Key": "concurrent-key"}
    engine = create_engine(database_url)
    first = {}
    try:
        with engine.connect() as blocker:
            blocker.execute(text("LOCK TABLE tickets IN EXCLUSIVE MODE"))

            def send_first():
                first["response"] = app.test_client().post("/api/tickets", json=TICKET,
                                                           headers=headers)

            thread = threading.Thread(target=send_first)
            thread.start()
            # The claim is committed before the insert waits on the lock.
            waiting = text("SELECT count(*) FROM idempotency_keys WHERE key = :key")
            digest = {"key": key_digest(admin_scope(app), "concurrent-key")}
            for _ in range(200):
                with engine.connect() as probe:
                    if probe.execute(waiting, digest).scalar():
                        break
                threading.Event().wait(0.05)
            retry = app.test_client().post("/api/tickets", json=TICKET, headers=headers)
            assert_envelope(retry, 409)
            assert retry.headers["Retry-After"] == "1"
            blocker.rollback()
        thread.join(30)
        assert first["response"].status_code == 201
        replay = app.test_client().post("/api/tickets", json=TICKET, headers=headers)
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json == first["response"].json
    finally:
        with engine.begin() as cleanup:
            cleanup.execute(text("DELETE FROM idempotency_keys WHERE key = :key"),
                            {"key": key_digest(admin_scope(app), "concurrent-key")})
        engine.dispose()


def test_comments_post_is_idempotent_too(app, client, make_ticket):
    ticket = make_ticket()
    path = f"/api/tickets/{ticket['id']}/comments"
    body = {"body": "Have you tried turning it off and on again?"}
    first = client.post(path, json=body, headers={"Idempotency-Key": "comment-1"})
    assert first.status_code == 201, first.json
    again = client.post(path, json=body, headers={"Idempotency-Key": "comment-1"})
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    assert len(client.get(path).json["data"]["records"]) == 1


def test_api_keys_replay_their_secret_which_the_table_never_holds(client, connection):
    headers = {"Idempotency-Key": "3f0c2b8e-new-integration"}
    body = {"name": "integration", "role": "agent"}
    first = client.post("/api/api-keys", json=body, headers=headers)
    assert first.status_code == 201
    again = client.post("/api/api-keys", json=body, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json  # the same key and secret, no second key
    assert again.headers["Cache-Control"] == "no-store"
    listed = client.get("/api/api-keys?per_page=100").json["data"]["records"]
    assert [k["name"] for k in listed].count("integration") == 1
    stored = connection.execute(text(
        "SELECT key || ' ' || body FROM idempotency_keys")).scalars().all()
    secret = first.json["data"]["secret"]
    assert stored and not any(secret in row or "3f0c2b8e" in row or "integration" in row
                              for row in stored)
