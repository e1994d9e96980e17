"""Plain-text tables for the http, memory and scale scenarios (report.py has the others)."""

from .memory import MemoryFigures
from .report import ms, table
from .scale import FLAT_ENOUGH, ScaleFigures
from .throughput import SCENARIOS, HttpFigures

# The targets: the app's share of the floor's figure for the same request, except the
# filtered page, which is held to a share of the floor's GET by id.
TARGETS = {"get": ("get", 0.75), "post": ("post", 0.60), "patch": ("patch", 0.60),
           "list": ("get", 0.30)}
REALTIME_LOSS = 0.15  # at most this much slower with realtime on (Ably answering at once)
P99_LIMIT_MS = 100  # at 32 connections
RSS_LIMIT_MB = 100


def _floors(results: list[HttpFigures]) -> dict[tuple[str, str], HttpFigures]:
    """The floor's figures by (worker model, request)."""
    return {(figures.model, figures.scenario): figures for figures in results
            if figures.server == "floor"}


def _share(figures: HttpFigures, floor: dict, realtime_off: dict) -> tuple[str, str, str]:
    """Share of the floor (same worker model) by req/s and by CPU; the verdict on the target."""
    if figures.server == "floor":
        return "100%", "100%", ""
    basis, target = TARGETS[figures.scenario]
    same = floor.get((figures.model, figures.scenario))
    share = f"{figures.rate / same.rate:.0%}" if same else "-"
    # On a shared machine req/s swings with the neighbours; CPU per request swings less.
    by_cpu = f"{same.cpu_us['server'] / figures.cpu_us['server']:.0%}" \
        if same and figures.cpu_us["server"] else "-"
    if (figures.model, basis) not in floor:
        return share, by_cpu, ""
    ratio = figures.rate / floor[(figures.model, basis)].rate
    against = "" if basis == figures.scenario else " of GET"
    verdict = f"{'ok' if ratio >= target else 'BELOW'} (>= {target:.0%}{against})"
    off = realtime_off.get((figures.model, figures.scenario))
    if figures.server != "app" and off:
        loss = 1 - figures.rate / off
        change = f"{loss:.0%} slower" if loss >= 0 else f"{-loss:.0%} faster"
        verdict += f"; {change} than off, {'ok' if loss <= REALTIME_LOSS else 'OVER'}"
    if figures.p99_ms > P99_LIMIT_MS:
        verdict += f"; p99 OVER {P99_LIMIT_MS} ms"
    return share, by_cpu, verdict


def print_http(results: list[HttpFigures], parameters: str) -> None:
    floor = _floors(results)
    realtime_off = {(f.model, f.scenario): f.rate for f in results if f.server == "app"}
    rows = []
    for figures in results:
        share, by_cpu, verdict = _share(figures, floor, realtime_off)
        rows.append([figures.server, figures.model, SCENARIOS[figures.scenario],
                     f"{figures.rate:,.0f}", share, by_cpu, ms(figures.p50_ms), ms(figures.p99_ms),
                     f"{figures.cpu_us['server']:,.0f}", f"{figures.cpu_us['postgres']:,.0f}",
                     str(figures.non_2xx),
                     str(figures.socket_errors), verdict])
    print(f"\nThroughput: {parameters}")
    print(table(["server", "workers", "request", "req/s", "of floor", "by CPU", "p50 ms", "p99 ms",
                 "server us/req", "pg us/req", "non-2xx", "sock err", "target"], rows))
    print("  of floor: req/s as a share of the floor's same request; by CPU: the floor's server "
          "CPU per request over this one's,\n  the share a core of its own would give; "
          "target: the issue's share "
          "(the filtered page against\n  the floor's GET by id) and, realtime on, the loss "
          f"against realtime off (at most {REALTIME_LOSS:.0%}), and p99 over {P99_LIMIT_MS} ms "
          "if it is; us/req: CPU microseconds per "
          "request\n  of the server's process tree and of PostgreSQL's (all of it: the "
          "checkpointer and autovacuum too); sock err: wrk's\n  connect/read/write errors and "
          "timeouts")


def print_memory(figures: MemoryFigures | None) -> None:
    if figures is None:
        print("\nMemory: skipped (no psutil)")
        return
    step = max(1, (len(figures.samples) - 1) // 8)
    shown = figures.samples[::step]
    if shown[-1] is not figures.samples[-1]:
        shown.append(figures.samples[-1])
    rows = [[f"{requests:,}", f"{max(sizes.values(), default=0):.1f}",
             f"{min(sizes.values(), default=0):.1f}", str(len(sizes))]
            for requests, sizes in shown]
    start, end = (max(s[1].values(), default=0) for s in (figures.samples[0],
                                                           figures.samples[-1]))
    print("\nMemory: worker RSS, realtime on, max_requests off, a mix of the four requests")
    print(table(["requests served", "largest worker MB", "smallest worker MB", "workers"], rows))
    print(f"  largest worker: {start:.1f} MB after warm-up, {end:.1f} MB at the end "
          f"({end - start:+.1f} MB); {'ok' if end < RSS_LIMIT_MB else 'OVER'} (< {RSS_LIMIT_MB}"
          f" MB); non-2xx {figures.non_2xx}, socket errors {figures.socket_errors}, workers "
          f"replaced {figures.replaced_workers}")


def print_scale(small: list[ScaleFigures], large: list[ScaleFigures],
                seed_seconds: list[float]) -> None:
    small_rows, large_rows = small[0].rows, large[0].rows
    rows = []
    for before, after in zip(small, large, strict=True):
        ratio = after.p50 / before.p50 if before.p50 else 0.0
        rows.append([before.case, ms(before.p50), ms(after.p50), f"{ratio:.2f}x",
                     "ok" if ratio <= FLAT_ENOUGH else "SLOWER",
                     f"{before.reads_per_request:,.0f}", f"{after.reads_per_request:,.0f}"])
    print(f"\nScale: one client, p50 of {len(small[0].samples_ms)} requests per case; seeding "
          f"took {seed_seconds[0]:.0f} s and {seed_seconds[1]:.0f} s")
    print(table(["request", f"{small_rows:,} ms", f"{large_rows:,} ms", "ratio",
                 f"<= {FLAT_ENOUGH}x", f"reads/req {small_rows:,}",
                 f"reads/req {large_rows:,}"], rows))
    print("  reads/req: ticket rows read by sequential scans plus ticket index entries read, "
          "per request (pg_stat_user_tables\n  and pg_stat_user_indexes); a request that read "
          "the whole table would show the table's size")
