"""Scenario 3: relay throughput against an Ably that answers each request after 300 ms.

backlog: N committed events of many tickets (5 versions each) waiting; one standalone relay
  (`flask realtime relay`, the real SDK over HTTP to tests/fakeably.py) publishes them.
  Target: at least 500 events/s.
burst: 2,000 writes (POST then PATCH) through gunicorn with the relay threads of its workers.
  Target: the backlog drained within 10 s of the burst's end.
Both check per-resource order on the Ably side and count duplicates.
"""

import json
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ably.sync import AblyRestSync

from .infra import ROOT, VENV_BIN, app_env, fake_ably, pending_events, query, reset, terminate
from .writes import WriteFigures, write_setup

TARGET_RATE = 500.0  # events per second
TARGET_DRAIN = 10.0  # seconds after the burst
VERSIONS = 5


@dataclass
class RelayFigures:
    events: int
    seconds: float | None  # relay start to nothing pending (None: timed out)
    steady_rate: float | None  # events / (first request sent .. last event marked)
    in_order: bool
    burst: WriteFigures | None = None
    burst_in_order: bool = True


def seed_backlog(url: str, events: int) -> None:
    """`events` pending events: events / VERSIONS tickets with versions 1..VERSIONS each."""
    ticket = {"id": None, "title": "Bench ticket", "status": "open", "priority": "high",
              "description": "Customer cannot log in after the password reset. " * 4}
    query(url, """
        INSERT INTO events (name, resource_type, resource_id, version, payload)
        SELECT CASE WHEN v = 1 THEN 'ticket_created' ELSE 'ticket_updated' END, 'ticket',
               t.id, v, jsonb_build_object('ticketId', t.id::text, 'status', 'open',
                                           'ticket', %s::jsonb, 'changes', '{}'::jsonb)
        FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, %s)) AS t,
             generate_series(1, %s) AS v
        ORDER BY v, t.id""", (json.dumps(ticket), events // VERSIONS, VERSIONS))


def history_in_order(ably: dict) -> tuple[bool, int]:
    """Whether every ticket's versions reached Ably as 1, 2, 3...; and how many messages."""
    client = AblyRestSync(key=ably["ABLY_API_KEY"], endpoint=ably["ABLY_ENDPOINT"],
                          port=int(ably["ABLY_PORT"]), tls=False, use_token_auth=True,
                          fallback_hosts=[], http_max_retry_count=1, http_request_timeout=30)
    versions, count = defaultdict(list), 0
    try:
        page = client.channels.get("tickets-updates").history(direction="forwards", limit=1000)
        while True:
            for message in page.items:
                versions[message.data["ticketId"]].append(message.data["version"])
                count += 1
            if not page.has_next():
                break
            page = page.next()
    finally:
        client.close()
    return all(seen == list(range(1, len(seen) + 1)) for seen in versions.values()), count


def drain_backlog(args, url: str, log_dir: Path, ably: dict) -> RelayFigures:
    reset(url)
    seed_backlog(url, args.relay_events)
    log = (log_dir / "relay.log").open("w")
    began = time.monotonic()
    relay = subprocess.Popen([str(VENV_BIN / "flask"), "realtime", "relay"], cwd=ROOT,
                             env=app_env(url, ably), stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    seconds = None
    try:
        while time.monotonic() - began < args.drain_timeout:
            if not pending_events(url):
                seconds = time.monotonic() - began
                break
            time.sleep(0.05)
    finally:
        terminate(relay)
        log.close()
    spread = query(url, "SELECT extract(epoch FROM max(published_at) - min(published_at)) "
                        "FROM events")[0][0]
    # The first round's events are marked one Ably delay after its requests were sent.
    steady = args.relay_events / (float(spread) + args.ably_delay) if spread else None
    in_order, received = history_in_order(ably)
    return RelayFigures(args.relay_events, seconds, steady,
                        in_order and received == args.relay_events)


def run_relay(args, url: str, log_dir: Path) -> RelayFigures:
    print(f"relay: backlog of {args.relay_events} events, Ably +{args.ably_delay:g} s ...",
          flush=True)
    with fake_ably(args.ably_delay, log_dir) as (_, ably):
        figures = drain_backlog(args, url, log_dir, ably)
    print(f"relay: burst of {args.burst_writes} writes, Ably +{args.ably_delay:g} s ...",
          flush=True)
    burst_args = type(args)(**{**vars(args), "requests": args.burst_writes})
    with fake_ably(args.ably_delay, log_dir) as (ably_pid, ably):
        figures.burst = write_setup(burst_args, url, log_dir, "relay burst", "relay burst", ably,
                                    ably_pid)
        in_order, received = history_in_order(ably)
        # The warm-up writes before the measured burst are in the history too.
        figures.burst_in_order = in_order and received >= figures.burst.events
    return figures


def print_relay(figures: RelayFigures) -> None:
    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    rate = figures.steady_rate
    print("\nRelay throughput against a slow Ably (each request answered after a delay)")
    if figures.seconds is None or rate is None:
        print(f"  backlog: {figures.events:,} events NOT drained within the timeout")
    else:
        print(f"  backlog: {figures.events:,} events published at {rate:,.0f} events/s from the "
              f"relay's first request to the last event marked "
              f"[target >= {TARGET_RATE:.0f}: {verdict(rate >= TARGET_RATE)}]; "
              f"{figures.seconds:.2f} s with the relay process's start-up")
    print(f"  backlog order per ticket on the Ably side: {verdict(figures.in_order)}")
    burst = figures.burst
    if burst is not None:
        drain = burst.drain_seconds
        shown = "NOT drained" if drain is None else f"{drain:.2f} s"
        print(f"  burst: {burst.load.requests:,} writes in {burst.load.seconds:.2f} s, "
              f"{burst.pending_at_end:,} events pending at its end, drained {shown} after it "
              f"[target <= {TARGET_DRAIN:.0f} s: "
              f"{verdict(drain is not None and drain <= TARGET_DRAIN)}]; order per ticket: "
              f"{verdict(figures.burst_in_order)}; failed events: {burst.failed_events}")


def relay_missed(figures: RelayFigures, *, strict: bool = True) -> bool:
    """Lost, undrained or disordered events always fail; missed speed targets only when strict
    (the --quick smoke run in CI shares a busy machine: its speed is printed, not judged)."""
    burst = figures.burst
    broken = (not figures.seconds or not figures.in_order or burst is None
              or burst.drain_seconds is None or not figures.burst_in_order)
    slow = (figures.steady_rate or 0) < TARGET_RATE or (
        burst is not None and burst.drain_seconds is not None
        and burst.drain_seconds > TARGET_DRAIN)
    return broken or (strict and slow)
