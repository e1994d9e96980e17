"""Scenario http: the four hot requests under wrk, the app against the floor (bench/floor.py).

The server runs on one core (taskset), PostgreSQL, wrk and the Ably stand-in on the others, so
the server's core is the limit being measured. Per server and request: a warm-up run, then a
measured one; req/s, latency, non-2xx answers, and CPU per request of the server and of
PostgreSQL taken from /proc over the measured run.

All servers run side by side and take turns, request by request and round by round (floor,
app, app + realtime, then again): a busy spell of a shared machine then falls on every server's
run of one round rather than on one server's runs, and the report takes each figure's median
over the rounds (tables.py), shares from runs next to each other.
"""

import contextlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .infra import AUTH_HEADERS, ROOT, fake_ably, gunicorn, query, vacuum
from .measure import CpuMeter, postmaster_pid, psutil
from .reads import seed

SCENARIOS = {"get": "GET /api/tickets/<id>",
             "list": "GET /api/tickets?status=open&priority=high",
             "post": "POST /api/tickets",
             "patch": "PATCH /api/tickets/<id> (status)"}
WRK_SCRIPT = ROOT / "bench" / "wrk.lua"


@dataclass
class HttpFigures:
    server: str
    model: str  # "3 sync", "2x4 gthread"
    scenario: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    cpu_us: dict  # "server", "postgres": CPU microseconds per request
    round: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# ---- cores -----------------------------------------------------------------------------------

def split_cores() -> tuple[str | None, list[int]]:
    """The server's core ("0") and the others'; (None, all) on a single-core machine."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, available
    return str(available[0]), available[1:]


def pin_tree(pid: int | None, cores: list[int]) -> None:
    """Set the CPU affinity of a process and its children (new children inherit it)."""
    if psutil is None or pid is None:
        return
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                process.cpu_affinity(cores)


@contextlib.contextmanager
def postgres_pinned(url: str, cores: list[int]):
    """Keep PostgreSQL off the server's core for the run; give it every core back after."""
    postmaster = postmaster_pid(url)
    pin_tree(postmaster, cores)
    try:
        yield postmaster
    finally:
        pin_tree(postmaster, sorted(os.sched_getaffinity(0)))


# ---- wrk -------------------------------------------------------------------------------------

