"""The floor: the least this stack can do for the benchmark's four requests.

Plain Flask, raw psycopg2 (one connection per worker thread, autocommit for reads, one
explicit transaction per write), orjson, the same tables and the same gunicorn settings as the
app (`gunicorn -c gunicorn.conf.py bench.floor:app`). It answers the same envelope, counts a
list's matches up to the same limit and writes the same outbox row in the write's transaction,
but validates almost nothing, logs nothing and publishes nothing. Every figure of the app is
measured as a share of this one, in the same run.
"""

import os
import threading
import uuid

import orjson
import psycopg2
from flask import Flask, Response, request

from ticketing.pagination import COUNT_LIMIT

COLUMNS = ("id", "title", "description", "status", "priority", "assigned_to", "version",
           "created_at", "updated_at")
SELECT = ", ".join(f"t.{column}" for column in COLUMNS)
STATUSES = ("open", "in_progress", "resolved", "closed")
PRIORITIES = ("low", "medium", "high", "urgent")

INSERT_TICKET = f"""
INSERT INTO tickets AS t (title, description, status, priority)
VALUES (%s, %s, %s, %s) RETURNING {SELECT}"""
# The previous status comes from the locked row, in the same statement as the change.
UPDATE_STATUS = f"""
UPDATE tickets AS t SET status = %s, version = t.version + 1, updated_at = clock_timestamp()
FROM (SELECT id, status FROM tickets WHERE id = %s FOR UPDATE) AS old
WHERE t.id = old.id RETURNING old.status, {SELECT}"""
INSERT_EVENT = """
INSERT INTO events (name, resource_type, resource_id, version, payload)
VALUES (%s, 'ticket', %s, %s, %s)"""

app = Flask(__name__)
local = threading.local()


def cursor():
    """This thread's connection (made after gunicorn's fork, on first use)."""
    connection = getattr(local, "connection", None)
    if connection is None or connection.closed:
        connection = local.connection = psycopg2.connect(
            os.environ["DATABASE_URL"], application_name="ticketing-floor")
        connection.autocommit = True
    return connection.cursor()


def as_ticket(row) -> dict:
    return dict(zip(COLUMNS, row, strict=True))


def answer(status: int, message: str, data=None) -> Response:
    body = {"status": status < 400, "message": message}
    if data is not None:
        body["data"] = data
    return Response(orjson.dumps(body), status, mimetype="application/json")


def parse_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


@app.get("/api/tickets/<ticket_id>")
def get_ticket(ticket_id: str):
    with cursor() as cur:
        cur.execute(f"SELECT {SELECT} FROM tickets AS t WHERE t.id = %s", (parse_uuid(ticket_id),))
        row = cur.fetchone()
    if row is None:
        return answer(404, "Ticket not found")
    return answer(200, "Ticket has been fetched.", as_ticket(row))


def list_filter() -> tuple[str, list]:
    clauses, params = [], []
    for name, allowed in (("status", STATUSES), ("priority", PRIORITIES)):
        values = [v for v in request.args.get(name, "").split(",") if v in allowed]
        if values:
            clauses.append(f"t.{name} IN ({', '.join(['%s'] * len(values))})")
            params += values
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


@app.get("/api/tickets")
def list_tickets():
    per_page = min(100, max(1, int(request.args.get("per_page", 20))))
    where, params = list_filter()
    with cursor() as cur:
        cur.execute(f"SELECT count(*) FROM (SELECT 1 FROM tickets AS t{where} LIMIT %s) AS m",
                    (*params, COUNT_LIMIT + 1))
        counted = cur.fetchone()[0]
        cur.execute(f"SELECT {SELECT} FROM tickets AS t{where} "
                    f"ORDER BY t.created_at DESC, t.id DESC LIMIT %s", (*params, per_page + 1))
        rows = cur.fetchall()
    total = min(counted, COUNT_LIMIT)
    records = [as_ticket(row) for row in rows[:per_page]]
    last = records[-1] if len(rows) > per_page else None
    pagination = {"page": 1, "per_page": per_page, "total": total,
                  "total_exact": counted <= COUNT_LIMIT, "total_pages": -(-total // per_page),
                  "next_cursor": f"{last['created_at'].isoformat()}|{last['id']}" if last else None}
    return answer(200, "Tickets have been fetched.", {"records": records, "pagination": pagination})


def write(statement: str, params: tuple, event: str, changes) -> dict | None:
    """Change one ticket and add its outbox row in one transaction; the ticket, or None."""
    with cursor() as cur:
        cur.execute("BEGIN")
        try:
            cur.execute(statement, params)
            row = cur.fetchone()
            if row is None:
                cur.execute("ROLLBACK")
                return None
            previous, row = (row[0], row[1:]) if changes else (None, row)
            ticket = as_ticket(row)
            payload = {"ticketId": ticket["id"], "status": ticket["status"],
                       "status_changed": previous is not None, "previous_status": previous,
                       "ticket": ticket, "changes": changes(previous) if changes else {}}
            cur.execute(INSERT_EVENT, (event, ticket["id"], ticket["version"],
                                       orjson.dumps(payload).decode()))
            cur.execute("COMMIT")
            return ticket
        except BaseException:
            cur.execute("ROLLBACK")
            raise


@app.post("/api/tickets")
def create_ticket():
    data = orjson.loads(request.get_data())
    if not isinstance(data.get("title"), str) or not isinstance(data.get("description"), str):
        return answer(422, "Invalid input")
    ticket = write(INSERT_TICKET, (data["title"], data["description"],
                                   data.get("status", "open"), data.get("priority", "low")),
                   "ticket_created", None)
    return answer(201, "Ticket has been created.", ticket)


@app.patch("/api/tickets/<ticket_id>")
def update_status(ticket_id: str):
    status = orjson.loads(request.get_data()).get("status")
    if status not in STATUSES:
        return answer(422, "Invalid input")
    ticket = write(UPDATE_STATUS, (status, parse_uuid(ticket_id)), "ticket_updated",
                   lambda previous: {"status": {"from": previous, "to": status}})
    if ticket is None:
        return answer(404, "Ticket not found")
    return answer(200, "Ticket has been updated.", ticket)
