"""Keep our tables out of Supabase's Data API (PostgREST), which serves the `public` schema.

Row Level Security with no policy hides every row from Supabase's `anon` and `authenticated`
roles; revoking their privileges refuses even the attempt. The tables' owner (our connection)
bypasses RLS, so the service keeps working. Migrations call `lock_down` for every table.
"""

DATA_API_ROLES = ("anon", "authenticated")


def lock_down_sql(table: str) -> list[str]:
    statements = [f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY']
    for role in DATA_API_ROLES:
        # The roles exist on Supabase only; plain PostgreSQL has nothing to revoke.
        statements.append(
            "DO $$ BEGIN "
            f"IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN "
            f'REVOKE ALL ON TABLE "{table}" FROM {role}; '
            "END IF; END $$"
        )
    return statements


def lock_down(op, table: str) -> None:
    """Enable RLS on `table` and revoke the Data API roles' privileges (inside a migration)."""
    for statement in lock_down_sql(table):
        op.execute(statement)