def ensure_wrk() -> str:
    """wrk from Debian, installed with apt-get when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    print("http: installing wrk (apt-get) ...", flush=True)
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "wrk"]):
        subprocess.run([*sudo, *command], check=True, capture_output=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("wrk") or "/usr/bin/wrk"


@dataclass
class Load:
    wrk: str
    cores: list[int]
    connections: int
    threads: int
    ids_file: Path


def run_wrk(load: Load, port: int, scenario: str, seconds: float) -> dict:
    """One wrk run; the figures its script's done() printed."""
    env = {**os.environ, "BENCH_SCENARIO": scenario, "BENCH_IDS": str(load.ids_file),
           "BENCH_THREADS": str(load.threads),
           "BENCH_AUTHORIZATION": AUTH_HEADERS.get("Authorization", "")}
    pin = ["taskset", "-c", ",".join(map(str, load.cores))] if load.cores else []
    command = [*pin, load.wrk, "-t", str(load.threads), "-c", str(load.connections),
               "-d", f"{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(WRK_SCRIPT),
               f"http://127.0.0.1:{port}"]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    line = next((line for line in output.splitlines() if line.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures:\n{output}")
    return json.loads(line.removeprefix("BENCH "))


def measure(load: Load, server, postmaster: int | None, setup: "ServerSetup", scenario: str,
            warmup: float, seconds: float, round_: int = 0) -> HttpFigures:
    run_wrk(load, server.port, scenario, warmup)
    meter = CpuMeter({"server": (server.pid, True), "postgres": (postmaster, True)}) \
        if psutil else None
    result = run_wrk(load, server.port, scenario, seconds)
    used = meter.seconds() if meter else {}
    server.check_alive()
    requests = max(1, result["requests"])
    return HttpFigures(
        setup.name, setup.model, scenario, result["requests"], result["duration_us"] / 1e6,
        result["p50_us"] / 1000, result["p99_us"] / 1000, result["max_us"] / 1000,
        result["status_errors"],
        sum(result[key] for key in ("connect_errors", "read_errors", "write_errors", "timeouts")),
        {key: used.get(key, 0.0) * 1e6 / requests for key in ("server", "postgres")}, round_)


# ---- data ------------------------------------------------------------------------------------

def prepare(url: str, rows: int, path: Path) -> None:
    """Seed `rows` tickets in SQL; write their ids to `path` for wrk."""
    seed(url, rows)
    ids = [row[0] for row in query(url, "SELECT id FROM tickets ORDER BY id")]
    path.write_text("\n".join(map(str, ids)) + "\n")


def restore(url: str) -> None:
    """Undo the previous server's writes, so that every server sees the same table."""
    query(url, "DELETE FROM tickets WHERE title LIKE 'Bench ticket %'")
    query(url, "TRUNCATE events")
    query(url, "UPDATE tickets SET status = 'open', version = 1 WHERE status <> 'open'")
    vacuum(url)


# ---- the run ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServerSetup:
    name: str
    app: str  # the WSGI app gunicorn serves
    scenarios: tuple[str, ...]
    ably_delay: float | None = None  # None: realtime off
    workers: int = 3
    threads: int = 1  # more than one: gthread workers, with keep-alive

    @property
    def model(self) -> str:
        if self.threads == 1:
            return f"{self.workers} sync"
        return f"{self.workers}x{self.threads} gthread"


def server_setups(args) -> list[ServerSetup]:
    main = {"workers": args.http_workers, "threads": args.http_threads}
    setups = [ServerSetup("floor", "bench.floor:app", tuple(SCENARIOS), **main),
              ServerSetup("app", "wsgi:app", tuple(SCENARIOS), **main),
              ServerSetup("app + realtime", "wsgi:app", ("post", "patch"), 0.0, **main)]
    if args.compare_workers:
        # The other worker model, for the choice the README explains.
        other = {"workers": 1, "threads": 4} if args.http_threads == 1 else \
            {"workers": 3, "threads": 1}
        setups += [ServerSetup("floor", "bench.floor:app", ("get", "post"), **other),
                   ServerSetup("app", "wsgi:app", ("get", "post"), **other)]
    return setups


def worker_env(threads: int) -> dict:
    # A thread per request needs a connection per thread, plus the relay's. Request logs on,
    # as in production: one JSON line per request into the server's log file.
    return {"GUNICORN_THREADS": str(threads), "DB_POOL_SIZE": str(threads + 1),
            "LOG_LEVEL": "info"}


def http_load(args, url: str, log_dir: Path) -> Load:
    """wrk, its cores, and the seeded table whose ids it requests."""
    _, other_cores = split_cores()
    load = Load(ensure_wrk(), other_cores, args.connections, 2, log_dir / "ticket-ids.txt")
    print(f"http: seeding {args.http_rows:,} tickets ...", flush=True)
    prepare(url, args.http_rows, load.ids_file)
    return load


def run_http(args, url: str, log_dir: Path, load: Load) -> list[HttpFigures]:
    """Every set-up's servers at once; each request's runs in turns, round after round."""
    server_core, other_cores = split_cores()
    setups = server_setups(args)
    results = []
    with postgres_pinned(url, other_cores) as postmaster, contextlib.ExitStack() as stack:
        servers = [start_server(stack, setup, url, log_dir, server_core, other_cores)
                   for setup in setups]
        for scenario in SCENARIOS:  # reads first: they leave the table as it was
            for round_ in range(args.http_rounds):
                for setup, server in zip(setups, servers, strict=True):
                    if scenario not in setup.scenarios:
                        continue
                    print(f"http: round {round_ + 1}/{args.http_rounds}, {setup.name} "
                          f"({setup.model}), {SCENARIOS[scenario]} ...", flush=True)
                    if scenario in ("post", "patch"):
                        restore(url)  # every server writes to the same table
                    results.append(measure(load, server, postmaster, setup, scenario,
                                           args.warmup_seconds, args.seconds, round_))
    return results


def start_server(stack: contextlib.ExitStack, setup: ServerSetup, url: str, log_dir: Path,
                 server_core: str | None, other_cores: list[int]):
    """gunicorn for `setup` on the server's core (and its Ably stand-in on the others)."""
    ably = {}
    if setup.ably_delay is not None:
        ably_pid, ably = stack.enter_context(fake_ably(setup.ably_delay, log_dir))
        pin_tree(ably_pid, other_cores)
    label = f"http-{setup.name}-{setup.model}".replace(" ", "")
    return stack.enter_context(gunicorn(
        url, setup.workers, log_dir, label, {**worker_env(setup.threads), **ably},
        app=setup.app, cores=server_core))
