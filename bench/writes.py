"""Scenario 1: POST + PATCH load with realtime off, with a fast and with a slow Ably.

The relay publishes after commit, from a thread, so the write figures should not depend on how
fast Ably answers; only the publish lag and the backlog should.
"""

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ably.sync import AblyRestSync

from .infra import fake_ably, gunicorn, pending_events, query, realtime_status, reset
from .measure import (
    CpuMeter,
    LoadResult,
    ReadinessSampler,
    TransactionCounter,
    WriteLoad,
    percentile,
)


@dataclass
class WriteFigures:
    setup: str  # with its round number
    group: str  # the set-up alone, to pool the rounds
    load: LoadResult
    readiness: ReadinessSampler | None = None
    pending_at_end: int = 0
    drain_seconds: float | None = None  # None: still pending at the drain timeout
    events: int = 0
    lag_ms: tuple[float, float, float] | None = None  # p50, p95, max
    delivered_lag_ms: tuple[float, float, float] | None = None
    failed_events: int = 0
    transactions: int = 0
    log_lines: int = 0
    cpu_seconds: dict[str, float] = field(default_factory=dict)


def wait_drained(url: str, server, timeout: float) -> float | None:
    """Seconds until no event is pending (None when `timeout` passed first)."""
    began = time.monotonic()
    while pending_events(url):
        server.check_alive()
        if time.monotonic() - began > timeout:
            return None
        time.sleep(0.05)
    return time.monotonic() - began


def publish_lag(url: str, after_id: int) -> tuple[int, tuple[float, float, float] | None]:
    """How many events after `after_id` were published, and their lag p50/p95/max in ms."""
    count, p50, p95, worst = query(url, """
        SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),
               percentile_cont(0.95) WITHIN GROUP (ORDER BY lag), max(lag)
        FROM (SELECT extract(epoch FROM published_at - occurred_at) * 1000 AS lag
              FROM events WHERE id > %s AND published_at IS NOT NULL) AS lags""", (after_id,))[0]
    return count, ((float(p50), float(p95), float(worst)) if count else None)


def _summary(lags_ms: list[float]) -> tuple[float, float, float] | None:
    return (percentile(lags_ms, 0.5), percentile(lags_ms, 0.95), max(lags_ms)) if lags_ms else None


def delivered_lag(url: str, ably: dict, after_id: int) -> tuple[float, float, float] | None:
    """Lag p50/p95/max from occurred_at to the moment the Ably server received each event.

    published_at is the relay transaction's now(), taken before the round's HTTP requests, so
    it understates the lag by up to a round; the server's receive time does not.
    """
    measured = {str(row[0]) for row in query(
        url, "SELECT event_id FROM events WHERE id > %s", (after_id,))}
    client = AblyRestSync(key=ably["ABLY_API_KEY"], endpoint=ably["ABLY_ENDPOINT"],
                          port=int(ably["ABLY_PORT"]), tls=False, use_token_auth=True,
                          fallback_hosts=[], http_max_retry_count=1, http_request_timeout=10)
    received: dict[str, float] = {}
    try:
        # The app's default channel for ticket events (ABLY_CHANNEL is not set here).
        page = client.channels.get("tickets-updates").history(direction="forwards", limit=1000)
        while True:
            for message in page.items:
                event_id = message.data.get("event_id")
                if event_id in measured and event_id not in received:
                    occurred = datetime.fromisoformat(message.data["occurred_at"]).timestamp()
                    received[event_id] = message.timestamp - occurred * 1000
            if not page.has_next():
                break
            page = page.next()
    finally:
        client.close()
    return _summary(list(received.values()))


def write_setup(args, url: str, log_dir: Path, name: str, group: str, ably: dict,
                ably_pid: int | None = None) -> WriteFigures:
    reset(url)
    with gunicorn(url, args.workers, log_dir, name, ably) as server:
        # Warm every worker (imports, schema caches, pool) before the measured run.
        WriteLoad(server.port, 4 * args.workers, args.concurrency).run()
        wait_drained(url, server, args.drain_timeout)
        marker = query(url, "SELECT coalesce(max(id), 0) FROM events")[0][0]
        meter = CpuMeter.for_setup(url, server.pid, ably_pid, os.getpid())
        transactions = TransactionCounter(url)
        with ReadinessSampler(server.port) as readiness:
            load = WriteLoad(server.port, args.requests, args.concurrency).run()
        figures = WriteFigures(name, group, load, readiness, pending_events(url))
        figures.cpu_seconds = meter.seconds() if meter else {}
        server.check_alive()
        figures.drain_seconds = wait_drained(url, server, args.drain_timeout)
        figures.events, figures.lag_ms = publish_lag(url, marker)
        if ably:
            figures.delivered_lag_ms = delivered_lag(url, ably, marker)
        figures.log_lines = server.log_lines()
    # Read once gunicorn has gone (see TransactionCounter): load and drain together.
    figures.transactions = transactions.others_since_start()
    figures.failed_events = realtime_status(url, ably)["failed"]
    return figures


def run_writes(args, url: str, log_dir: Path) -> list[WriteFigures]:
    """Each round runs a, b and c in turn, so slow drifts of a shared machine hit all three."""
    setups = [("a. realtime off", None), ("b. Ably immediate", 0.0),
              (f"c. Ably +{args.ably_delay:g} s", args.ably_delay)]
    results = []
    for round_number in range(1, args.rounds + 1):
        for group, delay in setups:
            name = f"{group} #{round_number}" if args.rounds > 1 else group
            print(f"writes: {name} ...", flush=True)
            if delay is None:
                results.append(write_setup(args, url, log_dir, name, group, {}))
                continue
            with fake_ably(delay, log_dir) as (ably_pid, ably):
                results.append(write_setup(args, url, log_dir, name, group, ably, ably_pid))
    return results


def pooled_throughput(results: list[WriteFigures]) -> dict[str, float]:
    """Requests per second of each set-up over all its rounds, in set-up order."""
    totals: dict[str, list[float]] = {}
    for figures in results:
        total = totals.setdefault(figures.group, [0, 0.0])
        total[0] += figures.load.requests
        total[1] += figures.load.seconds
    return {group: requests / seconds for group, (requests, seconds) in totals.items()}
