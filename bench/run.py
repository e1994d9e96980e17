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

from bench.infra import scratch_database
from bench.reads import PER_PAGE, run_reads
from bench.relay import print_relay, relay_missed, run_relay
from bench.report import print_parameters, print_reads, print_writes
from bench.writes import run_writes

CORES = os.cpu_count() or 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["writes", "reads", "relay", "all"],
                        default="all")
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
    args = parser.parse_args(argv)
    args.requests = args.requests or (200 if args.quick else 2000)
    args.rounds = args.rounds or 1
    args.relay_events = args.relay_events or (1000 if args.quick else 5000)
    args.seed_rows = args.seed_rows or (5_000 if args.quick else 200_000)
    args.reps = args.reps or (5 if args.quick else 20)
    if args.seed_rows < 10 * PER_PAGE:
        parser.error(f"--seed-rows must be at least {10 * PER_PAGE}")
    if min(args.requests, args.rounds, args.reps, args.workers, args.concurrency) < 1:
        parser.error("counts must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (a CI timeout, say) unwinds through the same finally blocks as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.monotonic()
    writes = reads = relay = None
    with tempfile.TemporaryDirectory(prefix="ticketing-bench-") as logs, \
            scratch_database(args.database_url) as url:
        if args.scenario in ("writes", "all"):
            writes = run_writes(args, url, Path(logs))
        if args.scenario in ("reads", "all"):
            reads = run_reads(args, url, Path(logs))
        if args.scenario in ("relay", "all"):
            relay = run_relay(args, url, Path(logs))
        print_parameters(args, url)
    if writes:
        print_writes(writes)
    if reads:
        print_reads(*reads)
    if relay:
        print_relay(relay)
    print(f"\nTotal run time {time.monotonic() - began:.0f} s")
    # A benchmark with failed requests or an undrained backlog is no result: say so in the code.
    failed = writes and any(figures.load.errors or figures.drain_seconds is None
                            for figures in writes)
    return 1 if failed or (relay and relay_missed(relay)) else 0


if __name__ == "__main__":
    sys.exit(main())
