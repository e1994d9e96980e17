"""`flask search check` and `flask search rebuild`: the word index (ticket_search_terms) against
the tickets' and comments' texts it is built from.

Triggers keep the index (migration 0008); these are for an operator who doubts it, after a
restore of one table without the other, say.
"""

import click
from flask.cli import AppGroup
from sqlalchemy import text

from .db import db

search_cli = AppGroup("search", help="The word index of one-word searches.")

# One row per word and ticket, counting the texts (the ticket's own, each comment's) holding it.
FROM_THE_TEXTS = """
    SELECT term, tickets.created_at, tickets.id AS ticket_id, count(*) AS sources
    FROM (SELECT id AS ticket_id, search_vector FROM tickets
          UNION ALL SELECT ticket_id, search_vector FROM comments) AS texts
    JOIN tickets ON tickets.id = texts.ticket_id,
    unnest(tsvector_to_array(texts.search_vector)) AS term
    GROUP BY term, tickets.created_at, tickets.id"""
STORED = "SELECT term, created_at, ticket_id, sources FROM ticket_search_terms"
DRIFT = text(f"""
    WITH expected AS MATERIALIZED ({FROM_THE_TEXTS}), stored AS MATERIALIZED ({STORED})
    SELECT (SELECT count(*) FROM (SELECT * FROM expected EXCEPT SELECT * FROM stored) AS m),
           (SELECT count(*) FROM (SELECT * FROM stored EXCEPT SELECT * FROM expected) AS w)""")


def _without_statement_timeout() -> None:
    # Both read every ticket and comment: longer than a request may take (DB_STATEMENT_TIMEOUT).
    db.session.execute(text("SET LOCAL statement_timeout = 0"))


@search_cli.command("check")
def check() -> None:
    """Compare the word index with the texts; exit 1 when they differ.

    Reads every ticket and comment: 45 s for a million tickets, measured.
    """
    _without_statement_timeout()
    missing, wrong = db.session.execute(DRIFT).one()
    if missing or wrong:
        click.echo(f"The word index differs from the texts: {missing} rows missing or with the "
                   f"wrong count, {wrong} rows that should not be there. Run `flask search "
                   "rebuild`.", err=True)
        raise SystemExit(1)
    click.echo("The word index matches the tickets' and comments' texts.")


@search_cli.command("rebuild")
def rebuild() -> None:
    """Build the word index again from the texts.

    One-word searches and writes of tickets and comments wait meanwhile (30 s for a million
    tickets, measured); a write that was under way goes through once it is done, and is
    indexed.
    """
    _without_statement_timeout()
    db.session.execute(text("SELECT ticket_search_terms_rebuild()"))
    db.session.commit()
    count = db.session.execute(text("SELECT count(*) FROM ticket_search_terms")).scalar()
    click.echo(f"Rebuilt the word index: {count} rows.")
