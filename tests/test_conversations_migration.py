"""Migration 0004 (conversations) only adds, and downgrades cleanly, on data that exists."""

import pytest
from alembic import command
from sqlalchemy import inspect, text

from .migrating import database_at

NEW_COLUMNS = {"requester_name", "requester_email", "tags", "comments_count",
               "last_activity_at", "first_response_at"}


@pytest.fixture
def migrated(request):
    """A scratch database at the revision before 0004, with a ticket written back then."""
    with database_at("0004-1", "ticketing_conversations") as (config, engine):
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO tickets (title, description, created_at, updated_at) "
                "VALUES ('old', 'ticket', '2025-01-01', '2025-02-01')"))
        yield config, engine


def ticket_columns(engine) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns("tickets")}


def test_upgrade_keeps_tickets_and_gives_them_defaults(migrated):
    config, engine = migrated
    command.upgrade(config, "0004")
    with engine.connect() as connection:
        row = connection.execute(text(
            "SELECT tags, comments_count, last_activity_at = updated_at, first_response_at, "
            "requester_email FROM tickets")).one()
    assert tuple(row) == ([], 0, True, None, None)
    assert ticket_columns(engine) >= NEW_COLUMNS


def test_downgrade_removes_only_what_it_added(migrated):
    config, engine = migrated
    before = ticket_columns(engine)
    command.upgrade(config, "0004")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO comments (ticket_id, author, body) "
            "SELECT id, '{\"type\": \"system\"}', 'hello' FROM tickets"))
        connection.execute(text("UPDATE tickets SET tags = '{a,b}', requester_email = 'a@b.c'"))
    command.downgrade(config, "0004-1")
    inspector = inspect(engine)
    assert "comments" not in inspector.get_table_names()
    assert ticket_columns(engine) == before
    with engine.connect() as connection:
        assert connection.execute(text("SELECT title FROM tickets")).scalars().all() == ["old"]
    command.upgrade(config, "head")
    command.check(config)


def test_comments_are_kept_from_supabase_data_api_roles(migrated):
    """Like Supabase: anon and authenticated get every new table by default; 0004 takes it back."""
    config, engine = migrated
    with engine.begin() as connection:
        for role in ("anon", "authenticated"):
            connection.execute(text(
                f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') "
                f"THEN CREATE ROLE {role} NOLOGIN; END IF; END $$"))
        connection.execute(text("ALTER DEFAULT PRIVILEGES IN SCHEMA public "
                                "GRANT ALL ON TABLES TO anon, authenticated"))
    command.upgrade(config, "0004")
    with engine.connect() as connection:
        assert connection.execute(text(
            "SELECT relrowsecurity FROM pg_class WHERE relname = 'comments'")).scalar() is True
        for role in ("anon", "authenticated"):
            assert connection.execute(text(
                f"SELECT has_table_privilege('{role}', 'comments', "
                "'SELECT,INSERT,UPDATE,DELETE')")).scalar() is False
