"""Plain-text tables for the http, memory and scale scenarios (report.py has the others)."""

import statistics
from dataclasses import dataclass

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


Key = tuple[str, str, str]  # (server, worker model, request)


@dataclass
class Runs:
    """One server's runs of one request, a run per round."""

    runs: list[HttpFigures]

    def median(self, figure) -> float:
        return statistics.median(figure(run) for run in self.runs)

    @property
    def rate(self) -> float:
        return self.median(lambda run: run.rate)

    def rates(self) -> dict[int, float]:
        return {run.round: run.rate for run in self.runs}


def _grouped(results: list[HttpFigures]) -> dict[Key, Runs]:
    groups: dict[Key, Runs] = {}
    for figures in results:
        key = (figures.server, figures.model, figures.scenario)
        groups.setdefault(key, Runs([])).runs.append(figures)
    return groups


def _median_ratio(runs: Runs, against: Runs | None) -> float | None:
    """The median over rounds of runs' req/s over `against`'s in the same round: runs next to
    each other in time, so a busy spell of the machine weighs on both sides of each ratio."""
    if against is None:
        return None
    theirs = against.rates()
    ratios = [rate / theirs[round_] for round_, rate in runs.rates().items()
              if theirs.get(round_)]
    return statistics.median(ratios) if ratios else None


def _share(key: Key, runs: Runs, groups: dict[Key, Runs]) -> tuple[str, str, str]:
    """Share of the floor (same worker model) by req/s and by CPU; the verdict on the target."""
    server, model, scenario = key
    if server == "floor":
        return "100%", "100%", ""
    basis, target = TARGETS[scenario]
    same = groups.get(("floor", model, scenario))
    share = _median_ratio(runs, same)
    # On a shared machine req/s swings with the neighbours; CPU per request swings less.
    cpu = runs.median(lambda run: run.cpu_us["server"])
    by_cpu = f"{same.median(lambda run: run.cpu_us['server']) / cpu:.0%}" if same and cpu else "-"
    shown = "-" if share is None else f"{share:.0%}"
    ratio = _median_ratio(runs, groups.get(("floor", model, basis)))
    if ratio is None:
        return shown, by_cpu, ""
    against = "" if basis == scenario else " of GET"
    verdict = f"{'ok' if ratio >= target else 'BELOW'} (>= {target:.0%}{against})"
    if server != "app":
        speed = _median_ratio(runs, groups.get(("app", model, scenario)))
        if speed is not None:
            loss = 1 - speed
            change = f"{loss:.0%} slower" if loss >= 0 else f"{-loss:.0%} faster"
            verdict += f"; {change} than off, {'ok' if loss <= REALTIME_LOSS else 'OVER'}"
    if runs.median(lambda run: run.p99_ms) > P99_LIMIT_MS:
        verdict += f"; p99 OVER {P99_LIMIT_MS} ms"
    return shown, by_cpu, verdict


def print_http(results: list[HttpFigures], parameters: str) -> None:
    groups = _grouped(results)
    rows = []
    for key, runs in groups.items():
        server, model, scenario = key
        share, by_cpu, verdict = _share(key, runs, groups)
        rows.append([server, model, SCENARIOS[scenario], f"{runs.rate:,.0f}", share, by_cpu,
                     ms(runs.median(lambda run: run.p50_ms)),
                     ms(runs.median(lambda run: run.p99_ms)),
                     f"{runs.median(lambda run: run.cpu_us['server']):,.0f}",
                     f"{runs.median(lambda run: run.cpu_us['postgres']):,.0f}",
                     str(sum(run.non_2xx for run in runs.runs)),
                     str(sum(run.socket_errors for run in runs.runs)), verdict])
    print(f"\nThroughput: {parameters}")
    print(table(["server", "workers", "request", "req/s", "of floor", "by CPU", "p50 ms", "p99 ms",
                 "server us/req", "pg us/req", "non-2xx", "sock err", "target"], rows))
    print("  req/s, p50, p99, us/req: medians over the rounds; non-2xx, sock err: sums; of floor: "
          "the median of each round's req/s\n  over the floor's same request in that round; "
          "by CPU: the floor's server CPU per request over this one's,\n  the share a core of "
          "its own would give; target: the issue's share (the filtered page against\n  the "
          "floor's GET by id) and, realtime on, the loss against realtime off (at most "
          f"{REALTIME_LOSS:.0%}), and p99 over {P99_LIMIT_MS} ms\n  if it is; us/req: CPU "
          "microseconds per request of the server's process tree and of PostgreSQL's (all of "
          "it: the\n  checkpointer and autovacuum too); sock err: wrk's connect/read/write "
          "errors and timeouts")


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
    print("  reads/req: rows read by sequential scans plus index entries read, of the tickets "
          "and of their search terms,\n  per request (pg_stat_user_tables and "
          "pg_stat_user_indexes); a request that read the whole table would show the\n  "
          "table's size")
