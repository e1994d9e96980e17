"""search terms: an ordered text index, so that a one-word search is as fast at any size

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22

Every (word, ticket) of the tickets' and comments' text becomes a row of ticket_search_terms,
keyed in the default list's order (models/search_term.py says why). Triggers keep it: the app
never writes it. The backfill runs in this migration's transaction, after the triggers exist,
so a write waiting on the tickets table's lock meanwhile is indexed once it goes through; it
takes about a minute per million tickets, during which ticket writes wait.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ticketing.db_security import lock_down, lock_down_function

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = """
-- Words whose texts of a ticket changed from old_terms to new_terms (lexeme arrays): one more
-- source for each word added, one fewer for each word dropped; a row goes with its last source.
-- A ticket already gone (created_at null) has nothing left to change.
CREATE FUNCTION ticket_search_terms_change(p_ticket uuid, p_created timestamptz,
                                           old_terms text[], new_terms text[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  dropped text[] := ARRAY(SELECT unnest(old_terms) EXCEPT SELECT unnest(new_terms));
  added text[] := ARRAY(SELECT unnest(new_terms) EXCEPT SELECT unnest(old_terms));
BEGIN
  IF p_created IS NULL THEN
    RETURN;
  END IF;
  IF cardinality(dropped) > 0 THEN
    DELETE FROM ticket_search_terms
    WHERE term = ANY(dropped) AND created_at = p_created AND ticket_id = p_ticket
      AND sources <= 1;
    UPDATE ticket_search_terms SET sources = sources - 1
    WHERE term = ANY(dropped) AND created_at = p_created AND ticket_id = p_ticket;
  END IF;
  IF cardinality(added) > 0 THEN
    INSERT INTO ticket_search_terms AS kept (term, created_at, ticket_id)
    SELECT term, p_created, p_ticket FROM unnest(added) AS term
    ON CONFLICT (term, created_at, ticket_id) DO UPDATE SET sources = kept.sources + 1;
  END IF;
END $$;

-- Every word of a ticket's comments (their rows share the ticket's key).
CREATE FUNCTION ticket_comment_terms(p_ticket uuid) RETURNS text[]
LANGUAGE sql STABLE AS $$
  SELECT coalesce(array_agg(DISTINCT term), '{}')
  FROM comments, unnest(tsvector_to_array(comments.search_vector)) AS term
  WHERE comments.ticket_id = p_ticket
$$;

-- The whole table again from the tickets and comments (the backfill; after a TRUNCATE).
CREATE FUNCTION ticket_search_terms_rebuild() RETURNS void LANGUAGE sql AS $$
  TRUNCATE ticket_search_terms;
  INSERT INTO ticket_search_terms (term, created_at, ticket_id, sources)
  SELECT term, tickets.created_at, tickets.id, count(*)
  FROM (SELECT id AS ticket_id, search_vector FROM tickets
        UNION ALL SELECT ticket_id, search_vector FROM comments) AS texts
  JOIN tickets ON tickets.id = texts.ticket_id,
  unnest(tsvector_to_array(texts.search_vector)) AS term
  GROUP BY term, tickets.created_at, tickets.id
  ORDER BY term, tickets.created_at, tickets.id;
$$;

-- Statement-level: a bulk INSERT of tickets (a seed, an import) indexes its rows in one go.
CREATE FUNCTION tickets_search_terms_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ticket_search_terms (term, created_at, ticket_id)
  SELECT term, inserted.created_at, inserted.id
  FROM inserted_tickets AS inserted, unnest(tsvector_to_array(inserted.search_vector)) AS term;
  RETURN NULL;
END $$;

CREATE FUNCTION tickets_search_terms_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.created_at, NEW.id) IS DISTINCT FROM (OLD.created_at, OLD.id) THEN
    -- The ticket's rows, its comments' too, move to its new key.
    UPDATE ticket_search_terms SET created_at = NEW.created_at, ticket_id = NEW.id
    WHERE term = ANY(tsvector_to_array(OLD.search_vector) || ticket_comment_terms(OLD.id))
      AND created_at = OLD.created_at AND ticket_id = OLD.id;
  END IF;
  PERFORM ticket_search_terms_change(NEW.id, NEW.created_at,
                                     tsvector_to_array(OLD.search_vector),
                                     tsvector_to_array(NEW.search_vector));
  RETURN NULL;
END $$;

-- Before the row goes, while its comments are still there to name the rest of its words.
CREATE FUNCTION tickets_search_terms_deleting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM ticket_search_terms
  WHERE term = ANY(tsvector_to_array(OLD.search_vector) || ticket_comment_terms(OLD.id))
    AND created_at = OLD.created_at AND ticket_id = OLD.id;
  RETURN OLD;
END $$;

