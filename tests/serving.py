"""Run real gunicorn for tests: free ports, readiness waits, clean shutdown."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError("condition not met in time")


class Gunicorn:
    def __init__(self, database_url: str, workers: int = 2, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DATABASE_URL": database_url, "BIND": f"127.0.0.1:{self.port}",
                    "WEB_CONCURRENCY": str(workers), "LOG_LEVEL": "warning",
                    "PROMETHEUS_MULTIPROC_DIR": "", "RATE_LIMITS_ENABLED": "false",
                    "REDIS_URL": "", **env}
        self.env["PROMETHEUS_MULTIPROC_DIR"] = str(Path("/tmp") / f"ticketing-test-{self.port}")
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Gunicorn":
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        # A file, not a pipe: an unread pipe fills up and blocks the workers' logging.
        self.log = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen([gunicorn, "-c", "gunicorn.conf.py", "wsgi:app"],
                                        cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=self.log, text=True)
        wait_until(self._healthy)
        return self

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {self.output()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def __exit__(self, *exc_info) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
