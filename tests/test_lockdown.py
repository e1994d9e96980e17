"""Supabase's Data API roles see nothing: RLS on every table, their privileges revoked."""

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from ticketing import create_app
from ticketing.cli import alembic_config
from ticketing.db_security import DATA_API_ROLES

from .conftest import TestConfig
from .dbutil import create_scratch_database, drop_database


@pytest.fixture
def supabase_like_url():
    """A database where, as on Supabase, new tables are granted to anon and authenticated."""
    url = create_scratch_database("ticketing_lockdown")
    engine = create_engine(url)
    with engine.begin() as connection:
        for role in DATA_API_ROLES:
            exists = connection.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"),
                                       {"r": role})
            if not exists:  # roles are per server; another test run may have made them
                connection.execute(text(f"CREATE ROLE {role} NOLOGIN"))
        connection.execute(text("ALTER DEFAULT PRIVILEGES IN SCHEMA public "
                                "GRANT ALL ON TABLES TO anon, authenticated"))
        connection.execute(text("GRANT USAGE ON SCHEMA public TO anon, authenticated"))
    app = create_app(TestConfig(url))
    command.upgrade(alembic_config(app), "head")
    app.extensions["db"].dispose()
    yield engine
    engine.dispose()
    drop_database(url)


def public_tables(connection) -> list[str]:
    return list(connection.scalars(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")))


def test_every_table_has_rls_and_no_data_api_privileges(supabase_like_url):
    with supabase_like_url.connect() as connection:
        tables = public_tables(connection)
        assert {"agents", "tickets", "events", "api_keys", "alembic_version"} <= set(tables)
        for table in tables:
            assert connection.scalar(text(
                "SELECT relrowsecurity FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                {"t": f"public.{table}"}), f"RLS off on {table}"
            for role in DATA_API_ROLES:
                for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"):
                    assert not connection.scalar(
                        text("SELECT has_table_privilege(:role, CAST(:t AS regclass), :p)"),
                        {"role": role, "t": f"public.{table}", "p": privilege}), (table, role)


def test_data_api_role_is_refused_and_sees_no_rows_even_if_granted_again(supabase_like_url):
    with supabase_like_url.connect() as connection:  # rolled back at the end
        connection.execute(text("INSERT INTO tickets (title, description) VALUES ('t', 'd')"))
        connection.execute(text("SET LOCAL ROLE anon"))
        with pytest.raises(Exception, match="permission denied"), connection.begin_nested():
            connection.execute(text("SELECT count(*) FROM tickets"))
        connection.execute(text("RESET ROLE"))
        # A later careless GRANT still shows nothing: RLS has no policy for these roles.
        connection.execute(text("GRANT SELECT ON tickets TO anon"))
        connection.execute(text("SET LOCAL ROLE anon"))
        assert connection.scalar(text("SELECT count(*) FROM tickets")) == 0
        connection.execute(text("RESET ROLE"))
        assert connection.scalar(text("SELECT count(*) FROM tickets")) == 1  # the owner's view
        connection.rollback()
