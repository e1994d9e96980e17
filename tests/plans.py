"""Query plans of the statements the services build, to prove an index can serve them."""

from sqlalchemy import Select, text
from sqlalchemy.dialects import postgresql

from ticketing.services.ticket_queries import filter_params, filter_shape, numbered_page


def explain(connection, stmt: Select) -> str:
    """The plan PostgreSQL picks for `stmt` when sequential scans are off."""
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    compiled = stmt.compile(dialect=postgresql.dialect())
    rows = connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).scalars()
    return "\n".join(rows)


def explain_list(connection, args: dict, sort: str = "-created_at") -> str:
    """The plan of the list query the API runs for `args` (parsed query arguments)."""
    statement = numbered_page(filter_shape(args), sort)
    params = statement.constants | filter_params(args) | {
        "limit": 21, "offset": 0, "count_limit": 1001}
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    return "\n".join(connection.exec_driver_sql(f"EXPLAIN {statement.sql}", params).scalars())
