"""The ordered text index (ticket_search_terms): kept by triggers, read by one-word searches."""

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import text

from ticketing import search_cli
from ticketing.services.ticket_queries import cursor_page, filter_shape, numbered_page

from .migrating import database_at
from .plans import explain_list

FROM_THE_TEXTS = text(search_cli.FROM_THE_TEXTS)
STORED = text(search_cli.STORED)


def assert_index_follows_the_texts(connection) -> set:
    stored = set(connection.execute(STORED).all())
    assert stored == set(connection.execute(FROM_THE_TEXTS).all())
    return stored


def terms_of(connection, ticket_id) -> dict[str, int]:
    rows = connection.execute(text("SELECT term, sources FROM ticket_search_terms "
                                   "WHERE ticket_id = :id"), {"id": ticket_id}).all()
    return dict(rows)


def test_every_change_of_a_text_reaches_the_index(client, connection, make_ticket, post_comment):
    ticket = make_ticket(title="Printer jams", description="Paper stuck in tray two")
    other = make_ticket(title="Router", description="Blinking lights")
    assert set(terms_of(connection, ticket["id"])) == {"printer", "jam", "paper", "stuck",
                                                       "tray", "two"}
    assert_index_follows_the_texts(connection)

    client.patch(f"/api/tickets/{ticket['id']}", json={"title": "Scanner jams"})
    assert "printer" not in terms_of(connection, ticket["id"])
    assert terms_of(connection, ticket["id"])["scanner"] == 1
    before = assert_index_follows_the_texts(connection)
    client.patch(f"/api/tickets/{ticket['id']}", json={"status": "resolved", "priority": "high"})
    assert assert_index_follows_the_texts(connection) == before  # no word changed

    comment = post_comment(ticket["id"], "The paper tray was replaced")
    assert terms_of(connection, ticket["id"])["paper"] == 2  # its own text and the comment
    assert_index_follows_the_texts(connection)
    client.patch(f"/api/tickets/{ticket['id']}/comments/{comment['id']}",
                 json={"body": "The drum was replaced"})
    assert terms_of(connection, ticket["id"])["paper"] == 1
    assert terms_of(connection, ticket["id"])["drum"] == 1
    assert_index_follows_the_texts(connection)
    client.delete(f"/api/tickets/{ticket['id']}/comments/{comment['id']}")
    assert "drum" not in terms_of(connection, ticket["id"])
    assert_index_follows_the_texts(connection)

    post_comment(ticket["id"], "Ordered a new drum")
    client.delete(f"/api/tickets/{ticket['id']}")
    assert terms_of(connection, ticket["id"]) == {}
    assert terms_of(connection, other["id"]) != {}
    assert_index_follows_the_texts(connection)


def test_a_ticket_that_moves_in_time_takes_its_comments_words_along(
        connection, make_ticket, post_comment):
    ticket = make_ticket(title="Printer", description="Broken")
    post_comment(ticket["id"], "Toner ordered")
    connection.execute(text("UPDATE tickets SET created_at = '2020-01-01Z' WHERE id = :id"),
                       {"id": ticket["id"]})
    assert_index_follows_the_texts(connection)
    moments = connection.execute(text("SELECT DISTINCT created_at FROM ticket_search_terms "
                                      "WHERE ticket_id = :id"), {"id": ticket["id"]}).scalars()
    assert list(moments) == [datetime(2020, 1, 1, tzinfo=UTC)]


def test_bulk_inserts_and_truncates_keep_the_index(connection, make_ticket, post_comment):
    connection.execute(text(
        "INSERT INTO tickets (title, description) "
        "SELECT 'Bulk ' || g, CASE WHEN g % 2 = 0 THEN 'even printer' ELSE 'odd' END "
        "FROM generate_series(1, 50) AS g"))
    ticket = make_ticket(title="Router", description="Down")
    post_comment(ticket["id"], "Firmware flashed")
    stored = assert_index_follows_the_texts(connection)
    assert sum(1 for row in stored if row.term == "printer") == 25

    connection.execute(text("TRUNCATE comments"))
    assert "firmwar" not in terms_of(connection, ticket["id"])
    assert_index_follows_the_texts(connection)
    connection.execute(text("TRUNCATE tickets CASCADE"))
    assert connection.execute(STORED).all() == []


WORDS = ["printer", "printers", "PRINTING", "jam", "toner", "firmware", "router", "42", "v2",
         "the", "nothing", "2fa", "  tray  "]


@pytest.fixture
def searchable(dated_ticket, post_comment):
    """Tickets, some found by their comments only, with ties on creation time."""
    dated = dated_ticket
    made = [
        dated(1, title="Printer jams", description="Paper stuck in tray 42", priority="high"),
        dated(2, title="Router down", description="Firmware v2 bricked it", status="closed"),
        dated(2, title="Printing is slow", description="Queue of 42 jobs", priority="urgent"),
        dated(3, title="Login fails", description="2FA code never arrives"),
        dated(4, title="Printers everywhere", description="Toner low", status="resolved"),
        dated(5, title="Coffee machine", description="Empty again"),
    ]
    post_comment(made[5], "Someone jammed the printer with coffee filters")
    post_comment(made[3], "Router firmware had an old clock")
    return made


