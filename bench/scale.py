"""Scenario scale: the same list queries at two table sizes (10,000 and 1,000,000 tickets).

One client, one request at a time, a gunicorn worker per size (each table in its own scratch
database) on the server's core, the sizes taking turns. Each query should cost about the same
at both sizes; besides the latency, the table says how many ticket
rows and index entries PostgreSQL read per request (pg_stat_user_tables / _indexes), which is
what shows a request that reads the whole table.
"""

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from .infra import gunicorn, query, scratch_database, wait_until_gone
from .measure import percentile
from .reads import COMMON_WORD, PER_PAGE, RARE_WORD, deep_cursor, seed, time_get
from .throughput import postgres_pinned, split_cores

DEEPEST_PAGE = 10_000
FLAT_ENOUGH = 1.5  # the largest acceptable ratio, large table over small


@dataclass
class ScaleFigures:
    case: str
    rows: int  # tickets in the table
    samples_ms: list[float]
    reads_per_request: float  # ticket rows and index entries read

    @property
    def p50(self) -> float:
        return percentile(self.samples_ms, 0.5)


def cases(url: str, rows: int) -> list[tuple[str, list[str]]]:
    """(name, paths): a case's requests go round its paths."""
    agent = query(url, "SELECT assigned_to FROM tickets WHERE assigned_to IS NOT NULL "
                       "LIMIT 1")[0][0]
    deep_page = min(DEEPEST_PAGE, rows // PER_PAGE)
    cursor = deep_cursor(url, (deep_page - 1) * PER_PAGE)
    ids = [f"/api/tickets/{row[0]}" for row in query(
        url, "SELECT id FROM tickets ORDER BY random() LIMIT 50")]
    base = f"/api/tickets?per_page={PER_PAGE}"
    return [
        ("default list (newest first)", [base]),
        ("status=open&priority=high", [f"{base}&status=open&priority=high"]),
        ("assigned_to=<agent>", [f"{base}&assigned_to={agent}"]),
        (f"q={COMMON_WORD} (1 in 8 tickets)", [f"{base}&q={COMMON_WORD}"]),
        (f"q={RARE_WORD} (1 in 200 tickets)", [f"{base}&q={RARE_WORD}"]),
        ("sort=-priority", [f"{base}&sort=-priority"]),
        # A search in another order than the word index's: the GIN path walks that order.
        (f"q={COMMON_WORD}&sort=-priority", [f"{base}&q={COMMON_WORD}&sort=-priority"]),
        (f"deepest page by cursor (<= {DEEPEST_PAGE:,}th)", [f"{base}&cursor={cursor}"]),
        ("GET /api/tickets/<id>", ids),
    ]


READ_TABLES = ("tickets", "ticket_search_terms")


def ticket_reads(url: str) -> int:
    """Rows read by sequential scans plus index entries read, of the tickets and of their
    search terms, since the stats reset."""
    return query(url, """
        SELECT (SELECT coalesce(sum(seq_tup_read), 0) FROM pg_stat_user_tables
                WHERE relname = ANY(%s))
             + (SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes
                WHERE relname = ANY(%s))""", (list(READ_TABLES), list(READ_TABLES)))[0][0]


def flush_app_statistics(url: str) -> None:
    """End the app's database sessions: a backend reports its reads when it exits.

    The app's pool then finds its connections closed and opens fresh ones (ticketing/db.py).
    """
    pids = [row[0] for row in query(url, """
        SELECT pid FROM pg_stat_activity WHERE datname = current_database()
        AND application_name = 'ticketing' AND pid <> pg_backend_pid()""")]
    for pid in pids:
        query(url, "SELECT pg_terminate_backend(%s)", (pid,))
    wait_until_gone(url, pids)


def copy_api_keys(source: str, target: str) -> None:
    """Let the benchmark's credential (made in `source`) into `target`'s database too."""
    for (key,) in query(source, "SELECT row_to_json(k)::text FROM api_keys AS k"):
        query(target, "INSERT INTO api_keys SELECT * FROM json_populate_record(NULL::api_keys, "
                      "%s::json)", (key,))


def time_sizes(args, log_dir: Path, sizes: list[tuple[str, int]]) -> list[list[ScaleFigures]]:
    """Each case at every size, the sizes taking turns (TURNS each), so that a slow spell of a
    shared machine falls on both sides of a ratio rather than on one size's requests."""
    server_core, _ = split_cores()
    results: list[list[ScaleFigures]] = [[] for _ in sizes]
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(gunicorn(url, 1, log_dir, f"scale-{rows}", {},
                                                cores=server_core)) for url, rows in sizes]
        size_cases = [cases(url, rows) for url, rows in sizes]
        for index, (name, _) in enumerate(size_cases[0]):
            paths = [own[index][1] for own in size_cases]
            before = []
            for (url, _), server, own in zip(sizes, servers, paths, strict=True):
                time_get(server.port, own[:3])  # warm the worker's caches and the pages
                flush_app_statistics(url)
                before.append(ticket_reads(url))
            samples = take_turns(args.scale_reps, servers, paths)
            for size, ((url, rows), done) in enumerate(zip(sizes, samples, strict=True)):
                flush_app_statistics(url)
                reads = (ticket_reads(url) - before[size]) / len(done)
                results[size].append(ScaleFigures(name, rows, done, reads))
    return results


TURNS = 5


def take_turns(reps: int, servers: list, paths: list[list[str]]) -> list[list[float]]:
    """`reps` timed requests per server, in TURNS rounds of the servers in turn."""
    samples: list[list[float]] = [[] for _ in servers]
    for turn in range(TURNS):
        count = reps // TURNS + (turn < reps % TURNS)
        for size, (server, own) in enumerate(zip(servers, paths, strict=True)):
            start = len(samples[size])
            requested = [own[(start + offset) % len(own)] for offset in range(count)]
            samples[size] += time_get(server.port, requested)[0] if requested else []
    return samples


def run_scale(args, url: str, log_dir: Path) -> tuple[list[ScaleFigures], list[ScaleFigures],
                                                      list[float]]:
    _, other_cores = split_cores()
    seconds = []
    with scratch_database(args.database_url) as large_url, postgres_pinned(url, other_cores):
        copy_api_keys(url, large_url)
        sizes = [(url, args.small_rows), (large_url, args.large_rows)]
        for target, rows in sizes:
            print(f"scale: seeding {rows:,} tickets ...", flush=True)
            began = time.monotonic()
            seed(target, rows)
            seconds.append(time.monotonic() - began)
        print("scale: timing both sizes, taking turns ...", flush=True)
        small, large = time_sizes(args, log_dir, sizes)
    return small, large, seconds
