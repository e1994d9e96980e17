"""The processes and the database a benchmark runs against, all on 127.0.0.1.

Every process is started in its own session and terminated by its pid; the scratch database is
dropped on the way out, whatever happened.
"""

import contextlib
import http.client
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from ticketing import devdb

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


# ---- HTTP ------------------------------------------------------------------------------------

# Sent with every request of the benchmark (wrk's included): see bench/credentials.py.
AUTH_HEADERS: dict[str, str] = {}


def request(connection: http.client.HTTPConnection, method: str, path: str,
            body: dict | None = None) -> tuple[int, bytes]:
    """One request; gunicorn's sync workers close every connection, http.client reopens it."""
    payload = json.dumps(body).encode() if body is not None else None
    headers = {**AUTH_HEADERS, **({"Content-Type": "application/json"} if payload else {})}
    connection.request(method, path, body=payload, headers=headers)
    response = connection.getresponse()
    data = response.read()
    if response.will_close:
        connection.close()
    return response.status, data


# ---- processes -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def terminate(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM a process we started, then SIGKILL its own process group if it lingers."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        # start_new_session=True made the child a group leader: the group is only its tree.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def app_env(database_url: str, extra: dict) -> dict:
    """The environment of the app's processes: no ABLY_*, database or relay setting of ours;
    `extra` last, so a scenario may override any of the defaults (LOG_LEVEL, say)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ABLY_", "DATABASE_", "MIGRATIONS_DATABASE_", "REALTIME_",
                                  "PROMETHEUS_", "READY_", "RATE_LIMIT", "REDIS_"))}
    # Limits far above what a run sends: the limiter's cost is measured, its 429s are not.
    env.update(FLASK_APP="ticketing:create_app", DATABASE_URL=database_url, LOG_LEVEL="warning",
               PYTHONUNBUFFERED="1", RATE_LIMIT_DEFAULT="10000000 per minute",
               RATE_LIMIT_ANONYMOUS="10000000 per minute",
               # The load clients send no credential; an agent may write tickets.
               AUTH_ANONYMOUS_ROLE="agent")
    env.update(extra)
    return env


@contextlib.contextmanager
def fake_ably(delay: float, log_dir: Path):
    """Run tests/fakeably.py; yield its pid and the env that points the app's Ably SDK at it."""
    stderr = (log_dir / f"fakeably-{delay}.log").open("w")
    # Keep-alive, as Ably's servers: the SDK's client then reuses its connections.
    command = [sys.executable, "-m", "tests.fakeably", "--port", "0", "--keep-alive"]
    if delay:
        command += ["--delay", str(delay)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr,
                               text=True, start_new_session=True)
    try:
        info = {}
        while "FAKEABLY_KEY" not in info:  # it prints its port and key first
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"fakeably exited early:\n{tail(Path(stderr.name))}")
            key, _, value = line.strip().partition("=")
            info[key] = value
        yield process.pid, {"ABLY_API_KEY": info["FAKEABLY_KEY"], "ABLY_ENDPOINT": "127.0.0.1",
                            "ABLY_PORT": info["FAKEABLY_PORT"], "ABLY_TLS": "false"}
    finally:
        terminate(process)
        stderr.close()


@dataclass
class Server:
    port: int
    log: Path
    process: subprocess.Popen

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        """Fail loudly rather than wait for a backlog that a dead server will never drain."""
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.process.returncode} during the run:"
                               f"\n{tail(self.log)}")

    def log_lines(self) -> int:
        """Lines logged at warning or above (LOG_LEVEL=warning silences the rest)."""
        return len(self.log.read_text(errors="replace").splitlines())


@contextlib.contextmanager
def gunicorn(database_url: str, workers: int, log_dir: Path, name: str, extra: dict,
             app: str = "wsgi:app", cores: str | None = None):
    """Serve `app` with gunicorn.conf.py on a free port; yield a Server once it answers.

    `cores` ("0", say) pins gunicorn and its workers to those CPUs with taskset.
    """
    port = free_port()
    log = log_dir / f"gunicorn-{name}.log"
    # gunicorn.conf.py derives its Prometheus folder from PORT and empties it at start: give each
    # server its own, so that no other server on this machine (make run on :8000) is disturbed.
    env = app_env(database_url, {"BIND": f"127.0.0.1:{port}", "PORT": str(port),
                                 "PROMETHEUS_MULTIPROC_DIR": str(log_dir / f"metrics-{port}"),
                                 "WEB_CONCURRENCY": str(workers), **extra})
    with log.open("w") as output:
        process = subprocess.Popen(
            [*(["taskset", "-c", cores] if cores else []),
             str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", app], cwd=ROOT,
            env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(port, process, log)
        yield Server(port, log, process)
    finally:
        terminate(process, timeout=35)  # gunicorn's graceful_timeout is 30 s


def wait_ready(port: int, process: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            if request(connection, "GET", "/api/tickets?per_page=1")[0] == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn not ready after {timeout} s:\n{tail(log)}")


# ---- database --------------------------------------------------------------------------------

@contextlib.contextmanager
def scratch_database(server: str | None):
    """Create and migrate a uniquely named database on `server` (else the embedded one); yield
    its URL and drop it however we leave. The database named in `server` is not touched."""
    # A plain libpq URL: this script also connects with psycopg2 directly.
    url = devdb.create_scratch_database("ticketing_bench", server).replace(
        "postgresql+psycopg2://", "postgresql://", 1)
    try:
        subprocess.run([str(VENV_BIN / "flask"), "db", "upgrade"], cwd=ROOT, check=True,
                       env=app_env(url, {}), capture_output=True)
        yield url
    finally:
        devdb.drop_scratch_database(url, server)


# Transactions this script ran itself (one per query() call), to subtract from the server's count.
OWN_TRANSACTIONS = itertools.count()


def query(url: str, statement: str, params: tuple = ()) -> list[tuple]:
    """Run one statement in its own connection and transaction; return its rows."""
    next(OWN_TRANSACTIONS)
    with contextlib.closing(psycopg2.connect(url)) as connection, connection.cursor() as cursor:
        cursor.execute(statement, params or None)
        rows = cursor.fetchall() if cursor.description else []
        connection.commit()
        return rows


def vacuum(url: str, tables: str = "tickets, ticket_search_terms") -> None:
    """VACUUM ANALYZE (outside a transaction): fresh statistics and visibility map."""
    next(OWN_TRANSACTIONS)
    with contextlib.closing(psycopg2.connect(url)) as connection:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {tables}")


def wait_until_gone(url: str, pids: list[int], timeout: float = 10.0) -> None:
    """Wait until none of these server processes is left (their statistics are then sent)."""
    deadline = time.monotonic() + timeout
    while pids and query(url, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)",
                         (pids,))[0][0]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"PostgreSQL processes {pids} did not end")
        time.sleep(0.02)


def reset(url: str) -> None:
    query(url, "TRUNCATE events, tickets, agents RESTART IDENTITY CASCADE")  # comments too


PENDING_SQL = "SELECT count(*) FROM events WHERE published_at IS NULL AND failed_at IS NULL"


def pending_events(url: str) -> int:
    return query(url, PENDING_SQL)[0][0]


def realtime_status(url: str, ably: dict) -> dict:
    """`flask realtime status`: the app's own view of the outbox backlog."""
    output = subprocess.run([str(VENV_BIN / "flask"), "realtime", "status"], cwd=ROOT,
                            env=app_env(url, ably), capture_output=True, text=True, check=True)
    return json.loads(output.stdout[output.stdout.index("{"):])