@pytest.mark.parametrize("word", WORDS)
def test_one_word_finds_what_the_text_indexes_find(client, searchable, word):
    """`q=word` reads the ordered index; `q="word"` (a phrase of one word) the GIN indexes."""
    for extra in ("", "&sort=created_at", "&sort=-priority", "&status=open", "&per_page=2&page=2"):
        by_word = client.get(f"/api/tickets?q={word}{extra}").json["data"]
        by_phrase = client.get(f'/api/tickets?q="{word.strip()}"{extra}').json["data"]
        assert by_word["records"] == by_phrase["records"], extra
        assert by_word["pagination"]["total"] == by_phrase["pagination"]["total"], extra


def test_cursors_through_a_one_word_search(client, searchable):
    seen, cursor = [], None
    while True:
        query = "q=printer&per_page=1" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/tickets?{query}").json["data"]
        seen += [record["id"] for record in page["records"]]
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            break
    everything = client.get('/api/tickets?q="printer"').json["data"]["records"]
    assert seen == [record["id"] for record in everything]
    assert len(seen) == 3  # two by their own text ("printing" is "print"), one by a comment


def test_one_word_walks_its_index_entries_in_order(connection):
    # On a few rows a sort is cheaper; with sorts off, a plan without one proves the walk exists.
    connection.execute(text("SET LOCAL enable_sort = off"))
    plan = explain_list(connection, {"q": "printer"})
    assert "Index Only Scan Backward using pk_ticket_search_terms" in plan, plan
    assert "Sort" not in plan and "ix_tickets_search_vector" not in plan, plan


def test_no_one_else_may_run_its_functions(connection):
    """The Data API would serve them as RPC endpoints; triggers run them as the owner."""
    connection.execute(text("CREATE ROLE search_terms_probe NOLOGIN"))  # rolled back
    for signature in ("ticket_search_terms_change(uuid, timestamptz, text[], text[])",
                      "ticket_comment_terms(uuid)", "ticket_search_terms_rebuild()"):
        assert connection.execute(text(
            f"SELECT has_function_privilege('search_terms_probe', '{signature}', 'EXECUTE')"
        )).scalar() is False, signature


def test_only_creation_order_pages_through_the_word_index():
    """In another order the GIN path walks that order's index; joining every entry of a common
    word and sorting them took 0.6 s among a million tickets."""
    shape = filter_shape({"q": "printer"})
    for sort in ("created_at", "-created_at"):
        assert "JOIN tickets" in numbered_page(shape, sort).sql
        assert "JOIN tickets" in cursor_page(shape, sort).sql
    for sort in ("-priority", "updated_at", "title"):
        assert "JOIN tickets" not in numbered_page(shape, sort).sql
        assert "ticket_search_terms" not in cursor_page(shape, sort).sql
        # The count still reads the word's entries alone.
        assert "FROM ticket_search_terms" in numbered_page(shape, sort).sql


def test_the_check_and_rebuild_commands(app, connection, make_ticket, post_comment):
    ticket = make_ticket(title="Printer jams", description="Paper stuck")
    post_comment(ticket["id"], "New printer ordered")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["search", "check"])
    assert result.exit_code == 0, result.output
    assert "matches" in result.output

    connection.execute(text("DELETE FROM ticket_search_terms WHERE term = 'jam'"))
    connection.execute(text("UPDATE ticket_search_terms SET sources = 1 WHERE term = 'printer'"))
    connection.execute(text("INSERT INTO ticket_search_terms (term, created_at, ticket_id) "
                            "VALUES ('ghost', now(), gen_random_uuid())"))
    result = runner.invoke(args=["search", "check"])
    assert result.exit_code == 1
    assert "2 rows missing or with the wrong count, 2 rows that should not be there" in \
        result.output

    result = runner.invoke(args=["search", "rebuild"])
    assert result.exit_code == 0, result.output
    assert_index_follows_the_texts(connection)
    assert runner.invoke(args=["search", "check"]).exit_code == 0


@pytest.fixture
def before_0008():
    """A scratch database at 0007 with a ticket and a comment, to migrate."""
    with database_at("0007", "ticketing_search_terms") as (config, engine):
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO tickets (title, description) VALUES ('Printer', 'Jammed')"))
            connection.execute(text(
                "INSERT INTO comments (ticket_id, author, body) "
                "SELECT id, '{\"type\": \"system\"}', 'printer fixed' FROM tickets"))
        yield config, engine


def test_the_migration_indexes_what_exists_and_downgrades_cleanly(before_0008):
    config, engine = before_0008
    command.upgrade(config, "0008")
    with engine.connect() as connection:
        stored = assert_index_follows_the_texts(connection)
    assert {(row.term, row.sources) for row in stored} == {("printer", 2), ("jam", 1),
                                                           ("fix", 1)}
    command.downgrade(config, "0007")
    with engine.begin() as connection:
        assert connection.execute(text("SELECT to_regclass('ticket_search_terms')")).scalar() \
            is None
        connection.execute(text("UPDATE tickets SET title = 'Scanner'"))  # no trigger left
    command.upgrade(config, "head")
    command.check(config)
