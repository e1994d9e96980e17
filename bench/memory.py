"""Scenario memory: each worker's resident memory over many requests, realtime on.

gunicorn's max_requests recycling is switched off (GUNICORN_MAX_REQUESTS=0) so that a leak
cannot hide behind it; wrk sends a mix (7 GET by id, 1 list, 1 POST, 1 PATCH in 10) in
chunks, and every worker's RSS is read between chunks.
"""

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from .infra import fake_ably, gunicorn
from .measure import psutil
from .throughput import (
    Load,
    pin_tree,
    postgres_pinned,
    restore,
    run_wrk,
    split_cores,
    worker_env,
)


@dataclass
class MemoryFigures:
    samples: list[tuple[int, dict[int, float]]] = field(default_factory=list)  # requests, MB
    non_2xx: int = 0
    socket_errors: int = 0
    replaced_workers: int = 0


def worker_rss(master_pid: int) -> dict[int, float]:
    """Resident memory of each of gunicorn's workers, in MB, by pid."""
    sizes = {}
    with contextlib.suppress(psutil.Error):
        for worker in psutil.Process(master_pid).children():
            with contextlib.suppress(psutil.Error):
                sizes[worker.pid] = worker.memory_info().rss / 2**20
    return sizes


def run_memory(args, url: str, log_dir: Path, load: Load) -> MemoryFigures | None:
    if psutil is None:
        return None
    server_core, other_cores = split_cores()
    figures, served = MemoryFigures(), 0
    restore(url)
    with postgres_pinned(url, other_cores), fake_ably(0.0, log_dir) as (ably_pid, ably):
        pin_tree(ably_pid, other_cores)
        extra = {**worker_env(args.http_threads), **ably, "GUNICORN_MAX_REQUESTS": "0"}
        with gunicorn(url, args.http_workers, log_dir, "memory", extra,
                      cores=server_core) as server:
            run_wrk(load, server.port, "mix", args.warmup_seconds)
            figures.samples.append((0, worker_rss(server.pid)))
            print(f"memory: {args.rss_requests:,} requests ...", flush=True)
            while served < args.rss_requests:
                result = run_wrk(load, server.port, "mix", args.rss_chunk_seconds)
                served += result["requests"]
                figures.non_2xx += result["status_errors"]
                figures.socket_errors += sum(result[key] for key in (
                    "connect_errors", "read_errors", "write_errors", "timeouts"))
                figures.samples.append((served, worker_rss(server.pid)))
                server.check_alive()
    first, last = set(figures.samples[0][1]), set(figures.samples[-1][1])
    figures.replaced_workers = len(last - first)
    return figures
