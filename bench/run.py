"""Benchmark the ticketing API under real gunicorn on a scratch PostgreSQL database.

    .venv/bin/python bench/run.py                    # everything, two to three minutes
    .venv/bin/python bench/run.py --quick            # small smoke run for CI
    .venv/bin/python bench/run.py --scenario reads --seed-rows 50000
    make bench BENCH_ARGS="--scenario writes --requests 4000"
    make bench BENCH_ARGS="--scenario relay"         # relay throughput against a slow Ably

writes: POST a ticket then PATCH it, from C client threads against W gunicorn workers, with
  a. realtime off, b. realtime on with a local Ably-compatible server (tests/fakeably.py)
  answering at once, c. the same server answering each publish after 300 ms. Throughput,
  latency, errors; publish lag, backlog and drain time from the events table; CPU per request.
relay: a backlog of events published by one relay against the Ably server answering after
  300 ms (target >= 500 events/s), and a 2,000-write burst through gunicorn whose backlog must
  drain within 10 s of its end; per-ticket order checked in Ably's history.
reads: seed a large tickets table in SQL, then time the first page, a deep page by offset and
  by cursor, a filtered list, two full-text searches and single tickets, one request at a time.
http: wrk (2 threads, 32 connections) against the server pinned to one core, PostgreSQL, wrk and
  the Ably stand-in on the others: GET by id, a filtered page of 20, POST, PATCH, for the floor
  (bench/floor.py: plain Flask, raw psycopg2, orjson), the app, and the app with realtime on.
memory: every worker's RSS over many requests (a mix of the four), realtime on.
scale: the list queries, one client, at 10,000 and at 1,000,000 tickets (seeded in SQL).

Every request carries the credential of bench/credentials.py (none before access control).

Everything listens on 127.0.0.1. The scratch database is dropped and every process started
here is terminated at the end, on failure and on SIGTERM too.
"""

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

# Run as a file (python bench/run.py), the checkout is not on sys.path yet.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.credentials import authorize
from bench.infra import scratch_database
from bench.memory import run_memory
from bench.reads import PER_PAGE, run_reads
from bench.relay import print_relay, relay_missed, run_relay
from bench.report import print_parameters, print_reads, print_writes
from bench.scale import run_scale
from bench.tables import print_http, print_memory, print_scale
from bench.throughput import http_load, run_http
from bench.writes import run_writes

SCENARIOS = ["writes", "reads", "relay", "http", "memory", "scale"]

CORES = os.cpu_count() or 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], action="append",
                        help="run only these (repeatable); default all")
    parser.add_argument("--quick", action="store_true",
                        help="small N, seed, repetitions and one round (CI smoke run)")
    parser.add_argument("--requests", type=int,
                        help="write requests per set-up and round (default 2000; quick 200)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--workers", type=int, default=2 * CORES + 1,
                        help=f"gunicorn workers (default 2 * cores + 1 = {2 * CORES + 1})")
    parser.add_argument("--rounds", type=int,
                        help="times the three write set-ups run, in turn (default 1); more "
                             "rounds even out a busy machine, each adds about two minutes")
    parser.add_argument("--seed-rows", type=int,
                        help="tickets seeded for reads (default 200000; quick 5000)")
    parser.add_argument("--reps", type=int,
                        help="timed requests per read case (default 20; quick 5)")
    parser.add_argument("--ably-delay", type=float, default=0.3,
                        help="seconds the slow Ably server waits before answering (default 0.3)")
    parser.add_argument("--relay-events", type=int,
                        help="relay scenario: events in the backlog (default 5000; quick 1000)")
    parser.add_argument("--burst-writes", type=int, default=2000,
                        help="relay scenario: writes in the burst (default 2000)")
    parser.add_argument("--drain-timeout", type=float, default=120.0,
                        help="longest wait for the event backlog to drain, seconds (default 120)")
    parser.add_argument("--database-url",
                        help="a PostgreSQL server to use instead of the embedded one: a scratch "
                             "database is created beside the one named, and dropped")
    add_http_arguments(parser)
    args = parser.parse_args(argv)
    args.scenarios = set(SCENARIOS if not args.scenario or "all" in args.scenario
                         else args.scenario)
    defaults = {"seconds": (10, 3), "http_rounds": (3, 1), "warmup_seconds": (3, 1),
                "http_rows": (10_000, 2_000),
                "small_rows": (10_000, 2_000), "large_rows": (1_000_000, 20_000),
                "scale_reps": (50, 5), "rss_requests": (200_000, 5_000),
                "rss_chunk_seconds": (10, 2)}
    for name, (normal, quick) in defaults.items():  # the http, memory and scale settings
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else normal)
    args.requests = args.requests or (200 if args.quick else 2000)
    args.rounds = args.rounds or 1
    args.relay_events = args.relay_events or (1000 if args.quick else 5000)
    args.seed_rows = args.seed_rows or (5_000 if args.quick else 200_000)
    args.reps = args.reps or (5 if args.quick else 20)
    if args.seed_rows < 10 * PER_PAGE:
        parser.error(f"--seed-rows must be at least {10 * PER_PAGE}")
    if min(args.requests, args.rounds, args.reps, args.workers, args.concurrency,
           args.http_rounds) < 1:
        parser.error("counts must be positive")
    return args