CREATE FUNCTION comments_search_terms_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.ticket_id = OLD.ticket_id THEN
    PERFORM ticket_search_terms_change(
      NEW.ticket_id, (SELECT created_at FROM tickets WHERE id = NEW.ticket_id),
      tsvector_to_array(OLD.search_vector), tsvector_to_array(NEW.search_vector));
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM ticket_search_terms_change(
      OLD.ticket_id, (SELECT created_at FROM tickets WHERE id = OLD.ticket_id),
      tsvector_to_array(OLD.search_vector), '{}');
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    PERFORM ticket_search_terms_change(
      NEW.ticket_id, (SELECT created_at FROM tickets WHERE id = NEW.ticket_id),
      '{}', tsvector_to_array(NEW.search_vector));
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION ticket_search_terms_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ticket_search_terms_rebuild();
  RETURN NULL;
END $$;
"""

TRIGGERS = """
CREATE TRIGGER search_terms_inserted AFTER INSERT ON tickets
  REFERENCING NEW TABLE AS inserted_tickets
  FOR EACH STATEMENT EXECUTE FUNCTION tickets_search_terms_inserted();
-- Status, priority, assignment and the like change no word: no trigger runs for them.
CREATE TRIGGER search_terms_updated AFTER UPDATE OF title, description, created_at, id ON tickets
  FOR EACH ROW WHEN (OLD.search_vector IS DISTINCT FROM NEW.search_vector
                     OR OLD.created_at IS DISTINCT FROM NEW.created_at
                     OR OLD.id IS DISTINCT FROM NEW.id)
  EXECUTE FUNCTION tickets_search_terms_updated();
CREATE TRIGGER search_terms_deleting BEFORE DELETE ON tickets
  FOR EACH ROW EXECUTE FUNCTION tickets_search_terms_deleting();
CREATE TRIGGER search_terms_truncated AFTER TRUNCATE ON tickets
  FOR EACH STATEMENT EXECUTE FUNCTION ticket_search_terms_truncated();
CREATE TRIGGER search_terms_changed AFTER INSERT OR DELETE ON comments
  FOR EACH ROW EXECUTE FUNCTION comments_search_terms_changed();
-- Editing or deleting (blanking) a comment's body; moving it.
CREATE TRIGGER search_terms_edited AFTER UPDATE OF body, ticket_id ON comments
  FOR EACH ROW WHEN (OLD.search_vector IS DISTINCT FROM NEW.search_vector
                     OR OLD.ticket_id IS DISTINCT FROM NEW.ticket_id)
  EXECUTE FUNCTION comments_search_terms_changed();
CREATE TRIGGER search_terms_truncated AFTER TRUNCATE ON comments
  FOR EACH STATEMENT EXECUTE FUNCTION ticket_search_terms_truncated();
"""

# The functions a caller could run (the others return `trigger`, which only triggers can).
CALLABLE = ("ticket_search_terms_change(uuid, timestamptz, text[], text[])",
            "ticket_comment_terms(uuid)", "ticket_search_terms_rebuild()")

DROP = """
DROP TRIGGER search_terms_inserted ON tickets;
DROP TRIGGER search_terms_updated ON tickets;
DROP TRIGGER search_terms_deleting ON tickets;
DROP TRIGGER search_terms_truncated ON tickets;
DROP TRIGGER search_terms_changed ON comments;
DROP TRIGGER search_terms_edited ON comments;
DROP TRIGGER search_terms_truncated ON comments;
DROP FUNCTION ticket_search_terms_truncated();
DROP FUNCTION comments_search_terms_changed();
DROP FUNCTION tickets_search_terms_deleting();
DROP FUNCTION tickets_search_terms_updated();
DROP FUNCTION tickets_search_terms_inserted();
DROP FUNCTION ticket_search_terms_rebuild();
DROP FUNCTION ticket_comment_terms(uuid);
DROP FUNCTION ticket_search_terms_change(uuid, timestamptz, text[], text[]);
"""


def upgrade() -> None:
    op.create_table(
        "ticket_search_terms",
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ticket_id", sa.UUID(), nullable=False),
        sa.Column("sources", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.PrimaryKeyConstraint("term", "created_at", "ticket_id",
                                name=op.f("pk_ticket_search_terms")),
    )
    op.execute(FUNCTIONS)
    op.execute(TRIGGERS)
    op.execute("SELECT ticket_search_terms_rebuild()")
    op.execute("ANALYZE ticket_search_terms")  # the planner's estimates for the first searches
    # Out of Supabase's Data API, as every table: it holds the words of every ticket.
    lock_down(op, "ticket_search_terms")
    for signature in CALLABLE:
        lock_down_function(op, signature)


def downgrade() -> None:
    op.execute(DROP)
    op.drop_table("ticket_search_terms")
