"""Scenario 2: list pages, filters, searches and single tickets over a large seeded table."""

import contextlib
import http.client
import itertools
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import psycopg2

from ticketing.models import Ticket
from ticketing.pagination import encode_cursor, make_sort
from ticketing.schemas.common import MAX_PAGE

from .infra import gunicorn, query, request, reset, vacuum

PER_PAGE = 20
RARE_WORD = "zephyrine"  # in the description of 1 ticket in 200
COMMON_WORD = "password"  # in the title of 1 ticket in 8

# One statement per table: generate_series is far faster than any API or ORM insert. Status,
# priority and dates are random (seeded, so every run builds the same table) and independent.
SEED_SQL = """
SELECT setseed(0.42);
INSERT INTO agents (name, email, created_at, updated_at)
SELECT 'Agent ' || g, 'agent' || g || '@example.com', now() - g * interval '1 day',
       now() - g * interval '1 day'
FROM generate_series(1, 50) AS g;
WITH pool AS (SELECT array_agg(id ORDER BY email) AS ids FROM agents),
rows AS (
  SELECT g, random() AS r1, random() AS r2, now() - random() * interval '730 days' AS created
  FROM generate_series(1, %(rows)s) AS g
)
INSERT INTO tickets (title, description, status, priority, assigned_to, created_at, updated_at)
SELECT
  (ARRAY['Issue with login', 'Payment failed', 'Password reset not working', 'App crashes',
         'Cannot upload file', 'Slow dashboard', 'Invoice is wrong', 'Email not received'])
    [1 + g %% 8] || ' #' || g,
  'Customer reports: ' ||
  (ARRAY['the page shows an error', 'nothing happens after clicking', 'it times out',
         'the numbers do not add up', 'the mobile app freezes', 'support chat is down'])
    [1 + g %% 6] ||
  CASE WHEN g %% 200 = 0 THEN ' near the ' || %(rare)s || ' module' ELSE '' END,
  CASE WHEN r1 < 0.3 THEN 'open' WHEN r1 < 0.5 THEN 'in_progress'
       WHEN r1 < 0.75 THEN 'resolved' ELSE 'closed' END::ticket_status,
  CASE WHEN r2 < 0.4 THEN 'low' WHEN r2 < 0.7 THEN 'medium'
       WHEN r2 < 0.9 THEN 'high' ELSE 'urgent' END::ticket_priority,
  CASE WHEN g %% 5 = 0 THEN NULL ELSE pool.ids[1 + g %% 50] END,
  created, created + (r1 * interval '3 days')
FROM rows, pool;
"""


@dataclass
class ReadFigures:
    case: str
    samples_ms: list[float]
    returned: str


def seed(url: str, rows: int) -> float:
    """Fill agents and tickets in SQL; return the seconds it took (VACUUM ANALYZE included)."""
    began = time.perf_counter()
    reset(url)
    with contextlib.closing(psycopg2.connect(url)) as connection:
        with connection.cursor() as cursor:
            cursor.execute(SEED_SQL, {"rows": rows, "rare": RARE_WORD})
        connection.commit()
    # Fresh statistics and visibility map, as on a table that has been live a while.
    vacuum(url, "agents, tickets, ticket_search_terms")
    return time.perf_counter() - began


def deep_cursor(url: str, rows_before: int) -> str:
    """The cursor the API hands out after `rows_before` rows in the default sort."""
    created_at, ticket_id = query(
        url, "SELECT created_at, id FROM tickets ORDER BY created_at DESC, id DESC "
             "OFFSET %s LIMIT 1", (rows_before - 1,))[0]
    record = SimpleNamespace(created_at=created_at, id=uuid.UUID(str(ticket_id)))
    return encode_cursor(make_sort(Ticket, "-created_at"), record)


def read_cases(url: str, rows: int) -> list[tuple[str, str]]:
    deep_page = rows // PER_PAGE  # the last page: 10,000 for 200,000 rows
    numbered = min(deep_page, MAX_PAGE)  # page numbers stop at MAX_PAGE; cursors go on
    base = f"/api/tickets?per_page={PER_PAGE}"
    return [
        ("first page", base),
        (f"page {numbered:,} by offset", f"{base}&page={numbered}"),
        (f"page {numbered:,} by cursor",
         f"{base}&cursor={deep_cursor(url, (numbered - 1) * PER_PAGE)}"),
        (f"page {deep_page:,} by cursor",
         f"{base}&cursor={deep_cursor(url, (deep_page - 1) * PER_PAGE)}"),
        ("status=open&priority=high", f"{base}&status=open&priority=high"),
        (f"q={RARE_WORD} (0.5 % of rows)", f"{base}&q={RARE_WORD}"),
        (f"q={COMMON_WORD} (12.5 % of rows)", f"{base}&q={COMMON_WORD}"),
    ]


def time_get(port: int, paths: list[str], warmup: int = 0) -> tuple[list[float], dict]:
    """GET each path in turn after `warmup` untimed ones; return ms per request, last body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    samples, body = [], {}
    warm = list(itertools.islice(itertools.cycle(paths), warmup))
    for index, path in enumerate(warm + paths):
        began = time.perf_counter()
        status, data = request(connection, "GET", path)
        elapsed = (time.perf_counter() - began) * 1000
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {data[:300]!r}")
        body = json.loads(data)
        if index >= warmup:
            samples.append(elapsed)
    connection.close()
    return samples, body


def returned(body: dict) -> str:
    data = body["data"]
    if "pagination" not in data:
        return "1 ticket"
    pagination, shown = data["pagination"], len(data["records"])
    total = pagination.get("total")
    if total is None:
        return f"{shown} (no count)"
    capped = "" if pagination.get("total_exact", True) else "+"  # counted up to a cap
    return f"{shown} of {total:,}{capped}"


def check_cursor_page(port: int, offset_path: str, cursor_path: str) -> None:
    """The cursor must land on the same rows as the page number, else timing it means little."""
    ids = []
    for path in (offset_path, cursor_path):
        _, body = time_get(port, [path])
        ids.append([record["id"] for record in body["data"]["records"]])
    if not ids[0] or ids[0] != ids[1]:
        raise RuntimeError("the deep cursor page differs from the same page by offset")


def run_reads(args, url: str, log_dir: Path) -> tuple[list[ReadFigures], float]:
    print(f"reads: seeding {args.seed_rows:,} tickets ...", flush=True)
    seconds = seed(url, args.seed_rows)
    cases = read_cases(url, args.seed_rows)
    ticket_paths = [f"/api/tickets/{row[0]}" for row in query(
        url, "SELECT id FROM tickets ORDER BY random() LIMIT %s", (args.reps,))]
    results = []
    print("reads: timing ...", flush=True)
    with gunicorn(url, args.workers, log_dir, "reads", {}) as server:
        check_cursor_page(server.port, cases[1][1], cases[2][1])
        # Each new connection may land on another worker: warm them all on every case.
        warmup = 2 * args.workers
        for name, path in cases:
            samples, body = time_get(server.port, [path] * args.reps, warmup)
            results.append(ReadFigures(name, samples, returned(body)))
        samples, body = time_get(server.port, ticket_paths, warmup)
        results.append(ReadFigures("GET /api/tickets/<id>", samples, returned(body)))
    return results, seconds