def add_http_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--seconds", type=float, help="measured wrk run (10; quick 3)")
    parser.add_argument("--http-rounds", type=int,
                        help="http: rounds of runs, the servers taking turns; the report "
                             "shows medians (3; quick 1)")
    parser.add_argument("--warmup-seconds", type=float, help="wrk warm-up (3; quick 1)")
    parser.add_argument("--http-workers", type=int, default=1,
                        help="gunicorn workers on the server's core (1, as gunicorn.conf.py "
                             "runs one gthread worker per core)")
    parser.add_argument("--http-threads", type=int, default=4,
                        help="threads per worker (4: gthread, as deployed; 1: sync workers)")
    parser.add_argument("--compare-workers", action="store_true",
                        help="also measure GET and POST with the other worker model")
    parser.add_argument("--http-rows", type=int, help="tickets seeded for http (10,000)")
    parser.add_argument("--small-rows", type=int, help="scale: the small table (10,000)")
    parser.add_argument("--large-rows", type=int, help="scale: the large table (1,000,000)")
    parser.add_argument("--scale-reps", type=int, help="scale: timed requests per case (50)")
    parser.add_argument("--rss-requests", type=int, help="memory: requests (200,000)")
    parser.add_argument("--rss-chunk-seconds", type=float,
                        help="memory: seconds between RSS readings (10)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (a CI timeout, say) unwinds through the same finally blocks as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.monotonic()
    writes = reads = http = memory = scale = relay = None
    with tempfile.TemporaryDirectory(prefix="ticketing-bench-") as logs, \
            scratch_database(args.database_url) as url:
        credential = authorize(url)
        if "writes" in args.scenarios:
            writes = run_writes(args, url, Path(logs))
        if "reads" in args.scenarios:
            reads = run_reads(args, url, Path(logs))
        if args.scenarios & {"http", "memory"}:
            load = http_load(args, url, Path(logs))
            http = run_http(args, url, Path(logs), load) if "http" in args.scenarios else None
            memory = run_memory(args, url, Path(logs), load) if "memory" in args.scenarios \
                else None
        # The relay before scale, though it no longer matters: straight after scale (or memory)
        # the backlog once drained at a third of its rate. The cause was the relay's query, not
        # the server: its plan rested on the events table's statistics, left stale by the run
        # before (see DUE_EVENTS in ticketing/realtime/relay.py).
        if "relay" in args.scenarios:
            relay = run_relay(args, url, Path(logs))
        if "scale" in args.scenarios:
            scale = run_scale(args, url, Path(logs))
        print_parameters(args, url)
        print(f"  credential: {credential}")
    if writes:
        print_writes(writes)
    if reads:
        print_reads(*reads)
    if http:
        print_http(http, http_parameters(args))
    if "memory" in args.scenarios:
        print_memory(memory)
    if scale:
        print_scale(*scale)
    if relay:
        print_relay(relay)
    print(f"\nTotal run time {time.monotonic() - began:.0f} s")
    # A benchmark with failed requests or an undrained backlog is no result: say so in the code.
    failed = writes and any(figures.load.errors or figures.drain_seconds is None
                            for figures in writes)
    failed = failed or (http and any(figures.non_2xx for figures in http))
    return 1 if failed or (relay and relay_missed(relay, strict=not args.quick)) else 0


def http_parameters(args) -> str:
    return (f"gunicorn pinned to one core; wrk -t2 -c{args.connections}, {args.warmup_seconds:g} s "
            f"warm-up then {args.seconds:g} s; {args.http_rounds} round(s), the servers taking "
            f"turns, medians shown; {args.http_rows:,} tickets; the app with request "
            "logs (LOG_LEVEL=info), metrics, rate limits and its relay thread")


if __name__ == "__main__":
    sys.exit(main())
