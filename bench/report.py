"""Plain-text tables of the figures."""

import os
import platform
import subprocess

from .infra import ROOT, query
from .measure import percentile
from .reads import PER_PAGE, ReadFigures
from .writes import WriteFigures, pooled_throughput

CORES = os.cpu_count() or 1


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned first column, right-aligned numbers."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.rjust(width) if index else cell.ljust(width)
                         for index, (cell, width) in enumerate(zip(cells, widths, strict=True)))

    return "\n".join([line(headers), line(["-" * width for width in widths]), *map(line, rows)])


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def app_version() -> str:
    """The commit under test, and whether the working tree differs from it (read-only git)."""
    def git(*arguments: str) -> str:
        return subprocess.run(["git", "--no-optional-locks", *arguments], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" + uncommitted changes" if git("status", "--porcelain") else "")


def print_parameters(args, url: str) -> None:
    version = query(url, "SHOW server_version")[0][0]
    where = "the --database-url server" if args.database_url else "embedded"
    print("\nParameters")
    print(f"  app: {app_version()}")
    print(f"  machine: {CORES} cores, {platform.machine()}, Linux {platform.release()}, "
          f"Python {platform.python_version()}; PostgreSQL {version} ({where})")
    if args.scenarios & {"writes", "reads"}:
        threads = os.environ.get("GUNICORN_THREADS", "4")
        print(f"  gunicorn: {args.workers} workers x {threads} threads (gunicorn.conf.py), a "
              f"relay thread in each; client: {args.concurrency} threads (http.client)")
    if "writes" in args.scenarios:
        print(f"  writes: {args.requests:,} requests per set-up and round, {args.rounds} "
              f"round(s) run a-b-c in turn, each after {4 * args.workers} warm-up requests;\n"
              f"  slow Ably answers each publish after {args.ably_delay:g} s; relay batch 100 "
              f"events, poll 1 s (app defaults)")
    if "reads" in args.scenarios:
        print(f"  reads: {args.seed_rows:,} seeded tickets, 50 agents, per_page={PER_PAGE}; "
              f"{args.reps} timed requests per case after {2 * args.workers} warm-up ones")


# ---- writes ----------------------------------------------------------------------------------

REALTIME_LEGEND = """\
  lag (ms): published_at - occurred_at, as the events table records it; recv (ms): when the Ably
  server received the event - occurred_at; max pending, readyz 503: the largest backlog /readyz
  reported while loaded, and its 503 answers out of its polls (every 0.5 s); pending@end: not yet
  published when the load stopped; drain: from then until nothing is pending (ev/s: the relay's
  pace meanwhile); failed: events Ably rejected for good"""


def _latency_row(figures: WriteFigures) -> list[str]:
    load = figures.load
    latencies = load.latencies_ms or [0.0]
    return [figures.setup, f"{load.requests:,}", f"{load.throughput:,.0f}",
            *(ms(percentile(latencies, p)) for p in (0.5, 0.95, 0.99)), ms(max(latencies)),
            str(sum(load.errors.values())), f"{figures.transactions / load.requests:.1f}",
            str(figures.log_lines)]


def _realtime_row(figures: WriteFigures) -> list[str]:
    readiness = figures.readiness
    drain = "TIMEOUT" if figures.drain_seconds is None else f"{figures.drain_seconds:.2f}"
    probes = ("-", "-")  # an app without /readyz
    if readiness and readiness.samples:
        probes = (f"{readiness.max_pending:,}", f"{readiness.unready}/{readiness.samples}")
    return [figures.setup, f"{figures.events:,}",
            *(ms(value) for value in (figures.lag_ms or (None, None, None))),
            *(ms(value) for value in (figures.delivered_lag_ms or (None, None, None))), *probes,
            f"{figures.pending_at_end:,}", drain, _drain_rate(figures), str(figures.failed_events)]


def _drain_rate(figures: WriteFigures) -> str:
    """Events per second the relay published after the load; only meaningful for a backlog."""
    if not figures.drain_seconds or figures.drain_seconds < 1:
        return "-"
    return f"{figures.pending_at_end / figures.drain_seconds:,.1f}"


def _cpu_row(figures: WriteFigures, names: list[str]) -> list[str]:
    used, load = figures.cpu_seconds, figures.load
    total = sum(used.values())
    return [figures.setup, *(f"{used.get(name, 0.0) * 1000 / load.requests:.2f}"
                             for name in names),
            f"{total * 1000 / load.requests:.2f}", f"{total / (load.seconds * CORES):.0%}"]


def print_writes(results: list[WriteFigures]) -> None:
    print("\nWrites: POST /api/tickets then PATCH /api/tickets/<id>, alternating")
    print(table(["set-up", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors",
                 "db xact/req", "log lines"], [_latency_row(figures) for figures in results]))
    rates = pooled_throughput(results)
    baseline = next(iter(rates.values()))
    pooled = " over all rounds" if len(results) > len(rates) else ""
    for group, rate in rates.items():
        print(f"  {group}: {rate:,.0f} req/s{pooled} = {rate / baseline:.0%} of realtime off")
    print("  db xact/req: database transactions per request, the relay's included; log lines: "
          "server lines at warning or above")
    for figures in results:
        for sample in figures.load.error_samples[:3]:
            print(f"  error in {figures.setup}: {sample}")

    print("\nRealtime publication of the same runs (events table, /readyz)")
    print(table(["set-up", "events", "lag p50", "lag p95", "lag max", "recv p50", "recv p95",
                 "recv max", "max pending", "readyz 503", "pending@end", "drain s", "drain ev/s",
                 "failed"],
                [_realtime_row(figures) for figures in results]))
    print(REALTIME_LEGEND)

    if all(figures.cpu_seconds for figures in results):
        names = ["gunicorn", "postgres", "fake ably", "client", "other"]
        print(f"\nCPU while loaded (ms of CPU per request; {CORES} cores)")
        print(table(["set-up", *names, "total", "machine busy"],
                    [_cpu_row(figures, names) for figures in results]))
        print("  other: the rest of the machine (kernel, processes not started by this script)")


# ---- reads -----------------------------------------------------------------------------------

def print_reads(results: list[ReadFigures], seed_seconds: float) -> None:
    rows = [[figures.case, ms(percentile(figures.samples_ms, 0.5)),
             ms(percentile(figures.samples_ms, 0.95)), ms(min(figures.samples_ms)),
             ms(max(figures.samples_ms)), figures.returned] for figures in results]
    print(f"\nReads: one client, one request at a time (seeding took {seed_seconds:.1f} s)")
    print(table(["request", "median ms", "p95 ms", "min ms", "max ms", "returned"], rows))
