"""Query plans of the statements the services build, to prove an index can serve them."""

from sqlalchemy import Select, text
from sqlalchemy.dialects import postgresql


def explain(connection, stmt: Select) -> str:
    """The plan PostgreSQL picks for `stmt` when sequential scans are off."""
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    compiled = stmt.compile(dialect=postgresql.dialect())
    rows = connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).scalars()
    return "\n".join(rows)
