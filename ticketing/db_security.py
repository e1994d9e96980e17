"""Keep our tables out of Supabase's Data API (PostgREST), which serves the `public` schema.

Row Level Security with no policy hides every row from Supabase's `anon` and `authenticated`
roles; revoking their privileges refuses even the attempt. The tables' owner (our connection)
bypasses RLS, so the service keeps working. Migrations call `lock_down` for every table.
"""

DATA_API_ROLES = ("anon", "authenticated")


def _revoke_from_data_api_roles(what: str) -> list[str]:
    # The roles exist on Supabase only; plain PostgreSQL has nothing to revoke.
    return [
        "DO $$ BEGIN "
        f"IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN "
        f"REVOKE ALL ON {what} FROM {role}; "
        "END IF; END $$"
        for role in DATA_API_ROLES
    ]


def lock_down_sql(table: str) -> list[str]:
    return [f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
            *_revoke_from_data_api_roles(f'TABLE "{table}"')]


def lock_down(op, table: str) -> None:
    """Enable RLS on `table` and revoke the Data API roles' privileges (inside a migration)."""
    for statement in lock_down_sql(table):
        op.execute(statement)


def lock_down_function(op, signature: str) -> None:
    """Take EXECUTE on a function (`name(argument types)`) from everyone but its owner: the Data
    API serves the `public` schema's functions as RPC endpoints, and PostgreSQL lets PUBLIC
    execute a new function."""
    for statement in [f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC",
                      *_revoke_from_data_api_roles(f"FUNCTION {signature}")]:
        op.execute(statement)
